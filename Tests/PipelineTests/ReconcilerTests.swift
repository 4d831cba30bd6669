import Contracts
import Foundation
import Postgres
import ProviderSimulator
import Testing

/// Recovery driven by PostgreSQL: requests left without an answer (a crash between recording and
/// publishing, a judge killed mid-request, messages lost with the broker) are resumed by the
/// reconciler and answered exactly once, without paying a provider twice for one call.
@Suite(.serialized) struct ReconcilerTests {
    /// The reconciler scans often and resumes soon, so that recovery takes seconds here.
    static let settings = [
        "CHORUS_RECONCILER_INTERVAL": "200ms", "CHORUS_RECONCILER_GRACE": "300ms", "CHORUS_RECONCILER_MAX_RESUMES": "2",
    ]

    @Test func unansweredRequestsAreResumedAndAnsweredOnce() async throws {
        var configuration = ProviderSimulator.Configuration()
        configuration.latency = .milliseconds(20)
        try await ProviderSimulator.withRunning(configuration: configuration, responder: PipelineTests.judge) { simulator in
            simulator.setBehavior(ModelBehavior(content: "Paris is the capital of France."), for: "sim-a")
            simulator.setBehavior(ModelBehavior(content: "Lyon is the capital of France."), for: "sim-b")
            let pipeline = try await PipelineHarness(simulatorPort: try await simulator.port, settings: Self.settings)
            try await pipeline.use { pipeline in
                try await aRequestRecordedButNeverPublishedIsAnswered(pipeline, simulator)
                try await aRecordedResponseIsReusedNotPaidTwice(pipeline, simulator)
                try await aKilledJudgeLosesNoRequest(pipeline)
                try await aRequestNoResumeCompletesIsAnsweredFailedOnce(pipeline)
            }
        }
    }

    /// ingest recorded the request and died before publishing it: nothing is on any topic.
    func aRequestRecordedButNeverPublishedIsAnswered(_ p: PipelineHarness, _ simulator: ProviderSimulator) async throws {
        let id = "unpublished-\(UUID().uuidString.prefix(8))"
        simulator.resetStats()
        try await Self.recordOnly(p, id: id, acceptedSecondsAgo: 120)
        let answer = try await p.answer(id, timeout: .seconds(60))
        #expect(answer.status == .ok)
        #expect(answer.answer == "Paris is the capital of France.")
        #expect(simulator.stats.requests == 3)  // two pool calls and the judge, once each
        try await Self.expectExactlyOnce(p, id, calls: 3, billedCalls: 3)
    }

    /// A worker recorded a response, then everything after it was lost (the broker, the judge's state).
    func aRecordedResponseIsReusedNotPaidTwice(_ p: PipelineHarness, _ simulator: ProviderSimulator) async throws {
        let id = "recorded-\(UUID().uuidString.prefix(8))"
        simulator.resetStats()
        // One transaction: the reconciler must not see the request before its calls and response.
        try await Self.recordOnly(p, id: id, acceptedSecondsAgo: 120) { db in
            try await db.execute("""
                INSERT INTO calls (id, request_id, role, round, idx, model, target)
                VALUES (\(id + "/pool/0/0"), \(id), 'pool', 0, 0, 'sim-a', 'remote'), (\(id + "/pool/0/1"), \(id), 'pool', 0, 1, 'sim-b', 'remote')
                """)
            try await db.execute("""
                INSERT INTO responses (call_id, request_id, model, provider, content, latency_ms, prompt_tokens, completion_tokens)
                VALUES (\(id + "/pool/0/0"), \(id), 'sim-a', 'sim', 'Paris, from the record.', 12, 10, 5)
                """)
        }
        let answer = try await p.answer(id, timeout: .seconds(60))
        #expect(answer.status == .ok)
        #expect(answer.candidates.first?.content == "Paris, from the record.")
        #expect(simulator.stats["sim-a"].requests == 0)  // answered from the record
        #expect(simulator.stats["sim-b"].requests == 1)  // the missing call, dispatched again
        try await Self.expectExactlyOnce(p, id, calls: 3, billedCalls: 2)
    }

