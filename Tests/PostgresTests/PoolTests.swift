import Foundation
import Postgres
import Testing

/// The pool against the real PostgreSQL: concurrency, reconnects, errors, lifecycle.
@Suite struct PoolTests {
    @Test func twoHundredConcurrentQueriesShareFourConnections() async throws {
        try await TestDatabase.withPool(size: 4) { pool in
            let results = try await withThrowingTaskGroup(of: (Int, Int64, Int32).self) { group in
                for value in 0..<200 {
                    group.addTask {
                        let row = try #require(try await pool.query("SELECT \(value) * 2, pg_backend_pid()").first)
                        let (doubled, pid) = try row.decode((Int64, Int32).self)
                        return (value, doubled, pid)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 200)
            for (value, doubled, _) in results {
                #expect(doubled == Int64(value) * 2)
            }
            let pids = Set(results.map(\.2))
            #expect(pids.count >= 1 && pids.count <= 4)
        }
    }

    @Test func waitersGetConnectionsWhenLeasesEnd() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            // One lease holds the only connection while ten more queries queue behind it.
            let (started, startedSignal) = AsyncStream<Void>.makeStream()
            let (release, releaseSignal) = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: Int64.self) { group in
                group.addTask {
                    try await pool.withConnection { connection in
                        startedSignal.yield()
                        for await _ in release { break }
                        return try await connection.query("SELECT 100::int8").first!.decode(Int64.self)
                    }
                }
                for await _ in started { break }
                for value in 0..<10 {
                    group.addTask { try await pool.query("SELECT \(value)").first!.decode(Int64.self) }
                }
                releaseSignal.yield()
                let values = try await group.reduce(into: []) { $0.append($1) }
                #expect(values.sorted() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100])
            }
        }
    }

    @Test func cancelledWaiterGivesUpWithoutTakingTheConnection() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            let (started, startedSignal) = AsyncStream<Void>.makeStream()
            let (release, releaseSignal) = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await pool.withConnection { _ in
                        startedSignal.yield()
                        for await _ in release { break }
                    }
                }
                for await _ in started { break }
                let waiter = Task { try await pool.query("SELECT 1") }
                waiter.cancel()
                await #expect(throws: CancellationError.self) { try await waiter.value }
                releaseSignal.yield()
                try await group.waitForAll()
            }
            #expect(try await pool.query("SELECT 7").first!.decode(Int64.self) == 7)
        }
    }

    @Test func terminatedIdleConnectionIsReconnectedOnNextUse() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            try await TestDatabase.withPool(size: 1) { admin in
                let before = try await pool.query("SELECT pg_backend_pid()").first!.decode(Int32.self)
                // Waits (up to 5 s) until the backend is gone: the server has closed the socket.
                let terminated = try await admin.query("SELECT pg_terminate_backend(\(before), 5000)")
                    .first!.decode(Bool.self)
                #expect(terminated)
                let after = try await pool.query("SELECT pg_backend_pid()").first!.decode(Int32.self)
                #expect(after != before)
            }
        }
    }

    @Test func connectionLostInsideLeaseFailsRetriablyThenRecovers() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            try await TestDatabase.withPool(size: 1) { admin in
                let before = try await pool.withConnection { connection in
                    let pid = try await connection.query("SELECT pg_backend_pid()").first!.decode(Int32.self)
                    _ = try await admin.query("SELECT pg_terminate_backend(\(pid), 5000)")
                    do {
                        try await connection.execute("SELECT 1")
                        Issue.record("a statement on a terminated backend succeeded")
                    } catch let error as PostgresError {
                        #expect(error.isRetriable)
                        #expect(error.code == .connectionLost)
                        #expect(!error.description.contains("\n"))
                    }
                    // Later statements of the same lease fail too rather than reconnect mid-lease.
                    await #expect(throws: PostgresError.self) { try await connection.execute("SELECT 1") }
                    return pid
                }
                let after = try await pool.query("SELECT pg_backend_pid()").first!.decode(Int32.self)
                #expect(after != before)
            }
        }
    }

    @Test func unreachableServerGivesOneLineNamingTheSettingWithoutPassword() async throws {
        let pool = PostgresPool(
            configuration: PostgresConfiguration(
                url: "postgresql://chorus:hunter2secret@127.0.0.1:5999/chorus", settingName: "CHORUS_DATABASE_URL",
                poolSize: 1))
        do {
            try await pool.execute("SELECT 1")
            Issue.record("connected to a port where nothing listens")
        } catch let error as PostgresError {
            let text = error.description
            #expect(error.code == .connectionFailed)
            #expect(error.isRetriable)
            #expect(text.hasPrefix("CHORUS_DATABASE_URL=postgresql://chorus:***@127.0.0.1:5999/chorus: "))
            #expect(text.lowercased().contains("refused"))
            #expect(!text.contains("hunter2secret"))
            #expect(!text.contains("\n"))
        }
        await pool.close()
    }

    @Test func malformedURLGivesClearErrorWithoutPassword() async throws {
        try await TestDatabase.withPool(url: "postgresql://chorus:hunter2secret@127.0.0.1:notaport/chorus") { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.execute("SELECT 1") }
            let text = error?.description ?? ""
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.isRetriable == false)
            #expect(text.hasPrefix("CHORUS_TEST_DATABASE_URL=postgresql://chorus:***@127.0.0.1:notaport/chorus: "))
            #expect(text.contains("port \"notaport\""))
            #expect(!text.contains("hunter2secret"))
            #expect(!text.contains("\n"))
        }
    }

    @Test func runFailsFastOnBadURLAndServesUntilCancelledOnGoodOne() async throws {
        let bad = PostgresPool(
            configuration: PostgresConfiguration(url: "postgresql://chorus@127.0.0.1:5999/chorus", poolSize: 2))
        await #expect(throws: PostgresError.self) { try await bad.run() }
        await #expect(throws: PostgresError.self) { try await bad.execute("SELECT 1") }

        let pool = PostgresPool(configuration: PostgresConfiguration(url: TestDatabase.url, poolSize: 2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            #expect(try await pool.query("SELECT 5").first!.decode(Int.self) == 5)
            group.cancelAll()
            try await group.waitForAll()
        }
        let error = await #expect(throws: PostgresError.self) { try await pool.execute("SELECT 1") }
        #expect(error?.code == .poolClosed)
    }

    @Test func connectionUsedAfterItsLeaseIsRefused() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            let escaped = try await pool.withConnection { $0 }
            let error = await #expect(throws: PostgresError.self) { try await escaped.execute("SELECT 1") }
            #expect(error?.code == .leaseEnded)
        }
    }

    @Test func abandonedTransactionIsRolledBackWhenLeaseEnds() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY", in: pool) { table in
                try await pool.withConnection { connection in
                    try await connection.execute("BEGIN")
                    try await connection.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                }
                // Same single connection: had the transaction survived, this would see the row.
                #expect(try await TestDatabase.count(table, in: pool) == 0)
                let status = try await pool.query("SELECT now() = statement_timestamp()").first!.decode(Bool.self)
                #expect(status, "the next lease runs outside any transaction")
            }
        }
    }

    @Test func serverErrorsCarrySQLStateAndNoValues() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY, note text", in: pool) { table in
                try await pool.execute("INSERT INTO \(identifier: table) VALUES (\(1), \("first-secret-note"))")
                let duplicate = await #expect(throws: PostgresError.self) {
                    try await pool.execute("INSERT INTO \(identifier: table) VALUES (\(1), \("second-secret-note"))")
                }
                #expect(duplicate?.sqlState == "23505")
                #expect(duplicate?.code == .queryFailed)
                #expect(duplicate?.isRetriable == false)
                #expect(duplicate?.constraintName == "\(table)_pkey")
                #expect(duplicate?.description.contains("(SQLSTATE 23505)") == true)
                #expect(duplicate?.description.contains("secret-note") == false)
                #expect(duplicate?.description.contains("(id)=(1)") == false)

                let badInput = await #expect(throws: PostgresError.self) {
                    try await pool.execute("SELECT \("not-a-number-secret")::int")
                }
                #expect(badInput?.sqlState == "22P02")
                #expect(badInput?.description.contains("not-a-number-secret") == false)
            }
        }
    }

    @Test func multiStatementSQLWithoutParametersRunsAsOneScript() async throws {
        try await TestDatabase.withPool { pool in
            let table = TestDatabase.uniqueName("t")
            let rows = try await pool.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TABLE \(table) (id int);
                        INSERT INTO \(table) VALUES (1), (2);
                        SELECT count(*) FROM \(table);
                        """))
            #expect(try rows.first?.decode(Int64.self) == 2)
            try await pool.execute("DROP TABLE \(identifier: table)")
            // With parameters, a second statement is refused by the server.
            let error = await #expect(throws: PostgresError.self) { try await pool.execute("SELECT \(1); SELECT 2") }
            #expect(error?.sqlState == "42601")
        }
    }

    @Test func copyIsRefusedAndConnectionStaysUsable() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            let error = await #expect(throws: PostgresError.self) {
                try await pool.execute("COPY (SELECT 1) TO STDOUT")
            }
            #expect(error?.code == .unsupportedStatement)
            let three = try await pool.query("SELECT 3").first!.decode(Int.self)
            #expect(three == 3)
        }
    }

    @Test func cancellingATaskCancelsItsRunningStatement() async throws {
        let application = TestDatabase.uniqueName("cancel")
        let pool = PostgresPool(
            configuration: PostgresConfiguration(url: TestDatabase.url, poolSize: 1, applicationName: application))
        try await TestDatabase.withPool(size: 1) { admin in
            let key = Int64.random(in: 1...Int64.max)
            try await admin.withConnection { holder in
                try await holder.execute("SELECT pg_advisory_lock(\(key))")
                let waiter = Task { try await pool.execute("SELECT pg_advisory_lock(\(key))") }
                // Wait until the waiter's statement is blocked on the lock the holder has.
                while try await holder.query(
                    """
                    SELECT 1 FROM pg_stat_activity
                    WHERE application_name = \(application) AND wait_event_type = 'Lock'
                    """
                ).isEmpty {
                    try await Task.sleep(for: .milliseconds(10))
                }
                waiter.cancel()
                await #expect(throws: CancellationError.self) { try await waiter.value }
                try await holder.execute("SELECT pg_advisory_unlock(\(key))")
            }
            // The connection is usable again and holds no lock.
            let locks = try await pool.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            #expect(try locks.first?.decode(Int64.self) == 0)
        }
        await pool.close()
    }
}
