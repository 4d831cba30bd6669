import Contracts
import Foundation
import Postgres
import ProviderSimulator
import Synchronization
import Testing

/// `full` or `short` when scripts/chaos.sh runs the suite; nil otherwise (the suite is skipped).
let chaosMode = ProcessInfo.processInfo.environment["CHORUS_CHAOS"]

/// The fault suite (`make chaos`, a short form in `make test`): under a steady load through the
/// provider simulator, one fault at a time, each followed by a check of the invariants.
///
/// Runs only from scripts/chaos.sh (`CHORUS_CHAOS=full|short`), on a private broker and database
/// that it may restart and crash.
@Suite(.serialized, .enabled(if: chaosMode != nil)) struct ChaosTests {
    static var mode: String? { chaosMode }

    /// A fault and how to undo it.
    struct Scenario: Sendable {
        var name: String
        var inject: @Sendable (PipelineHarness, ProviderSimulator) async throws -> Void
        var heal: @Sendable (PipelineHarness, ProviderSimulator) async throws -> Void = { _, _ in }
    }

    /// What one scenario left behind.
    struct Outcome: Sendable {
        var name: String
        var requests: Int
        var answered: Int
        var lost: Int
        var duplicates: Int
        var p99RecoverySeconds: Double
        var deadLetters: Int
        var billedMatchesLedger: Bool
        var stuck: Int
    }

    static func scenarios() -> [Scenario] {
        func killNine(_ service: String) -> Scenario {
            Scenario(name: "kill -9 \(service)") { p, _ in
                p.kill9(service)
                try await Task.sleep(for: .seconds(1))
                try await p.restart(service)
            }
        }
        let brokerLoss = Scenario(name: "broker kill -9 + restart (topics lost)") { _, _ in try await stack("kafka-crash") }
        let databaseCrash = Scenario(name: "pg_ctl stop -m immediate") { _, _ in try await stack("pg-crash") }
        func faulty(_ name: String, _ steps: [ScriptStep]) -> Scenario {
            Scenario(name: name, inject: { _, simulator in _ = simulator.enqueue(steps, for: "sim-b") },
                     heal: { _, simulator in simulator.clearScript(for: "sim-b") })
        }
        let modelDown = Scenario(
            name: "sim-b down all run",
            inject: { _, simulator in simulator.setBehavior(ModelBehavior(content: "Lyon.", errorRate: 1, errorStatus: 503), for: "sim-b") },
            heal: { _, simulator in simulator.setBehavior(ModelBehavior(content: "Lyon is the capital of France."), for: "sim-b") })
        let stages = ["ingest", "dispatcher", "provider-worker", "judge", "billing"]
        let twoInstances = Scenario(name: "two instances per stage, one killed") { p, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stage in stages { group.addTask { try await p.startSecond(stage) } }
                try await group.waitForAll()
            }
            for stage in stages { p.kill9(stage) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stage in stages { group.addTask { try await p.restart(stage) } }
                try await group.waitForAll()
            }
            for stage in stages { p.kill9("\(stage)-2") }
        }
        let gracefulRestart = Scenario(name: "SIGTERM of every service + restart") { p, _ in
            for service in PipelineHarness.services { p.terminate(service) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in PipelineHarness.services { group.addTask { try await p.restart(service) } }
                try await group.waitForAll()
            }
        }
        if mode == "short" { return [killNine("judge"), killNine("provider-worker"), brokerLoss] }
        return PipelineHarness.services.map(killNine) + [
            brokerLoss, databaseCrash,
            faulty("provider 500s", Array(repeating: .fail(500), count: 40)),
            faulty("provider hangs past the deadline", Array(repeating: .hang, count: 10)),
            faulty("provider malformed JSON", Array(repeating: .malformed, count: 20)),
            faulty("provider cuts the SSE stream", Array(repeating: .cutStream, count: 20)),
            modelDown, twoInstances, gracefulRestart,
        ]
    }

    @Test func faultSuite() async throws {
        var configuration = ProviderSimulator.Configuration()
        configuration.latency = .milliseconds(30)
        try await ProviderSimulator.withRunning(configuration: configuration, responder: PipelineTests.judge) { simulator in
            simulator.setBehavior(ModelBehavior(content: "Paris is the capital of France."), for: "sim-a")
            simulator.setBehavior(ModelBehavior(content: "Lyon is the capital of France."), for: "sim-b")
            let pipeline = try await PipelineHarness(
                simulatorPort: try await simulator.port,
                settings: ["CHORUS_RECONCILER_INTERVAL": "500ms", "CHORUS_RECONCILER_GRACE": "2s"])
            var outcomes: [Outcome] = []
            try await pipeline.use { pipeline in
                for (number, scenario) in Self.scenarios().enumerated() {
                    outcomes.append(try await Self.run(scenario, number: number, pipeline, simulator))
                }
            }
            Self.printTable(outcomes)
            for outcome in outcomes {
                #expect(outcome.lost == 0, "\(outcome.name): \(outcome.lost) requests without an answer")
                #expect(outcome.duplicates == 0, "\(outcome.name): \(outcome.duplicates) duplicates")
                #expect(outcome.stuck == 0, "\(outcome.name): \(outcome.stuck) requests still open")
                #expect(outcome.billedMatchesLedger, "\(outcome.name): billed total differs from the recorded billable calls")
                #expect(outcome.deadLetters == 1, "\(outcome.name): \(outcome.deadLetters) dead letters, only the injected poison expected")
            }
        }
    }

    // MARK: - One scenario

    static let load = 30
    static let loadInterval = Duration.milliseconds(200)

    static func run(_ scenario: Scenario, number: Int, _ p: PipelineHarness, _ simulator: ProviderSimulator) async throws -> Outcome {
        try await waitUntilServing(p, number: number)
        let project = "chaos-\(p.topics.namespace.suffix(8))-\(number)"
        try await p.database.execute("INSERT INTO projects (id) VALUES (\(project)) ON CONFLICT DO NOTHING")
        let deadLettersBefore = deadLetterCount(p)
        let ids = (0..<load).map { "\(project)-\($0)" }
        func request(_ id: String) -> [UInt8] { chaosRequest(id, project: project) }
        // The steady load, with the fault a third of the way through, and one poison message.
        let sentAt = SendTimes()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Sends overlap, so a broker outage does not slow the load down; a send the broker
                // refuses mid-fault is published again below, as a client would.
                await withTaskGroup(of: Void.self) { sends in
                    for id in ids {
                        sentAt.times.withLock { $0[id] = Date().timeIntervalSince1970 }
                        sends.addTask { try? await p.publish(request(id), key: id) }
                        try? await Task.sleep(for: loadInterval)
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: loadInterval * (load / 3))
                try await p.publish(Array("{not json \(project)".utf8))
                try await scenario.inject(p, simulator)
            }
            try await group.waitForAll()
        }
        try await scenario.heal(p, simulator)

        try await awaitAnswers(p, ids, project: project)
        try await Task.sleep(for: .seconds(2))  // billing catches up; anything extra shows up now
        // Time to answer from the client's first send (a request may wait in the broker while ingest is down).
        let answeredAt = try await p.database.query("""
            SELECT request_id, extract(epoch FROM answered_at)::float8 FROM answers WHERE project_id = \(project)
            """).map { try $0.decode((String, Double).self) }
        let sent = sentAt.times.withLock { $0 }
        let waits = answeredAt.compactMap { id, at in sent[id].map { at - $0 } }.sorted()
        let p99 = waits.isEmpty ? 0 : waits[min(waits.count - 1, Int((Double(waits.count) * 0.99).rounded(.up)) - 1)]
        let (answered, stuck, duplicates, spent, ledger) = try await p.database.query("""
            SELECT (SELECT count(*) FROM answers WHERE project_id = \(project) AND status IN ('ok', 'partial', 'failed')),
                   (SELECT count(*) FROM open_requests o JOIN requests r ON r.id = o.request_id WHERE r.project_id = \(project)),
                   (SELECT count(*) FROM (SELECT call_id FROM usage_events WHERE project_id = \(project) AND billable
                                          GROUP BY call_id HAVING count(*) > 1) d),
                   (SELECT spent_usd::text FROM projects WHERE id = \(project)),
                   (SELECT coalesce(sum(cost_usd), 0)::text FROM usage_events WHERE project_id = \(project) AND billable)
            """).first!.decode((Int, Int, Int, String, String).self)
        return Outcome(
            name: scenario.name, requests: load, answered: answered, lost: load - answered, duplicates: duplicates,
            p99RecoverySeconds: p99, deadLetters: deadLetterCount(p) - deadLettersBefore,
            billedMatchesLedger: Money(decimal: spent) == Money(decimal: ledger), stuck: stuck)
    }

    /// Each scenario starts from a healthy pipeline: the previous fault's after-effects (an open
    /// circuit breaker of the shared `sim` provider, a group still rebalancing) are over once a
    /// probe request is answered `ok`.
    static func waitUntilServing(_ p: PipelineHarness, number: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(90)
        for attempt in 0... {
            let id = "probe-\(p.topics.namespace.suffix(8))-\(number)-\(attempt)"
            if (try? await p.ask(PipelineTests.request(id), id: id, timeout: .seconds(20)))?.status == .ok { return }
            guard ContinuousClock.now < deadline else { throw HarnessError("the pipeline does not serve again before scenario \(number)") }
            try await Task.sleep(for: .seconds(2))
        }
    }

    /// A request of a chaos scenario: one question, a 4 s deadline, in `project`.
    static func chaosRequest(_ id: String, project: String) -> [UInt8] {
        Array(#"{"id":"\#(id)","project":"\#(project)","messages":[{"role":"user","content":"What is the capital of France?"}],"options":{"timeout_ms":4000}}"#.utf8)
    }

    /// Waits up to 150 s for every request to be answered. A client whose request the broker lost
    /// before ingest read it publishes it again (the same id is the same request); so does this, every 10 s.
    static func awaitAnswers(_ p: PipelineHarness, _ ids: [String], project: String) async throws {
        let deadline = ContinuousClock.now + .seconds(150)
        var lastRepublish = ContinuousClock.now
        while ContinuousClock.now < deadline {
            let unanswered = try await unansweredIDs(p, ids)
            if unanswered.isEmpty { return }
            if ContinuousClock.now - lastRepublish > .seconds(10) {
                for id in unanswered { try? await p.publish(chaosRequest(id, project: project), key: id) }
                lastRepublish = ContinuousClock.now
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    static func unansweredIDs(_ p: PipelineHarness, _ ids: [String]) async throws -> [String] {
        let project = String(ids[0].prefix(upTo: ids[0].lastIndex(of: "-")!))
        let answered = Set(try await p.database.query("SELECT request_id FROM answers WHERE project_id = \(project)")
            .map { try $0.decode(String.self, at: 0) })
        return ids.filter { !answered.contains($0) }
    }

    /// Dead letters written by any service so far (each is logged once, when it is decided).
    static func deadLetterCount(_ p: PipelineHarness) -> Int {
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: p.directory)) ?? []).filter { $0.hasSuffix(".log") }
        return logs.reduce(0) { $0 + p.log(of: String($1.dropLast(4))).components(separatedBy: "dead-lettered").count - 1 }
    }

    /// Has scripts/chaos.sh run a scripts/stack.sh command on the private stack, and waits for it.
    static func stack(_ command: String) async throws {
        guard let control = ProcessInfo.processInfo.environment["CHORUS_CHAOS_CONTROL"] else {
            throw HarnessError("no private stack: run scripts/chaos.sh")
        }
        let id = UUID().uuidString
        try command.write(toFile: "\(control)/\(id).cmd.tmp", atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(atPath: "\(control)/\(id).cmd.tmp", toPath: "\(control)/\(id).cmd")
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let status = try? String(contentsOfFile: "\(control)/\(id).done", encoding: .utf8) {
                guard status.trimmingCharacters(in: .whitespacesAndNewlines) == "0" else {
                    throw HarnessError("scripts/stack.sh \(command) failed (see \(control)/stack.log)")
                }
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("scripts/stack.sh \(command) did not finish within 120 s")
    }

    static func printTable(_ outcomes: [Outcome]) {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        print(pad("scenario", 40) + pad("requests", 10) + pad("answered", 10) + pad("lost", 6) + pad("duplicates", 12) + "p99 send→answer (s)")
        for o in outcomes {
            print(pad(o.name, 40) + pad("\(o.requests)", 10) + pad("\(o.answered)", 10) + pad("\(o.lost)", 6)
                + pad("\(o.duplicates)", 12) + String(format: "%.1f", o.p99RecoverySeconds))
        }
        let requests = outcomes.reduce(0) { $0 + $1.requests }
        let lost = outcomes.reduce(0) { $0 + $1.lost }
        let duplicates = outcomes.reduce(0) { $0 + $1.duplicates }
        print("chaos: scenarios=\(outcomes.count) requests=\(requests) lost=\(lost) duplicates=\(duplicates)")
    }
}

/// When each request of a scenario was first sent (seconds since 1970).
final class SendTimes: Sendable {
    let times = Mutex<[String: Double]>([:])
}
