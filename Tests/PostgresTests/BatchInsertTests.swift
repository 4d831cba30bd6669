import Foundation
import Postgres
import Testing

@Suite struct BatchInsertTests {
    @Test func onConflictDoNothingMakesReinsertingANoOp() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable(
                "id uuid PRIMARY KEY, tenant text NOT NULL, cost numeric(20, 8) NOT NULL, note text", in: pool
            ) { table in
                var batch = PostgresBatchInsert(
                    table: table, columns: ["id", "tenant", "cost", "note"], onConflict: .doNothing)
                for index in 0..<500 {
                    let note: String? = index.isMultiple(of: 3) ? nil : "note \(index) it's"
                    try batch.append([UUID(), "tenant-\(index % 7)", PostgresNumeric("0.0000\(index)")!, note])
                }
                #expect(try await pool.insert(batch) == 500)
                #expect(try await pool.insert(batch) == 0)
                #expect(try await TestDatabase.count(table, in: pool) == 500)
                let nulls = try await pool.query("SELECT count(*) FROM \(identifier: table) WHERE note IS NULL")
                #expect(try nulls.first?.decode(Int64.self) == 167)
            }
        }
    }

    @Test func batchesBeyondTheParameterLimitAreSplitAndAtomic() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY, a int8, b text", in: pool) { table in
                var batch = PostgresBatchInsert(table: table, columns: ["id", "a", "b"], onConflict: .doNothingOn(columns: ["id"]))
                for id in 0..<25_000 {
                    try batch.append([Int32(id), id * 2, "row \(id)"])
                }
                #expect(batch.rowCount > batch.rowsPerStatement)
                #expect(try await pool.insert(batch) == 25_000)
                #expect(try await pool.insert(batch) == 0)
                let sum = try await pool.query("SELECT sum(a) FROM \(identifier: table)").first!.decode(Int64.self)
                #expect(sum == (0..<25_000).reduce(0) { $0 + Int64($1) * 2 })

                // A failure in the second statement rolls back the first one too.
                var failing = PostgresBatchInsert(table: table, columns: ["id", "a", "b"])
                for id in 30_000..<55_000 {
                    try failing.append([Int32(id), 0, "x"])
                }
                try failing.append([Int32(1), 0, "duplicate key"])
                let error = await #expect(throws: PostgresError.self) { try await pool.insert(failing) }
                #expect(error?.sqlState == "23505")
                #expect(try await TestDatabase.count(table, in: pool) == 25_000)
            }
        }
    }

    @Test func nulInBatchValueIsRefusedNamingRowAndColumn() async throws {
        var batch = PostgresBatchInsert(table: "t", columns: ["id", "body"])
        try batch.append([1, "fine"])
        try batch.append([2, "bad\u{0}"])
        try await TestDatabase.withPool(size: 1) { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.insert(batch) }
            #expect(error?.code == .invalidParameter)
            #expect(error?.description.contains("row 2, column body") == true)
        }
    }
}
