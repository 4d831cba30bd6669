import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import ProviderSimulator
import Synchronization

/// The six Chorus executables as real processes, in a private topic namespace, against the real
/// broker and PostgreSQL, with the provider simulator standing in for remote providers.
final class PipelineHarness: Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let services = ["ingest", "dispatcher", "provider-worker", "gpu-inference", "judge", "billing"]

    let topics: TopicNames
    let directory: String
    let producer: KafkaProducer
    let database: PostgresPool
    let brokers: String
    /// The services' environment (for running `chorus` against this pipeline).
    let environment: [String: String]
    private let processes: Mutex<[String: Process]>
    private let childEnvironment: [String: String]
    private let binaries: String

    /// Starts the pipeline with a catalog whose `sim` provider is the simulator at `simulatorPort`;
    /// `settings` are extra `CHORUS_*` variables for every service.
    init(simulatorPort: Int, settings: [String: String] = [:]) async throws {
        let namespace = "e2e-\(UUID().uuidString.prefix(8).lowercased())"
        topics = TopicNames(namespace: namespace)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-\(namespace)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let environment = ProcessInfo.processInfo.environment
        brokers = environment["CHORUS_KAFKA_BROKERS"] ?? "127.0.0.1:9092"

        let catalog = """
            providers:
              sim: {kind: openai, base_url: "http://127.0.0.1:\(simulatorPort)/v1", timeout: 10s, max_retries: 2}
            models:
              sim-a: {providers: [{provider: sim, upstream: sim-a, price: {input: "1", output: "2"}}]}
              sim-b: {providers: [{provider: sim, upstream: sim-b, price: {input: "1", output: "2"}}]}
              sim-judge: {providers: [{provider: sim, upstream: sim-judge, price: {input: "1", output: "2"}}]}
              sim-flaky: {providers: [{provider: sim, upstream: sim-flaky, price: {input: "1", output: "2"}}]}
              sim-hang: {providers: [{provider: sim, upstream: sim-hang, price: {input: "1", output: "2"}}]}
              smollm2-135m: {local: {gguf: "\(Self.root)/.deps/models/smollm2-135m.gguf", prompt_style: chat, price_per_device_second: "0.000011"}}
              gemma3-270m: {local: {gguf: "\(Self.root)/.deps/models/gemma3-270m.gguf", prompt_style: completion, price_per_device_second: "0.000011"}}
            presets:
              sims: {pool: [sim-a, sim-b], judge: sim-judge, mode: best-of}
              local: {pool: [smollm2-135m, gemma3-270m], judge: smollm2-135m, mode: best-of}
            default_preset: sims
            """
        let catalogPath = "\(directory)/models.yaml"
        try catalog.write(toFile: catalogPath, atomically: true, encoding: .utf8)

        // The test binary sits beside the service executables in the build folder.
        binaries = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
        var childEnvironment = environment
        childEnvironment["CHORUS_HOME"] = Self.root
        childEnvironment["CHORUS_CATALOG_PATH"] = catalogPath
        childEnvironment["CHORUS_KAFKA_NAMESPACE"] = namespace
        childEnvironment["CHORUS_LOG_LEVEL"] = "info"
        childEnvironment["CHORUS_HTTP_PORT"] = "0"  // an ephemeral port, read back from ingest's log
        childEnvironment["CHORUS_METRICS_PORT"] = "0"  // likewise each service's /metrics port
        childEnvironment.merge(settings) { _, new in new }
        self.environment = childEnvironment
        self.childEnvironment = childEnvironment
        var processes: [String: Process] = [:]
        for service in Self.services {
            FileManager.default.createFile(atPath: "\(directory)/\(service).log", contents: nil)
            processes[service] = try Self.launch(service, binaries: binaries, environment: childEnvironment, directory: directory)
        }
        self.processes = Mutex(processes)

        producer = try KafkaProducer(
            // Not idempotent, like the services' producers: it must outlive a broker that forgets it.
            configuration: KafkaProducerConfiguration(
                client: KafkaClientConfiguration(bootstrapBrokers: brokers, clientID: "e2e"), rawSettings: ["enable.idempotence": "false"]),
            logger: Logger(label: "e2e"))
        let url = environment["CHORUS_TEST_DATABASE_URL"] ?? environment["CHORUS_DATABASE_URL"]
            ?? "postgresql://chorus@127.0.0.1:5433/chorus?passfile=\(Self.root)/.data/secrets/pgpass"
        database = PostgresPool(configuration: PostgresConfiguration(url: url, poolSize: 2), logger: Logger(label: "e2e"))

        // Ready when every consumer has its partitions.
        let deadline = ContinuousClock.now + .seconds(90)
        for service in Self.services {
            while !(log(of: service).contains("partitions assigned")) {
                guard self.processes.withLock({ $0[service]!.isRunning }) else {
                    throw HarnessError("\(service) exited during start-up: \(log(of: service).suffix(600))")
                }
                guard ContinuousClock.now < deadline else { throw HarnessError("\(service) did not get its partitions within 90 s") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The HTTP front door's port, from ingest's start-up line.
    var httpPort: Int? {
        guard let match = log(of: "ingest").firstMatch(of: /http\.port=(\d+)/) else { return nil }
        return Int(match.1)
    }

    /// Where a service serves /metrics and /healthz, from its start-up line (ingest: its front door).
    func metricsPort(of service: String) -> Int? {
        if service == "ingest" { return httpPort }
        guard let match = log(of: service).firstMatch(of: /metrics\.port=(\d+)/) else { return nil }
        return Int(match.1)
    }

    /// Runs `body` against the pipeline, then stops it; when `body` throws, prints each service's last log
    /// lines first (what a failing end-to-end test needs to be understood).
    func use<Result>(_ body: (PipelineHarness) async throws -> Result) async throws -> Result {
        do {
            let result = try await body(self)
            await stop()
            return result
        } catch {
            for service in Self.services {
                print("--- \(service) log (last lines)\n\(log(of: service).suffix(2000))")
            }
            await stop()
            throw error
        }
    }

    func log(of service: String) -> String {
        (try? String(contentsOfFile: "\(directory)/\(service).log", encoding: .utf8)) ?? ""
    }

    /// Publishes raw bytes on the requests topic.
    func publish(_ bytes: [UInt8], key: String? = nil) async throws {
        _ = try await producer.send(topic: topics.requests, key: key.map { Array($0.utf8) }, value: bytes)
    }

    /// Publishes a request and waits for its answer row.
    func ask(_ json: String, id: String, timeout: Duration = .seconds(60)) async throws -> Answer {
        try await publish(Array(json.utf8), key: id)
        return try await answer(id, timeout: timeout)
    }

    func answer(_ id: String, timeout: Duration = .seconds(60)) async throws -> Answer {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let row = try await database.query("SELECT payload::text FROM answers WHERE request_id = \(id)").first {
                return try JSONDecoder().decode(Answer.self, from: Data(try row.decode(String.self, at: 0).utf8))
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw HarnessError("no answer for \(id) within \(timeout)")
    }

    /// Reads a topic from the beginning with a throwaway group until a message matches `found`.
    func read(_ topic: String, timeout: Duration = .seconds(30), until found: @escaping @Sendable (KafkaMessage) -> Bool) async throws -> KafkaMessage {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: KafkaClientConfiguration(bootstrapBrokers: brokers, clientID: "e2e-reader"),
                groupID: "e2e-reader-\(UUID().uuidString)", topics: [topic]),
            logger: Logger(label: "e2e"))
        defer { Task { try? await consumer.close() } }
        return try await withThrowingTaskGroup(of: KafkaMessage.self) { group in
            group.addTask {
                for try await message in consumer.messages where found(message) { return message }
                throw HarnessError("read \(topic): the consumer stopped")
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw HarnessError("read \(topic): no matching message within \(timeout)")
            }
            let result = try await group.next()!
            group.cancelAll()
            return result
        }
    }

    /// Starts (or restarts) one service; its output is appended to its log.
    func start(_ service: String) throws {
        let process = try Self.launch(service, binaries: binaries, environment: childEnvironment, directory: directory)
        processes.withLock { $0[service] = process }
    }

    /// Starts another instance of a stage, named `<service>-2` (its log too), and waits until the
    /// group has given it partitions.
    func startSecond(_ service: String, timeout: Duration = .seconds(90)) async throws {
        let name = "\(service)-2"
        FileManager.default.createFile(atPath: "\(directory)/\(name).log", contents: nil)
        let process = try Self.launch(name, executable: service, binaries: binaries, environment: childEnvironment, directory: directory)
        processes.withLock { $0[name] = process }
        let deadline = ContinuousClock.now + timeout
        while !log(of: name).contains("partitions assigned") {
            guard process.isRunning else { throw HarnessError("\(name) exited during start-up: \(log(of: name).suffix(600))") }
            guard ContinuousClock.now < deadline else { throw HarnessError("\(name) did not get partitions within \(timeout)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private static func launch(
        _ service: String, executable: String? = nil, binaries: String, environment: [String: String], directory: String
    ) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binaries)/\(executable ?? service)")
        process.environment = environment
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory)/\(service).log"))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    /// Services whose process is no longer running.
    var exited: [String] {
        processes.withLock { processes in Self.services.filter { processes[$0]?.isRunning != true } }
    }

    /// kill -9 of one service, and waits until it is gone.
    func kill9(_ service: String) {
        guard let process = processes.withLock({ $0[service] }) else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM to one service (a graceful shutdown), and waits until it is gone.
    func terminate(_ service: String) {
        guard let process = processes.withLock({ $0[service] }) else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Restarts a service and waits until its consumer has partitions again.
    func restart(_ service: String, timeout: Duration = .seconds(90)) async throws {
        let before = log(of: service).components(separatedBy: "partitions assigned").count
        try start(service)
        let deadline = ContinuousClock.now + timeout
        while log(of: service).components(separatedBy: "partitions assigned").count <= before {
            guard processes.withLock({ $0[service]!.isRunning }) else {
                throw HarnessError("\(service) exited during restart: \(log(of: service).suffix(600))")
            }
            guard ContinuousClock.now < deadline else { throw HarnessError("\(service) did not get its partitions again within \(timeout)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGTERM to every service, then wait (SIGKILL after 15 s).
    func stop() async {
        let processes = self.processes.withLock { Array($0.values) }
        for process in processes where process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(15)
        for process in processes {
            while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        await producer.shutdown()
        await database.close()
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
