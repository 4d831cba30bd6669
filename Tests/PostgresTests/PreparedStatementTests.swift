import Postgres
import Testing

/// Parameterized statements run more than once are prepared per connection (parsed and planned once).
@Suite struct PreparedStatementTests {
    @Test func aRepeatedStatementIsPreparedOnceAndKeepsAnsweringCorrectly() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            try await pool.withConnection { connection in
                for n in 0..<6 {
                    let row = try await connection.query("SELECT \(n)::int8 * 2, \(String?.none)::text IS NULL").first!
                    let (doubled, null) = try row.decode((Int, Bool).self)
                    #expect(doubled == n * 2)
                    #expect(null)
                }
                let prepared = try await connection.query("""
                    SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int8 * 2%'
                    """).first!.decode(Int.self, at: 0)
                #expect(prepared == 1)
            }
        }
    }

    @Test func aStatementTheServerForgotStillRuns() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            try await pool.withConnection { connection in
                for n in 0..<3 { _ = try await connection.query("SELECT \(n)::int8 + 1") }
                // What a transaction-mode pooler does between our statements.
                try await connection.execute("DEALLOCATE ALL")
                for n in 0..<3 {
                    let sum = try await connection.query("SELECT \(n)::int8 + 1").first!.decode(Int.self, at: 0)
                    #expect(sum == n + 1)
                }
            }
        }
    }

    @Test func aFailingStatementFailsEveryTimeWithItsOwnError() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            for _ in 0..<3 {
                await #expect(throws: PostgresError.self) {
                    _ = try await pool.query("SELECT * FROM no_such_table_for_prepared_tests WHERE id = \(1)")
                }
            }
            let answer = try await pool.query("SELECT \(41)::int8 + 1").first!.decode(Int.self, at: 0)
            #expect(answer == 42)
        }
    }
}
