import Catalog
import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import Testing

/// kill -9 of the billing service in the middle of its batches, then a restart: the ledger and the
/// project's spend equal the exact expected sums, with every event once.
@Suite struct BillingCrashTests {
    @Test func killNineMidBatchLosesAndDuplicatesNothing() async throws {
        let namespace = "crash-\(UUID().uuidString.prefix(8).lowercased())"
        let topics = TopicNames(namespace: namespace)
        let project = namespace
        let root = PipelineHarness.root
        let environment = ProcessInfo.processInfo.environment
        let brokers = environment["CHORUS_KAFKA_BROKERS"] ?? "127.0.0.1:9092"
        let url = environment["CHORUS_TEST_DATABASE_URL"] ?? environment["CHORUS_DATABASE_URL"]
            ?? "postgresql://chorus@127.0.0.1:5433/chorus?passfile=\(root)/.data/secrets/pgpass"
        let db = PostgresPool(configuration: PostgresConfiguration(url: url, poolSize: 2), logger: Logger(label: "test"))
        try await db.execute("INSERT INTO projects (id) VALUES (\(project))")

        // The events, priced by the shipped catalog (gpt-4o-mini via openai: $0.15 in, $0.60 out per 1M).
        let catalog = try ModelCatalog.load(path: "\(root)/config/models.yaml", home: root)
        let price = try catalog.resolve("gpt-4o-mini").routes[0].price
        let count = 3000
        let events = (0..<count).map { n in
            UsageEvent(
                eventID: "\(namespace)-\(n)/pool/0/0#1", requestID: "\(namespace)-\(n)", project: project,
                callID: "\(namespace)-\(n)/pool/0/0", role: .pool, round: 0, model: "gpt-4o-mini", provider: "openai",
                usage: TokenUsage(promptTokens: 1000 + n, completionTokens: 10 + n % 7), deviceNanos: 0, billable: true,
                occurredAtMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
        let expected = events.reduce(Money.zero) { $0 + Pricing.cost(of: $1.usage, at: price) }

        let binaries = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
        let log = "\(FileManager.default.temporaryDirectory.path)/\(namespace)-billing.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        func startBilling() throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "\(binaries)/billing")
            var env = environment
            env["CHORUS_HOME"] = root
            env["CHORUS_KAFKA_NAMESPACE"] = namespace
            env["CHORUS_METRICS_PORT"] = "0"
            process.environment = env
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            return process
        }
        func recorded() async throws -> Int {
            try await db.query("SELECT count(*) FROM usage_events WHERE project_id = \(project)").first!.decode(Int.self, at: 0)
        }

        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: KafkaClientConfiguration(bootstrapBrokers: brokers, clientID: "crash-test")),
            logger: Logger(label: "test"))
        var billing = try startBilling()
        // Every event once, and a tenth of them a second time (a redelivery by an upstream worker).
        let encoder = JSONEncoder()
        let messages = try (events + events.filter { Int($0.requestID.split(separator: "-").last!)! % 10 == 0 }).map {
            KafkaOutgoingMessage(topic: topics.usage, key: Array($0.requestID.utf8), value: Array(try encoder.encode($0)))
        }
        _ = try await producer.send(messages)

        // Kill it while it is part-way through.
        let deadline = ContinuousClock.now + .seconds(120)
        while try await recorded() < count / 10 {
            guard ContinuousClock.now < deadline, billing.isRunning else {
                throw HarnessError("billing recorded too little before the kill: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(800) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(billing.processIdentifier, SIGKILL)
        billing.waitUntilExit()
        let atKill = try await recorded()
        #expect(atKill < count, "billing finished before it could be killed; the test proved nothing")
        print("billing crash test: \(atKill) of \(count) events recorded at the kill")

        billing = try startBilling()
        while try await recorded() < count {
            guard ContinuousClock.now < deadline, billing.isRunning else { throw HarnessError("billing did not catch up after the restart") }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .seconds(1))  // anything extra would show up now
        let (rows, total, spent) = try await db.query("""
            SELECT (SELECT count(*) FROM usage_events WHERE project_id = \(project)),
                   (SELECT sum(cost_usd)::text FROM usage_events WHERE project_id = \(project)),
                   (SELECT spent_usd::text FROM projects WHERE id = \(project))
            """).first!.decode((Int, String, String).self)
        billing.terminate()
        billing.waitUntilExit()
        await producer.shutdown()
        await db.close()
        #expect(rows == count)
        #expect(Money(decimal: total) == expected)
        #expect(Money(decimal: spent) == expected)
    }
}
