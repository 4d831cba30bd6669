import Contracts
import Foundation
import Postgres

/// Reads and writes of the stored trail (requests, calls, responses, judgments, answers) shared by
/// several stages. Every write is idempotent: a redelivered message changes nothing.
public struct TrailStore: Sendable {
    public let database: PostgresPool

    public init(database: PostgresPool) {
        self.database = database
    }

    /// Records calls before they are published; returns how many were new.
    @discardableResult
    public func recordCalls(_ calls: [(call: ModelCall, target: CallTarget)]) async throws -> Int {
        guard !calls.isEmpty else { return 0 }
        var batch = PostgresBatchInsert(
            table: "calls", columns: ["id", "request_id", "role", "round", "idx", "model", "provider", "target"],
            onConflict: .doNothing)
        for (call, target) in calls {
            try batch.append([
                call.callID, call.requestID, call.role.rawValue, call.round, call.index, call.model, call.provider,
                target.rawValue,
            ])
        }
        return try await database.insert(batch)
    }

    /// The response already recorded for a call (a redelivered call is answered from here, not re-run).
    public func storedResponse(callID: String) async throws -> ModelResponse? {
        let rows = try await database.query("""
            SELECT r.request_id, c.role, c.round, c.idx, r.model, r.provider, r.content, r.error_code, r.error_message,
                   r.finish_reason, r.latency_ms, r.prompt_tokens, r.completion_tokens, r.cached_prompt_tokens,
                   r.device_nanos, r.cold_start, r.attempts
            FROM responses r JOIN calls c ON c.id = r.call_id WHERE r.call_id = \(callID)
            """)
        guard let row = rows.first else { return nil }
        let errorCode = try row.decode(String?.self, at: 7)
        return ModelResponse(
            callID: callID, requestID: try row.decode(String.self, at: 0),
            role: CallRole(rawValue: try row.decode(String.self, at: 1)) ?? .pool, round: try row.decode(Int.self, at: 2),
            index: try row.decode(Int.self, at: 3), model: try row.decode(String.self, at: 4),
            provider: try row.decode(String?.self, at: 5), content: try row.decode(String?.self, at: 6),
            error: errorCode.map { ErrorInfo(code: $0, message: (try? row.decode(String?.self, at: 8)) ?? "") },
            finishReason: try row.decode(String?.self, at: 9), latencyMs: try row.decode(Int64.self, at: 10),
            usage: TokenUsage(
                promptTokens: try row.decode(Int.self, at: 11), completionTokens: try row.decode(Int.self, at: 12),
                cachedPromptTokens: try row.decode(Int.self, at: 13)),
            deviceNanos: try row.decode(Int64?.self, at: 14), coldStart: try row.decode(Bool?.self, at: 15),
            attempts: try row.decode(Int.self, at: 16))
    }

    /// Records a worker's response with the usage events it is about to publish (first write wins).
    public func recordResponse(_ r: ModelResponse, usage: [UsageEvent] = []) async throws {
        let events = usage.isEmpty ? nil : String(decoding: try JSONEncoder().encode(usage), as: UTF8.self)
        try await database.execute("""
            INSERT INTO responses (call_id, request_id, model, provider, content, error_code, error_message, finish_reason,
                                   latency_ms, prompt_tokens, completion_tokens, cached_prompt_tokens, device_nanos, cold_start, attempts,
                                   usage_events)
            VALUES (\(r.callID), \(r.requestID), \(r.model), \(r.provider), \(r.error == nil ? (r.content ?? "") : nil),
                    \(r.error?.code), \(r.error?.message), \(r.finishReason), \(r.latencyMs), \(r.usage.promptTokens),
                    \(r.usage.completionTokens), \(r.usage.cachedPromptTokens), \(r.deviceNanos), \(r.coldStart), \(r.attempts),
                    \(events)::jsonb)
            ON CONFLICT (call_id) DO NOTHING
            """)
    }

