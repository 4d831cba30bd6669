import Contracts
import Foundation
import HTTP
import Kafka
import Postgres
import ProviderSimulator
import Testing
import Trail

/// What operators rely on, against the six real processes: the trace travels from the request to
/// the answer, every service serves its metrics, `chorus status` finds the services and `chorus
/// doctor` passes, or names the fix.
@Suite(.serialized) struct OperationsTests {
    @Test func operations() async throws {
        // The heartbeats' table: `bin/chorus up` applies the migrations; a stack started by an older
        // checkout may lack the newest.
        try await Self.migrate()
        try await ProviderSimulator.withRunning(responder: PipelineTests.judge) { simulator in
            simulator.setBehavior(ModelBehavior(content: "Paris is the capital of France."), for: "sim-a")
            simulator.setBehavior(ModelBehavior(content: "Lyon is the capital of France."), for: "sim-b")
            let pipeline = try await PipelineHarness(simulatorPort: try await simulator.port)
            try await pipeline.use { pipeline in
                try await aKafkaTraceParentReachesEveryMessageAndTheAnswer(pipeline)
                try await anHTTPTraceParentReachesTheAnswer(pipeline)
                try await aRequestWithoutATraceGetsOne(pipeline)
                try await everyServiceServesItsMetrics(pipeline)
                try await statusListsTheServicesAndTheirLag(pipeline)
                try await doctorPassesAgainstTheRunningStack(pipeline)
            }
        }
    }

    // MARK: - Trace context

    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

    func aKafkaTraceParentReachesEveryMessageAndTheAnswer(_ p: PipelineHarness) async throws {
        let id = "trace-\(UUID().uuidString.prefix(8))"
        let sent = "00-\(Self.traceID)-00f067aa0ba902b7-01"
        _ = try await p.producer.send(
            topic: p.topics.requests, key: Array(id.utf8), value: Array(PipelineTests.request(id).utf8),
            headers: [KafkaHeader(name: Headers.traceParent, value: Array(sent.utf8))])
        let answer = try await p.answer(id)
        #expect(answer.status == .ok)

        // Every message of the request, on every topic, continues the trace with a span of its own.
        for topic in [p.topics.accepted, p.topics.remoteCalls, p.topics.fusion, p.topics.usage, p.topics.answers] {
            // Calls are keyed by call id (`<request id>/<role>/<round>/<index>`), the rest by request id.
            let message = try await p.read(topic) { message in
                message.key == Array(id.utf8) || message.key.map { String(decoding: $0, as: UTF8.self).hasPrefix("\(id)/") } == true
            }
            let trace = try #require(TraceContext(traceParent: message.header(Headers.traceParent)), "\(topic) has no traceparent")
            #expect(trace.traceID == Self.traceID, "\(topic)")
            #expect(trace.parentID != "00f067aa0ba902b7", "\(topic)")
        }
        let recorded = try await p.database.query("SELECT trace_parent FROM requests WHERE id = \(id)").first?.decode(String?.self, at: 0)
        #expect(recorded.flatMap { TraceContext(traceParent: $0) }?.traceID == Self.traceID)
        // The judge's log line for the answer carries the request and trace ids.
        let answered = p.log(of: "judge").split(separator: "\n").first { $0.contains("answered") && $0.contains("request.id=\(id)") }
        #expect(answered?.contains("trace.id=\(Self.traceID)") == true)
    }

    func anHTTPTraceParentReachesTheAnswer(_ p: PipelineHarness) async throws {
        let port = try #require(p.httpPort)
        let key = try await APIKeys(database: p.database).create(project: "default", label: "trace").key
        let traceID = "0af7651916cd43dd8448eb211c80319c"
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(key)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "traceparent", value: "00-\(traceID)-b7ad6b7169203331-01")
        let http = HTTPClient()
        let response = try await http.execute(HTTPRequest(
            method: .post, url: "http://127.0.0.1:\(port)/v1/chat/completions", headers: headers,
            body: Array(#"{"model":"chorus/sims","messages":[{"role":"user","content":"What is the capital of France?"}]}"#.utf8),
            timeout: .seconds(60)))
        await http.shutdown()
        #expect(response.status == 200)
        let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let id = try #require((body?["id"] as? String)?.replacingOccurrences(of: "chatcmpl-", with: ""))
        let answer = try await p.read(p.topics.answers) { $0.key == Array(id.utf8) }
        #expect(TraceContext(traceParent: answer.header(Headers.traceParent))?.traceID == traceID)
    }

