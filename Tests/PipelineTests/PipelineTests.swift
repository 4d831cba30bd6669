import Contracts
import Foundation
import Kafka
import Postgres
import ProviderSimulator
import HTTP
import Trail
import Testing

/// The whole pipeline, six real processes, real broker, PostgreSQL and GGUF models, with the
/// provider simulator standing in for remote providers. One pipeline serves every scenario: starting
/// one (six processes, six consumer groups) takes seconds.
@Suite(.serialized) struct PipelineTests {
    /// A scripted judge: picks the candidate that says "Paris", merges by quoting it.
    static let judge: ProviderSimulator.Responder = { request in
        guard request.model == "sim-judge", let prompt = request.messages.last?.content else { return nil }
        let system = request.messages.first?.content ?? ""
        var winner = "A"
        var winnerText = ""
        for part in prompt.components(separatedBy: "<candidate id=\"").dropFirst() {
            let label = String(part.prefix(1))
            let text = part.components(separatedBy: "</candidate>").first ?? ""
            if text.contains("Paris") { winner = label; winnerText = text }
        }
        if system.contains("Synthesize") {
            return SimulatedReply("Merged: " + winnerText.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(3))
        }
        return SimulatedReply(#"{"winner": "\#(winner)", "reason": "it names Paris"}"#)
    }

    static func request(_ id: String, _ extra: String = "", prompt: String = "What is the capital of France?") -> String {
        #"{"id":"\#(id)","project":"default","messages":[{"role":"user","content":"\#(prompt)"}]\#(extra)}"#
    }

    @Test func pipelineEndToEnd() async throws {
        var configuration = ProviderSimulator.Configuration()
        configuration.latency = .milliseconds(20)
        try await ProviderSimulator.withRunning(configuration: configuration, responder: Self.judge) { simulator in
            simulator.setBehavior(ModelBehavior(content: "Paris is the capital of France."), for: "sim-a")
            simulator.setBehavior(ModelBehavior(content: "Lyon is the capital of France."), for: "sim-b")
            let pipeline = try await PipelineHarness(simulatorPort: try await simulator.port)
            try await pipeline.use { pipeline in
                try await everyModeAnswers(pipeline)
                try await theStoredTrailMatchesThePublishedAnswer(pipeline)
                try await aTimedOutPoolMemberGivesAPartialAnswer(pipeline, simulator)
                try await aProviderAnswering500Then200IsRetried(pipeline, simulator)
                try await malformedJSONIsDeadLetteredAndTheNextRequestAnswered(pipeline)
                try await theSameIDTwiceIsOneRequest(pipeline, simulator)
                try await overBudgetIsRejectedBeforeAnyModelCall(pipeline, simulator)
                try await theOpenAISDKTalksToTheFrontDoor(pipeline)
                try await theREADMECurlExamplesRunAsWritten(pipeline)
                try await localModelsAnswerThroughGPUInference(pipeline)
            }
        }
    }

    func everyModeAnswers(_ p: PipelineHarness) async throws {
        let run = UUID().uuidString.prefix(8)
        let bestOf = try await p.ask(Self.request("best-\(run)", #","mode":"best-of""#), id: "best-\(run)")
        #expect(bestOf.status == .ok)
        #expect(bestOf.answer == "Paris is the capital of France.")
        #expect(bestOf.verdict?.method == "judge" && bestOf.verdict?.chosen == 0)
        #expect(bestOf.candidates.map(\.model) == ["sim-a", "sim-b"])
        // Two pool calls and a judge call, each 2 + words tokens at $1/M in and $2/M out: exact, never zero.
        #expect(bestOf.costUSD > .zero)

        let merge = try await p.ask(Self.request("merge-\(run)", #","mode":"merge""#), id: "merge-\(run)")
        #expect(merge.status == .ok)
        #expect(merge.answer?.hasPrefix("Merged: ") == true)
        #expect(merge.verdict?.method == "judge")

        let debate = try await p.ask(Self.request("debate-\(run)", #","mode":"debate","options":{"rounds":1}"#), id: "debate-\(run)")
        #expect(debate.status == .ok)
        #expect(debate.answer == "Paris is the capital of France.")
        let debateCalls = try await p.database.query("SELECT role, count(*) FROM calls WHERE request_id = \("debate-\(run)") GROUP BY role ORDER BY role")
            .map { try $0.decode((String, Int).self) }
        #expect(debateCalls.map(\.0) == ["debate", "judge", "pool"] && debateCalls.map(\.1) == [2, 1, 2])

        let vote = try await p.ask(
            Self.request("vote-\(run)", #","mode":"vote","pool":["sim-a","sim-b","sim-a"]"#), id: "vote-\(run)")
        #expect(vote.status == .ok)
        #expect(vote.answer == "Paris is the capital of France.")
        #expect(vote.verdict?.method == "majority")
        let judgeCalls = try await p.database.query("SELECT count(*) FROM calls WHERE request_id = \("vote-\(run)") AND role = 'judge'")
        #expect(try judgeCalls.first?.decode(Int.self, at: 0) == 0)  // a clear majority needs no judge
    }

    func theStoredTrailMatchesThePublishedAnswer(_ p: PipelineHarness) async throws {
        let id = "trail-\(UUID().uuidString.prefix(8))"
        let stored = try await p.ask(Self.request(id), id: id)
        let message = try await p.read(p.topics.answers) { $0.key == Array(id.utf8) }
        #expect(try JSONDecoder().decode(Answer.self, from: Data(message.value)) == stored)
        let responses = try await p.database.query("""
            SELECT c.idx, r.content FROM calls c JOIN responses r ON r.call_id = c.id
            WHERE c.request_id = \(id) AND c.role = 'pool' ORDER BY c.idx
            """).map { try $0.decode((Int, String?).self) }
        #expect(responses.map(\.1) == stored.candidates.map(\.content))
        let judgment = try #require(try await p.database.query("SELECT method, chosen FROM judgments WHERE request_id = \(id)").first)
        let (method, chosen) = try judgment.decode((String, Int?).self)
        #expect(method == stored.verdict?.method)
        #expect(chosen == stored.verdict?.chosen)
        // billing records every call's usage (asynchronously: wait for it)
        var usage = (0, 0)
        for _ in 0..<100 {
            usage = try await p.database.query("SELECT count(*), coalesce(sum(completion_tokens), 0)::int FROM usage_events WHERE request_id = \(id)")
                .first!.decode((Int, Int).self)
            if usage.0 == 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(usage.0 == 3)
        #expect(usage.1 == stored.usage.completionTokens)
    }

    func aTimedOutPoolMemberGivesAPartialAnswer(_ p: PipelineHarness, _ simulator: ProviderSimulator) async throws {
        let id = "partial-\(UUID().uuidString.prefix(8))"
        simulator.enqueue([.hang], for: "sim-hang")
        let answer = try await p.ask(
            Self.request(id, #","pool":["sim-a","sim-hang"],"judge":"sim-judge","options":{"timeout_ms":4000}"#), id: id)
        #expect(answer.status == .partial)
        #expect(answer.answer == "Paris is the capital of France.")
        #expect(answer.candidates[1].error?.code == "timeout")
        #expect(answer.error?.message.contains("sim-hang") == true)
    }

    func aProviderAnswering500Then200IsRetried(_ p: PipelineHarness, _ simulator: ProviderSimulator) async throws {
        let id = "retry-\(UUID().uuidString.prefix(8))"
        simulator.resetStats()
        simulator.enqueue([.fail(500)], for: "sim-flaky")
        let answer = try await p.ask(Self.request(id, #","pool":["sim-flaky"]"#), id: id)
        #expect(answer.status == .ok)
        #expect(simulator.stats["sim-flaky"].responses == [500: 1, 200: 1])
        var attempts: [(String, Bool)] = []
        for _ in 0..<100 {
            attempts = try await p.database.query("SELECT event_id, billable FROM usage_events WHERE request_id = \(id) ORDER BY event_id")
                .map { try $0.decode((String, Bool).self) }
            if attempts.count == 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Both attempts are recorded; only the one that produced tokens is billable.
        #expect(attempts.map(\.0) == ["\(id)/pool/0/0#1", "\(id)/pool/0/0#2"])
        #expect(attempts.map(\.1) == [false, true])
    }

    func malformedJSONIsDeadLetteredAndTheNextRequestAnswered(_ p: PipelineHarness) async throws {
        try await p.publish(Array("{\"project\": \"default\", oops".utf8), key: "poison")
        let id = "after-poison-\(UUID().uuidString.prefix(8))"
        let answer = try await p.ask(Self.request(id), id: id)
        #expect(answer.status == .ok)
        let letter = try await p.read(p.topics.deadLetters) { $0.value == Array("{\"project\": \"default\", oops".utf8) }
        let headers = Dictionary(uniqueKeysWithValues: letter.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) })
        #expect(headers[Headers.originTopic] == p.topics.requests)
        #expect(headers[Headers.errorCode] == "undecodable_request")
        #expect(headers[Headers.failedService] == "ingest")
    }

    func theSameIDTwiceIsOneRequest(_ p: PipelineHarness, _ simulator: ProviderSimulator) async throws {
        let id = "twice-\(UUID().uuidString.prefix(8))"
        simulator.resetStats()
        try await p.publish(Array(Self.request(id).utf8), key: id)
        try await p.publish(Array(Self.request(id).utf8), key: id)
        let answer = try await p.answer(id)
        #expect(answer.status == .ok)
        try await Task.sleep(for: .milliseconds(500))  // let a wrong second run show itself
        let counts = try await p.database.query("""
            SELECT (SELECT count(*) FROM requests WHERE id = \(id)), (SELECT count(*) FROM calls WHERE request_id = \(id)),
                   (SELECT count(*) FROM answers WHERE request_id = \(id))
            """).first!.decode((Int, Int, Int).self)
        #expect(counts == (1, 3, 1))
        #expect(simulator.stats.requests == 3)  // two pool calls and one judge call, not six
    }

    func overBudgetIsRejectedBeforeAnyModelCall(_ p: PipelineHarness, _ simulator: ProviderSimulator) async throws {
        let project = "broke-\(UUID().uuidString.prefix(8).lowercased())"
        try await p.database.execute("INSERT INTO projects (id, budget_usd) VALUES (\(project), 0)")
        let id = "broke-\(UUID().uuidString.prefix(8))"
        simulator.resetStats()
        let answer = try await p.ask(
            #"{"id":"\#(id)","project":"\#(project)","messages":[{"role":"user","content":"Capital of France?"}]}"#, id: id)
        #expect(answer.status == .rejected)
        #expect(answer.error?.code == "over_budget")
        #expect(answer.error?.message.contains("budget") == true)
        #expect(simulator.stats.requests == 0)
        let trail = try await p.database.query("""
            SELECT (SELECT count(*) FROM calls WHERE request_id = \(id)), (SELECT count(*) FROM usage_events WHERE request_id = \(id))
            """).first!.decode((Int, Int).self)
        #expect(trail == (0, 0))
    }

    func theOpenAISDKTalksToTheFrontDoor(_ p: PipelineHarness) async throws {
        let port = try #require(p.httpPort)
        let keys = APIKeys(database: p.database)
        let key = try await keys.create(project: "default", label: "e2e").key
        let python = "\(PipelineHarness.root)/.deps/venv/bin/python"
        let script = "\(PipelineHarness.root)/Tests/PipelineTests/openai_client.py"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "http://127.0.0.1:\(port)/v1", key]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the OpenAI SDK client failed: \(errorText.suffix(1500))")
        let results = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let completion = try #require(results["completion"] as? [String: Any])
        #expect(completion["content"] as? String == "Paris is the capital of France.")
        #expect(completion["finish_reason"] as? String == "stop")
        #expect(completion["chorus_status"] as? String == "ok")
        #expect(completion["chorus_candidates"] as? [String] == ["sim-a", "sim-b"])
        #expect((completion["total_tokens"] as? Int ?? 0) > 0)
        #expect(results["stream"] as? String == "Paris is the capital of France.")
        #expect((results["models"] as? [String])?.contains("chorus/sims") == true)
        #expect(results["bad_key"] as? String == "AuthenticationError 401")

        // A key of another project cannot read this project's request trail.
        let id = try #require(completion["id"] as? String)
        let otherProject = "other-\(id.suffix(8))"
        try await p.database.execute("INSERT INTO projects (id) VALUES (\(otherProject)) ON CONFLICT DO NOTHING")
        let otherKey = try await keys.create(project: otherProject, label: "e2e").key
        let client = HTTPClient()
        defer { Task { await client.shutdown() } }
        func trail(_ key: String) async throws -> HTTPResponse {
            try await client.execute(HTTPRequest(
                url: "http://127.0.0.1:\(port)/v1/requests/\(id)", headers: ["Authorization": "Bearer \(key)"], timeout: .seconds(10)))
        }
        let own = try await trail(key)
        #expect(own.status == 200)
        #expect(String(decoding: own.body, as: UTF8.self).contains("\"calls\""))
        let foreign = try await trail(otherKey)
        #expect(foreign.status == 404)
        #expect(!String(decoding: foreign.body, as: UTF8.self).contains("Paris"))

        let ready = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/readyz", timeout: .seconds(10)))
        #expect(ready.status == 200)
        #expect(String(decoding: ready.body, as: UTF8.self) == #"{"status":"ready","database":"ok","kafka":"ok"}"#)

        // Prometheus metrics: the front door's requests and the stage's processed messages.
        let metrics = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics", timeout: .seconds(10)))
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(metrics.status == 200)
        #expect(text.contains("chorus_http_requests_total{") && text.contains("/v1/chat/completions"))
        #expect(text.contains("chorus_messages_processed_total{stage=\"ingest\"}"))
    }

    func theREADMECurlExamplesRunAsWritten(_ p: PipelineHarness) async throws {
        let readme = try String(contentsOfFile: "\(PipelineHarness.root)/README.md", encoding: .utf8)
        let section = try #require(readme.firstMatch(of: /<!-- http-examples[^\n]*-->\n```sh\n(?<script>[\s\S]*?)```\n<!-- \/http-examples -->/))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-e", "-c", String(section.script)]
        process.currentDirectoryURL = URL(fileURLWithPath: PipelineHarness.root)
        var environment = ProcessInfo.processInfo.environment
        environment["CHORUS_URL"] = "http://127.0.0.1:\(try #require(p.httpPort))"
        // SwiftPM holds its build lock while tests run: use the CLI as built, never rebuild it here.
        environment["CHORUS_NO_BUILD"] = "1"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        // A hung example fails the test instead of hanging it.
        let watchdog = Task { [process] in
            try? await Task.sleep(for: .seconds(180))
            if process.isRunning { process.terminate() }
        }
        defer { watchdog.cancel() }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(text.contains("\"object\":\"chat.completion\""))  // the fused completion
        #expect(text.contains("chat.completion.chunk") && text.contains("data: [DONE]"))  // the stream
        #expect(text.contains("\"object\":\"list\"") && text.contains("chorus/local"))  // the model list
        #expect(!text.contains("\"error\""))
    }

    func localModelsAnswerThroughGPUInference(_ p: PipelineHarness) async throws {
        let id = "local-\(UUID().uuidString.prefix(8))"
        let answer = try await p.ask(
            Self.request(id, #","preset":"local","options":{"max_tokens":24,"temperature":0}"#), id: id, timeout: .seconds(120))
        #expect(answer.status == .ok)
        #expect(answer.candidates.map(\.provider) == ["local", "local"])
        #expect(answer.candidates[0].content?.contains("Paris") == true)
        #expect(answer.answer?.isEmpty == false)
        let device = try await p.database.query("SELECT min(device_nanos) FROM responses WHERE request_id = \(id)").first!.decode(Int64?.self, at: 0)
        #expect((device ?? 0) > 0)  // local calls are metered in device time
        // Their usage rows carry the serverless metering: wall time, queue wait, start tier.
        var metered: [(Int64, Int64, Int64, String)] = []
        for _ in 0..<200 {
            metered = try await p.database.query(
                """
                SELECT device_nanos, wall_ms, queue_wait_ms, start_tier FROM usage_events
                WHERE request_id = \(id) AND provider = 'local' AND wall_ms IS NOT NULL
                """
            ).map { try $0.decode((Int64, Int64, Int64, String).self) }
            if metered.count == 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(metered.count == 3)  // two pool calls and the (local) judge
        for (deviceNanos, wallMs, queueWaitMs, tier) in metered {
            #expect(deviceNanos > 0 && deviceNanos <= wallMs * 1_000_000 + 1_000_000)
            #expect(queueWaitMs <= wallMs)
            #expect(["warm", "snapshot", "disk"].contains(tier))
        }
    }
}
