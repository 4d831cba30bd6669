import Contracts
import Foundation
import Postgres
import ProviderSimulator
import Testing

/// The embedded broker's keeper (scripts/kafka-keeper.py), on scripts/chaos.sh's private stack, with its
/// marks lowered there (rotate at 60 records in a partition when drained, at 150 regardless).
extension ChaosTests {
    @Test func keeperEmptiesTheBrokerWithoutLosingRequests() async throws {
        guard let data = ProcessInfo.processInfo.environment["CHORUS_EMBEDDED_DATA"] else {
            throw HarnessError("no private stack: run scripts/chaos.sh")
        }
        let keeperLog = "\(data)/logs/kafka-keeper.log"
        func log() -> String { (try? String(contentsOfFile: keeperLog, encoding: .utf8)) ?? "" }
        func rotations(_ kind: String) -> Int { log().components(separatedBy: "\n").filter { $0.contains("restarting the broker") && $0.contains(kind) }.count }

        // An empty broker, so that earlier tests' topics do not count, then the keeper.
        try await Self.stack("kafka-rotate")
        try? FileManager.default.removeItem(atPath: keeperLog)
        var configuration = ProviderSimulator.Configuration()
        configuration.latency = .milliseconds(30)
        try await ProviderSimulator.withRunning(configuration: configuration, responder: PipelineTests.judge) { simulator in
            simulator.setBehavior(ModelBehavior(content: "Paris is the capital of France."), for: "sim-a")
            simulator.setBehavior(ModelBehavior(content: "Lyon is the capital of France."), for: "sim-b")
            let pipeline = try await PipelineHarness(
                simulatorPort: try await simulator.port,
                settings: ["CHORUS_RECONCILER_INTERVAL": "500ms", "CHORUS_RECONCILER_GRACE": "2s"])
            try await pipeline.use { p in
                try await Self.waitUntilServing(p, number: 900)
                try await Self.stack("keeper-start")
                do {
                    try await Self.keeperScenarios(p, log: log, rotations: rotations)
                } catch {
                    print("--- kafka-keeper.log\n\(log())")
                    try? await Self.stack("keeper-stop")
                    throw error
                }
                try await Self.stack("keeper-stop")
                print("keeper: \(rotations("drained")) drained and \(rotations("forced")) forced rotations")
            }
        }
    }

    static func keeperScenarios(
        _ p: PipelineHarness, log: () -> String, rotations: (String) -> Int
    ) async throws {
        let project = "keeper-\(p.topics.namespace.suffix(8))"
        try await p.database.execute("INSERT INTO projects (id) VALUES (\(project)) ON CONFLICT DO NOTHING")
        func request(_ id: String) -> [UInt8] { chaosRequest(id, project: project) }
        func waitFor(_ what: String, within: Duration, _ condition: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + within
            while try await !condition() {
                guard ContinuousClock.now < deadline else { throw HarnessError("\(what) within \(within)") }
                try await Task.sleep(for: .milliseconds(200))
            }
        }

        // 1. Requests wait in the broker for a stopped ingest, past the rotation mark (one key: one
        //    partition). The keeper must wait for them; once ingest has read them, it empties the broker.
        p.terminate("ingest")
        let held = (0..<80).map { "\(project)-\($0)" }  // unansweredIDs reads the project from the id
        for id in held { try await p.publish(request(id), key: "keeper-held") }
        try await waitFor("the keeper to wait for ingest", within: .seconds(20)) { log().contains("rotation waits for") }
        #expect(rotations("") == 0, "the broker was emptied while ingest had not read its requests:\n\(log())")
        try await p.restart("ingest")
        try await waitFor("every held request answered (none published twice)", within: .seconds(60)) {
            try await unansweredIDs(p, held).isEmpty
        }
        try await waitFor("a rotation once drained", within: .seconds(30)) { rotations("drained") >= 1 }

        // 2. A steady load past the forced mark: the broker is emptied under it. What was in flight is
        //    resumed from PostgreSQL; a request the broker lost before ingest read it is published
        //    again by its client (the same id is the same request), as after any broker crash.
        let steady = (1000..<1300).map { "\(project)-\($0)" }
        for id in steady {
            try? await p.publish(request(id), key: id)
            try await Task.sleep(for: .milliseconds(50))
        }
        try await awaitAnswers(p, steady, project: project)
        #expect(try await unansweredIDs(p, steady).isEmpty, "requests without an answer after forced rotations")
        #expect(rotations("forced") >= 1, "no forced rotation under the steady load:\n\(log())")
        try await Task.sleep(for: .seconds(2))  // billing catches up
        let duplicates = try await p.database.query("""
            SELECT count(*) FROM (SELECT call_id FROM usage_events WHERE project_id = \(project) AND billable
                                  GROUP BY call_id HAVING count(*) > 1) d
            """).first!.decode(Int.self, at: 0)
        #expect(duplicates == 0, "\(duplicates) model calls billed twice")
    }
}