    func aRequestWithoutATraceGetsOne(_ p: PipelineHarness) async throws {
        let id = "untraced-\(UUID().uuidString.prefix(8))"
        _ = try await p.ask(PipelineTests.request(id), id: id)
        let accepted = try await p.read(p.topics.accepted) { $0.key == Array(id.utf8) }
        let answer = try await p.read(p.topics.answers) { $0.key == Array(id.utf8) }
        let started = try #require(TraceContext(traceParent: accepted.header(Headers.traceParent)))
        #expect(TraceContext(traceParent: answer.header(Headers.traceParent))?.traceID == started.traceID)
    }

    // MARK: - Metrics

    func everyServiceServesItsMetrics(_ p: PipelineHarness) async throws {
        // One local request, so that gpu-inference has consumed something too.
        let local = "metrics-local-\(UUID().uuidString.prefix(8))"
        _ = try await p.ask(
            PipelineTests.request(local, #","pool":["smollm2-135m"],"options":{"max_tokens":8,"temperature":0}"#), id: local,
            timeout: .seconds(120))

        let http = HTTPClient()
        var scraped: [String: Scrape] = [:]
        for service in PipelineHarness.services {
            let port = try #require(p.metricsPort(of: service), "\(service) logged no metrics port")
            let health = try await http.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/healthz", timeout: .seconds(5)))
            #expect(health.status == 200, "\(service) /healthz")
            // librdkafka reports lag every 5 s: wait for the first report rather than assume it came.
            var scrape = Scrape(text: "")
            for _ in 0..<300 {
                let response = try await http.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics", timeout: .seconds(5)))
                #expect(response.status == 200)
                scrape = Scrape(text: String(decoding: response.body, as: UTF8.self))
                if !scrape.samples("chorus_consumer_lag").isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            scraped[service] = scrape
            #expect(scrape.sum("chorus_messages_consumed_total", ["stage": service]) > 0, "\(service) consumed")
            #expect(scrape.sum("chorus_messages_processed_total", ["stage": service]) > 0, "\(service) processed")
            #expect(!scrape.samples("chorus_processing_seconds_count", ["stage": service]).isEmpty, "\(service) processing time")
            #expect(!scrape.samples("chorus_consumer_lag", ["group": "\(p.topics.namespace)-\(service)"]).isEmpty, "\(service) lag")
        }
        for service in ["ingest", "dispatcher", "provider-worker", "gpu-inference", "judge"] {
            #expect(scraped[service]!.sum("chorus_messages_produced_total", ["service": service]) > 0, "\(service) produced")
        }
        let worker = scraped["provider-worker"]!
        #expect(worker.sum("chorus_provider_request_seconds_count", ["provider": "sim", "model": "sim-a", "outcome": "ok"]) > 0)
        #expect(!worker.samples("chorus_provider_request_seconds_bucket", ["provider": "sim"]).isEmpty)
        let billing = scraped["billing"]!
        #expect(billing.sum("chorus_tokens_total", ["model": "sim-a", "direction": "output"]) > 0)
        #expect(billing.sum("chorus_cost_nanodollars_total", ["model": "sim-a"]) > 0)
        // The dead letter of the malformed request below counts as an error by kind.
        _ = try await p.publish(Array("{not json".utf8), key: "metrics-poison-\(UUID().uuidString.prefix(8))")
        let ingestPort = try #require(p.metricsPort(of: "ingest"))
        var poisoned = 0.0
        for _ in 0..<300 where poisoned == 0 {
            let response = try await http.execute(HTTPRequest(url: "http://127.0.0.1:\(ingestPort)/metrics", timeout: .seconds(5)))
            poisoned = Scrape(text: String(decoding: response.body, as: UTF8.self)).sum("chorus_errors_total", ["stage": "ingest", "kind": "poison"])
            if poisoned == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(poisoned > 0)
        await http.shutdown()
    }

    // MARK: - CLI

    func statusListsTheServicesAndTheirLag(_ p: PipelineHarness) async throws {
        // Heartbeats come every 5 s; the first one may still be on its way.
        var result = try Self.chorus(["status"], environment: p.environment)
        for _ in 0..<100 where result.status != 0 {
            try await Task.sleep(for: .milliseconds(100))
            result = try Self.chorus(["status"], environment: p.environment)
        }
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for service in PipelineHarness.services {
            let line = result.stdout.split(separator: "\n").first { $0.hasPrefix(service + " ") }
            #expect(line?.contains(" ok ") == true, "\(service): \(line ?? "missing")")
        }
        #expect(result.stdout.contains("healthz ok"))
    }

    func doctorPassesAgainstTheRunningStack(_ p: PipelineHarness) async throws {
        let result = try Self.chorus(["doctor"], environment: p.environment)
        #expect(result.status == 0, "\(result.stdout)")
        for check in ["librdkafka", "broker", "topics", "database", "migrations", "catalog", "model files", "provider keys"] {
            #expect(result.stdout.contains("ok    \(check) "), "\(check)")
        }
    }

    @Test func doctorNamesTheFixForAMissingModelFileAndAMissingKey() throws {
        let (directory, catalog) = try Self.catalogFile("""
            providers: {paid: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: CHORUS_DOCTOR_TEST_KEY}}
            models:
              tiny: {local: {gguf: /nonexistent/tiny.gguf}}
              remote: {providers: [{provider: paid, upstream: x, price: {input: "1", output: "1"}}]}
            """)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Self.chorus(
            ["doctor"], environment: ["CHORUS_CATALOG_PATH": catalog, "CHORUS_KAFKA_BROKERS": "127.0.0.1:9"])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map { Self.squeezed(String($0)) }
        #expect(lines.contains("FAIL model files models.tiny.local.gguf: /nonexistent/tiny.gguf does not exist"))
        #expect(result.stdout.contains("fix: run scripts/setup.sh"))
        #expect(lines.contains("FAIL provider keys paid: CHORUS_DOCTOR_TEST_KEY is missing"))
        #expect(lines.contains { $0.hasPrefix("FAIL broker CHORUS_KAFKA_BROKERS=127.0.0.1:9: no broker answered") })
        #expect(result.stdout.contains("fix: start the embedded stack (bin/chorus up) or set CHORUS_KAFKA_BROKERS"))
    }

    @Test func doctorNeverPrintsAKey() throws {
        let (directory, catalog) = try Self.catalogFile("""
            providers: {paid: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: CHORUS_DOCTOR_TEST_KEY}}
            models:
              remote: {providers: [{provider: paid, upstream: x, price: {input: "1", output: "1"}}]}
            """)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Self.chorus(
            ["doctor"],
            environment: ["CHORUS_CATALOG_PATH": catalog, "CHORUS_DOCTOR_TEST_KEY": "sk-very-secret-value"])
        #expect(Self.squeezed(result.stdout).contains("ok provider keys set: paid (CHORUS_DOCTOR_TEST_KEY)"))
        #expect(!(result.stdout + result.stderr).contains("sk-very-secret-value"))
    }

    /// Runs of spaces as one (the CLI pads its columns).
    /// `yaml` written as `models.yaml` in a new temporary directory: (the directory, the file's path).
    static func catalogFile(_ yaml: String) throws -> (directory: String, path: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-doctor-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try yaml.write(toFile: "\(directory)/models.yaml", atomically: true, encoding: .utf8)
        return (directory, "\(directory)/models.yaml")
    }

    static func squeezed(_ text: String) -> String {
        text.split(separator: " ").joined(separator: " ")
    }

    /// Runs `chorus` with `environment` over the test process's own.
    static func chorus(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binaries = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binaries)/chorus")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CHORUS_HOME"] = PipelineHarness.root
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    static func migrate() async throws {
        let environment = ProcessInfo.processInfo.environment
        let url = environment["CHORUS_TEST_DATABASE_URL"] ?? environment["CHORUS_DATABASE_URL"]
            ?? "postgresql://chorus@127.0.0.1:5433/chorus?passfile=\(PipelineHarness.root)/.data/secrets/pgpass"
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url, poolSize: 1))
        try await PostgresMigrator(directory: "\(PipelineHarness.root)/migrations").migrate(pool)
        await pool.close()
    }
}

/// A Prometheus text exposition, for reading samples by family and labels.
struct Scrape {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let samples: [Sample]

    init(text: String) {
        samples = text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                return nil
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return Sample(name: String(series), labels: [:], value: value) }
            var labels: [String: String] = [:]
            for match in series[brace...].matches(of: /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/) {
                labels[String(match.1)] = String(match.2)
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    func samples(_ name: String, _ labels: [String: String] = [:]) -> [Sample] {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
    }

    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples(name, labels).reduce(0) { $0 + $1.value }
    }
}