    /// kill -9 of the judge while it holds a request; the restarted judge (replay) or the
    /// reconciler (resume) answers it, once.
    func aKilledJudgeLosesNoRequest(_ p: PipelineHarness) async throws {
        let id = "judge-killed-\(UUID().uuidString.prefix(8))"
        p.kill9("judge")
        try await p.publish(Array(PipelineTests.request(id).utf8), key: id)
        // Both pool responses recorded: the judge's work is all that is missing.
        let deadline = ContinuousClock.now + .seconds(60)
        while try await p.database.query("SELECT count(*) FROM responses WHERE request_id = \(id)").first!.decode(Int.self, at: 0) < 2 {
            guard ContinuousClock.now < deadline else { throw HarnessError("the pool of \(id) did not answer") }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await p.restart("judge")
        let answer = try await p.answer(id, timeout: .seconds(90))
        #expect(answer.status == .ok)
        try await Self.expectExactlyOnce(p, id, calls: 3, billedCalls: 3)
    }

    /// With no judge at all, resumes cannot finish the request: after `max_resumes` it is answered
    /// `failed` with the reason, and the judge, back later, does not answer it again.
    func aRequestNoResumeCompletesIsAnsweredFailedOnce(_ p: PipelineHarness) async throws {
        let id = "given-up-\(UUID().uuidString.prefix(8))"
        p.kill9("judge")
        try await Self.recordOnly(p, id: id, acceptedSecondsAgo: 120, spanMs: 500)
        let answer = try await p.answer(id, timeout: .seconds(60))
        #expect(answer.status == .failed)
        #expect(answer.error?.code == "not_recovered")
        try await p.restart("judge")
        // The restarted judge replays the resumed plans and responses: it must add nothing.
        let next = "after-given-up-\(UUID().uuidString.prefix(8))"
        #expect(try await p.ask(PipelineTests.request(next), id: next, timeout: .seconds(60)).status == .ok)
        let again = try await p.answer(id)
        #expect(again.status == .failed)
        try await Self.expectExactlyOnce(p, id, calls: 2, billedCalls: 2)
    }

    // MARK: - Helpers

    /// Records a request as ingest does (its `requests` and `open_requests` rows), accepted
    /// `acceptedSecondsAgo` ago, and publishes nothing.
    /// `alongside` runs in the same transaction, so the reconciler sees the request with it or not at all.
    static func recordOnly(
        _ p: PipelineHarness, id: String, acceptedSecondsAgo: Int, spanMs: Int = 10_000,
        alongside: @escaping @Sendable (PostgresConnection) async throws -> Void = { _ in }
    ) async throws {
        let options = #"{"max_tokens":64,"temperature":0,"timeout_ms":5000,"quorum":1,"rounds":1}"#
        let messages = #"[{"role":"user","content":"What is the capital of France?"}]"#
        try await p.database.transaction { db in
            try await db.execute("""
                WITH recorded AS (
                    INSERT INTO requests (id, project_id, mode, preset, pool, judge, options, messages, content_hash, accepted_at, deadline_at)
                    VALUES (\(id), 'default', 'best-of', 'sims', ARRAY['sim-a', 'sim-b'], 'sim-judge', \(options)::jsonb, \(messages)::jsonb,
                            sha256(convert_to(\(id), 'UTF8')), now() - \(acceptedSecondsAgo) * interval '1 second',
                            now() - \(acceptedSecondsAgo) * interval '1 second' + interval '5 seconds')
                    RETURNING id, accepted_at
                )
                INSERT INTO open_requests (request_id, namespace, span_ms, next_check_at)
                SELECT id, \(p.topics.namespace), \(spanMs), accepted_at + \(spanMs) * interval '1 millisecond' FROM recorded
                """)
            try await alongside(db)
        }
    }

    /// One answer row, no open request left, each call recorded once with at most one response,
    /// and `billedCalls` calls billed exactly once each (no provider paid twice for one call).
    static func expectExactlyOnce(_ p: PipelineHarness, _ id: String, calls: Int?, billedCalls: Int) async throws {
        let (answers, open, callRows, responses, judgments) = try await p.database.query("""
            SELECT (SELECT count(*) FROM answers WHERE request_id = \(id)),
                   (SELECT count(*) FROM open_requests WHERE request_id = \(id)),
                   (SELECT count(*) FROM calls WHERE request_id = \(id)),
                   (SELECT count(*) FROM responses WHERE request_id = \(id)),
                   (SELECT count(*) FROM judgments WHERE request_id = \(id))
            """).first!.decode((Int, Int, Int, Int, Int).self)
        #expect(answers == 1)
        #expect(open == 0)
        #expect(judgments <= 1)
        #expect(responses <= callRows)
        if let calls { #expect(callRows == calls) }
        // Billing lags the answer: wait until it has caught up, then look for anything extra.
        func billed() async throws -> (events: Int, calls: Int) {
            try await p.database.query("""
                SELECT count(*), count(DISTINCT call_id) FROM usage_events WHERE request_id = \(id) AND billable
                """).first!.decode((Int, Int).self)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try await billed().events < billedCalls, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(500))
        let (events, distinctCalls) = try await billed()
        #expect(events == billedCalls)
        #expect(distinctCalls == billedCalls)
    }
}