    /// The usage events recorded with a call's response (none for an unanswered call).
    public func storedUsage(callID: String) async throws -> [UsageEvent] {
        let rows = try await database.query("SELECT usage_events::text FROM responses WHERE call_id = \(callID)")
        guard let text = try rows.first?.decode(String?.self, at: 0) else { return [] }
        return try JSONDecoder().decode([UsageEvent].self, from: Data(text.utf8))
    }

    /// Records the answer (and the judgment, when there is one) in one transaction; first write wins.
    /// Returns false when the request already had an answer.
    @discardableResult
    public func recordAnswer(_ answer: Answer, rawVerdict: String? = nil) async throws -> Bool {
        let payload = String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
        return try await database.transaction { connection in
            let inserted = try await connection.execute("""
                INSERT INTO answers (request_id, project_id, status, answer, error_code, error_message, latency_ms, payload)
                VALUES (\(answer.id), \(answer.project), \(answer.status.rawValue), \(answer.answer), \(answer.error?.code),
                        \(answer.error?.message), \(answer.latencyMs), \(payload)::jsonb)
                ON CONFLICT (request_id) DO NOTHING
                """)
            // The request is settled: its estimate no longer holds budget (billing has or will have its cost).
            try await connection.execute("DELETE FROM budget_holds WHERE request_id = \(answer.id)")
            if inserted == 1, let verdict = answer.verdict, answer.status != .rejected {
                try await connection.execute("""
                    INSERT INTO judgments (request_id, method, chosen, judge_model, rationale, raw_verdict)
                    VALUES (\(answer.id), \(verdict.method), \(verdict.chosen), \(verdict.judgeModel), \(verdict.rationale), \(rawVerdict))
                    ON CONFLICT (request_id) DO NOTHING
                    """)
            }
            return inserted == 1
        }
    }

    /// The published answer of a request, as JSON, if it has one.
    public func storedAnswer(requestID: String) async throws -> String? {
        try await database.query("SELECT payload::text FROM answers WHERE request_id = \(requestID)").first?.decode(String.self, at: 0)
    }
}

/// Which worker topic a call goes to.
public enum CallTarget: String, Sendable {
    case remote, local

    public var topic: String { self == .remote ? Topics.remoteCalls : Topics.localCalls }
}

extension UsageEvent {
    /// The usage event of one attempt: its id is `<call id>#<attempt>`, the billing idempotency key.
    public static func attempt(
        _ attempt: Int, of call: ModelCall, provider: String, usage: TokenUsage, deviceNanos: Int64, billable: Bool,
        atMs: Int64
    ) -> UsageEvent {
        UsageEvent(
            eventID: "\(call.callID)#\(attempt)", requestID: call.requestID, project: call.project, callID: call.callID,
            role: call.role, round: call.round, model: call.model, provider: provider, usage: usage, deviceNanos: deviceNanos,
            billable: billable, occurredAtMs: atMs)
    }
}

extension TrailStore {
    /// Serves a model call at most once, for the workers.
    ///
    /// A call whose response is already recorded (a redelivery after a crash) is answered from the
    /// record, so the model is never run or paid for twice. Otherwise `run` produces the response and
    /// its usage events; the response is recorded first, then the usage and the response are published.
    public func serve(
        _ call: ModelCall,
        publish: @Sendable (_ value: any Encodable & Sendable, _ topic: String, _ key: String) async throws -> Void,
        run: () async -> (response: ModelResponse, usage: [UsageEvent])
    ) async throws {
        if let stored = try await storedResponse(callID: call.callID) {
            // The first delivery may have died before publishing its usage: billing drops repeats.
            for event in try await storedUsage(callID: call.callID) { try await publish(event, Topics.usage, call.requestID) }
            try await publish(FusionEvent.response(stored), Topics.fusion, call.requestID)
            return
        }
        let (response, usage) = await run()
        try await recordResponse(response, usage: usage)
        for event in usage { try await publish(event, Topics.usage, call.requestID) }
        try await publish(FusionEvent.response(response), Topics.fusion, call.requestID)
    }
}
