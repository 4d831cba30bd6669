import Postgres
import Testing

@Suite struct ListenerTests {
    static func withListener<Result>(
        applicationName: String = "chorus-tests",
        _ body: (PostgresListener) async throws -> Result
    ) async throws -> Result {
        let listener = PostgresListener(
            configuration: PostgresConfiguration(url: TestDatabase.url, applicationName: applicationName))
        do {
            let result = try await body(listener)
            await listener.close()
            return result
        } catch {
            await listener.close()
            throw error
        }
    }

    /// The first `count` payloads of `stream`.
    static func payloads(
        _ count: Int, of stream: AsyncThrowingStream<PostgresNotification, any Error>
    ) async throws -> [String] {
        var payloads: [String] = []
        for try await notification in stream {
            payloads.append(notification.payload)
            if payloads.count == count {
                break
            }
        }
        return payloads
    }

    @Test func notificationsArriveInOrderWithExactPayloads() async throws {
        try await TestDatabase.withPool { pool in
            try await Self.withListener { listener in
                let channel = TestDatabase.uniqueName("Mixed Case")
                let stream = try await listener.notifications(on: channel)
                let sent = ["first", #"it's "quoted" \ 😀 中文"#, ""]
                for payload in sent {
                    try await pool.execute("SELECT pg_notify(\(channel), \(payload))")
                }
                #expect(try await Self.payloads(3, of: stream) == sent)
            }
        }
    }

    @Test func eachSubscriberGetsItsChannelsOnly() async throws {
        try await TestDatabase.withPool { pool in
            try await Self.withListener { listener in
                let a = TestDatabase.uniqueName("a")
                let b = TestDatabase.uniqueName("b")
                let first = try await listener.notifications(on: a)
                let second = try await listener.notifications(on: a)
                let other = try await listener.notifications(on: b)
                try await pool.execute("SELECT pg_notify(\(a), 'to a'), pg_notify(\(b), 'to b')")
                #expect(try await Self.payloads(1, of: first) == ["to a"])
                #expect(try await Self.payloads(1, of: second) == ["to a"])
                #expect(try await Self.payloads(1, of: other) == ["to b"])
            }
        }
    }

    @Test func rolledBackNotificationIsNotDelivered() async throws {
        try await TestDatabase.withPool { pool in
            try await Self.withListener { listener in
                let channel = TestDatabase.uniqueName("tx")
                let stream = try await listener.notifications(on: channel)
                await #expect(throws: ExpectedFailure.self) {
                    try await pool.transaction { tx in
                        try await tx.execute("SELECT pg_notify(\(channel), 'rolled back')")
                        throw ExpectedFailure()
                    }
                }
                try await pool.execute("SELECT pg_notify(\(channel), 'committed')")
                #expect(try await Self.payloads(1, of: stream) == ["committed"])
            }
        }
    }

    @Test func lostConnectionEndsStreamsRetriablyAndResubscribingWorks() async throws {
        let application = TestDatabase.uniqueName("listener")
        try await TestDatabase.withPool { pool in
            try await Self.withListener(applicationName: application) { listener in
                let channel = TestDatabase.uniqueName("lost")
                let stream = try await listener.notifications(on: channel)
                let terminated = try await pool.query(
                    """
                    SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = \(application)
                    """)
                #expect(try terminated.map { try $0.decode(Bool.self) } == [true])
                let error = await #expect(throws: PostgresError.self) {
                    for try await _ in stream {}
                }
                #expect(error?.isRetriable == true)

                let again = try await listener.notifications(on: channel)
                try await pool.execute("SELECT pg_notify(\(channel), 'after reconnect')")
                #expect(try await Self.payloads(1, of: again) == ["after reconnect"])
            }
        }
    }

    @Test func closeEndsStreamsAndRefusesNewSubscriptions() async throws {
        let listener = PostgresListener(configuration: PostgresConfiguration(url: TestDatabase.url))
        let stream = try await listener.notifications(on: TestDatabase.uniqueName("closing"))
        await listener.close()
        var received = 0
        for try await _ in stream {
            received += 1
        }
        #expect(received == 0)
        let error = await #expect(throws: PostgresError.self) { try await listener.notifications(on: "late") }
        #expect(error?.code == .poolClosed)
        await listener.close()
    }

    @Test func invalidChannelNamesAreRefused() async throws {
        try await Self.withListener { listener in
            for channel in ["", String(repeating: "x", count: 64), "nul\u{0}"] {
                let error = await #expect(throws: PostgresError.self) { try await listener.notifications(on: channel) }
                #expect(error?.code == .invalidParameter)
            }
        }
    }
}
