import Postgres
import Testing

@Suite struct TransactionTests {
    @Test func throwingBodyLeavesNoRowsAndCommittedBodyDoes() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY", in: pool) { table in
                await #expect(throws: ExpectedFailure.self) {
                    try await pool.transaction { tx in
                        try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(1)), (\(2))")
                        throw ExpectedFailure()
                    }
                }
                #expect(try await TestDatabase.count(table, in: pool) == 0)

                let returned = try await pool.transaction(isolationLevel: .serializable) { tx in
                    try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(1)), (\(2))")
                }
                #expect(returned == 2)
                #expect(try await TestDatabase.count(table, in: pool) == 2)
            }
        }
    }

    @Test func failedStatementCaughtInsideBodyStillRollsBack() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY", in: pool) { table in
                let error = await #expect(throws: PostgresError.self) {
                    try await pool.transaction { tx in
                        try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                        _ = try? await tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                    }
                }
                #expect(error?.code == .transactionRolledBack)
                let count = try await TestDatabase.count(table, in: pool)
                #expect(count == 0)
            }
        }
    }

    @Test func cancellationRollsBack() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY", in: pool) { table in
                let task = Task {
                    try await pool.transaction { tx in
                        try await tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                        withUnsafeCurrentTask { $0?.cancel() }
                    }
                }
                await #expect(throws: CancellationError.self) { try await task.value }
                let count = try await TestDatabase.count(table, in: pool)
                #expect(count == 0)
            }
        }
    }

    @Test func transactionsSeeTheirOwnWritesAndIsolationLevel() async throws {
        try await TestDatabase.withPool { pool in
            let level = try await pool.transaction(isolationLevel: .repeatableRead) { tx in
                try await tx.query("SHOW transaction_isolation").first!.decode(String.self)
            }
            #expect(level == "repeatable read")
        }
    }
}
