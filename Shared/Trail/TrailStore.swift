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
        try await storedResponses(callIDs: [callID])[callID]
    }

    /// The responses recorded for any of `callIDs`, by call id: one round trip for many calls.
    public func storedResponses(callIDs: [String]) async throws -> [String: ModelResponse] {
        guard !callIDs.isEmpty else { return [:] }
        let ids = String(decoding: try JSONEncoder().encode(callIDs), as: UTF8.self)
        let rows = try await database.query("""
            SELECT r.call_id, r.request_id, c.role, c.round, c.idx, r.model, r.provider, r.content, r.error_code, r.error_message,
                   r.finish_reason, r.latency_ms, r.prompt_tokens, r.completion_tokens, r.cached_prompt_tokens,
                   r.device_nanos, r.cold_start, r.attempts
            FROM responses r JOIN calls c ON c.id = r.call_id
            WHERE r.call_id IN (SELECT jsonb_array_elements_text(\(ids)::jsonb))
            """)
        var found: [String: ModelResponse] = [:]
        for row in rows {
            let callID = try row.decode(String.self, at: 0)
            let errorCode = try row.decode(String?.self, at: 8)
            found[callID] = ModelResponse(
                callID: callID, requestID: try row.decode(String.self, at: 1),
                role: CallRole(rawValue: try row.decode(String.self, at: 2)) ?? .pool, round: try row.decode(Int.self, at: 3),
                index: try row.decode(Int.self, at: 4), model: try row.decode(String.self, at: 5),
                provider: try row.decode(String?.self, at: 6), content: try row.decode(String?.self, at: 7),
                error: errorCode.map { ErrorInfo(code: $0, message: (try? row.decode(String?.self, at: 9)) ?? "") },
                finishReason: try row.decode(String?.self, at: 10), latencyMs: try row.decode(Int64.self, at: 11),
                usage: TokenUsage(
                    promptTokens: try row.decode(Int.self, at: 12), completionTokens: try row.decode(Int.self, at: 13),
                    cachedPromptTokens: try row.decode(Int.self, at: 14)),
                deviceNanos: try row.decode(Int64?.self, at: 15), coldStart: try row.decode(Bool?.self, at: 16),
                attempts: try row.decode(Int.self, at: 17))
        }
        return found
    }

    /// Records a worker's response with the usage events it is about to publish (first write wins).
    public func recordResponse(_ response: ModelResponse, usage: [UsageEvent] = []) async throws {
        try await recordResponses([RecordedResponse(response: response, usage: usage)])
    }

    /// Records many responses in one statement (first write wins for each call).
    ///
    /// The rows travel as one JSON parameter, unpacked by `jsonb_to_recordset`: one round trip and
    /// one commit whatever their number.
    public func recordResponses(_ responses: [RecordedResponse]) async throws {
        guard !responses.isEmpty else { return }
        let rows = try responses.map { recorded -> ResponseRow in
            let r = recorded.response
            return ResponseRow(
                call_id: r.callID, request_id: r.requestID, model: r.model, provider: r.provider,
                content: r.error == nil ? (r.content ?? "") : nil, error_code: r.error?.code, error_message: r.error?.message,
                finish_reason: r.finishReason, latency_ms: r.latencyMs, prompt_tokens: r.usage.promptTokens,
                completion_tokens: r.usage.completionTokens, cached_prompt_tokens: r.usage.cachedPromptTokens,
                device_nanos: r.deviceNanos, cold_start: r.coldStart, attempts: r.attempts,
                usage_events: recorded.usage.isEmpty ? nil : String(decoding: try JSONEncoder().encode(recorded.usage), as: UTF8.self))
        }
        let json = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        try await database.execute("""
            INSERT INTO responses (call_id, request_id, model, provider, content, error_code, error_message, finish_reason,
                                   latency_ms, prompt_tokens, completion_tokens, cached_prompt_tokens, device_nanos, cold_start, attempts,
                                   usage_events)
            SELECT call_id, request_id, model, provider, content, error_code, error_message, finish_reason,
                   latency_ms, prompt_tokens, completion_tokens, cached_prompt_tokens, device_nanos, cold_start, attempts,
                   usage_events::jsonb
            FROM jsonb_to_recordset(\(json)::jsonb) AS v(
                call_id text, request_id text, model text, provider text, content text, error_code text, error_message text,
                finish_reason text, latency_ms bigint, prompt_tokens integer, completion_tokens integer,
                cached_prompt_tokens integer, device_nanos bigint, cold_start boolean, attempts integer, usage_events text)
            ON CONFLICT (call_id) DO NOTHING
            """)
    }

    /// The usage events recorded with a call's response (none for an unanswered call).
    public func storedUsage(callID: String) async throws -> [UsageEvent] {
        let rows = try await database.query("SELECT usage_events::text FROM responses WHERE call_id = \(callID)")
        guard let text = try rows.first?.decode(String?.self, at: 0) else { return [] }
        return try JSONDecoder().decode([UsageEvent].self, from: Data(text.utf8))
    }

    /// Records the answer (and the judgment, when there is one); first write wins.
    /// Returns false when the request already had an answer.
    @discardableResult
    public func recordAnswer(_ answer: Answer, rawVerdict: String? = nil) async throws -> Bool {
        try await recordAnswers([(answer, rawVerdict)])[0]
    }

    /// Records many answers in one statement (one round trip, one commit): each answer (its trigger
    /// closes the open request), its request's budget hold released (billing has or will have its
    /// cost), and its judgment. First write wins; returns, in order, whether each answer was recorded
    /// (false: its request had an answer already, or an earlier one in this batch).
    public func recordAnswers(_ answers: [(answer: Answer, rawVerdict: String?)]) async throws -> [Bool] {
        guard !answers.isEmpty else { return [] }
        var seen = Set<String>()
        let rows = answers.filter { seen.insert($0.answer.id).inserted }.map { AnswerRow($0.answer, rawVerdict: $0.rawVerdict) }
        let json = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        let recorded = Set(try await database.query("""
            WITH v AS (
                SELECT * FROM jsonb_to_recordset(\(json)::jsonb) AS v(
                    request_id text, project_id text, status text, answer text, error_code text, error_message text,
                    latency_ms bigint, payload jsonb, method text, chosen integer, judge_model text, rationale text, raw_verdict text)
            ), answered AS (
                INSERT INTO answers (request_id, project_id, status, answer, error_code, error_message, latency_ms, payload)
                SELECT request_id, project_id, status, answer, error_code, error_message, latency_ms, payload FROM v
                ON CONFLICT (request_id) DO NOTHING
                RETURNING request_id
            ), released AS (
                DELETE FROM budget_holds WHERE request_id IN (SELECT request_id FROM v)
            ), judged AS (
                INSERT INTO judgments (request_id, method, chosen, judge_model, rationale, raw_verdict)
                SELECT v.request_id, v.method, v.chosen, v.judge_model, v.rationale, v.raw_verdict
                FROM v JOIN answered USING (request_id) WHERE v.method IS NOT NULL
                ON CONFLICT (request_id) DO NOTHING
            )
            SELECT request_id FROM answered
            """).map { try $0.decode(String.self, at: 0) })
        var first = Set<String>()
        return answers.map { recorded.contains($0.answer.id) && first.insert($0.answer.id).inserted }
    }

    /// The published answer of a request, as JSON, if it has one.
    public func storedAnswer(requestID: String) async throws -> String? {
        try await storedAnswers(requestIDs: [requestID])[requestID]
    }

    /// The published answers of any of `requestIDs`, as JSON, by request id: one round trip for many.
    public func storedAnswers(requestIDs: [String]) async throws -> [String: String] {
        guard !requestIDs.isEmpty else { return [:] }
        let ids = String(decoding: try JSONEncoder().encode(requestIDs), as: UTF8.self)
        var found: [String: String] = [:]
        for row in try await database.query("""
            SELECT request_id, payload::text FROM answers WHERE request_id IN (SELECT jsonb_array_elements_text(\(ids)::jsonb))
            """) {
            let (id, payload) = try row.decode((String, String).self)
            found[id] = payload
        }
        return found
    }
}

/// One `responses` row as `jsonb_to_recordset` reads it (keys are the column names).
private struct ResponseRow: Encodable {
    var call_id: String
    var request_id: String
    var model: String
    var provider: String?
    var content: String?
    var error_code: String?
    var error_message: String?
    var finish_reason: String?
    var latency_ms: Int64
    var prompt_tokens: Int
    var completion_tokens: Int
    var cached_prompt_tokens: Int
    var device_nanos: Int64?
    var cold_start: Bool?
    var attempts: Int
    /// The usage events as JSON text (cast to jsonb in the statement), nil when there are none.
    var usage_events: String?
}

/// One answer as the batched answer statement reads it (`jsonb_to_recordset`: keys are its columns).
private struct AnswerRow: Encodable {
    var request_id: String
    /// None for a rejection that names no (known) project.
    var project_id: String?
    var status: String
    var answer: String?
    var error_code: String?
    var error_message: String?
    var latency_ms: Int64
    /// The answer as published.
    var payload: Answer
    /// The judgment, for an answer that has a verdict and was not a refusal.
    var method: String?
    var chosen: Int?
    var judge_model: String?
    var rationale: String?
    var raw_verdict: String?

    init(_ answer: Answer, rawVerdict: String?) {
        request_id = answer.id
        project_id = answer.project
        status = answer.status.rawValue
        self.answer = answer.answer
        error_code = answer.error?.code
        error_message = answer.error?.message
        latency_ms = answer.latencyMs
        payload = answer
        let verdict = answer.status == .rejected ? nil : answer.verdict
        method = verdict?.method
        chosen = verdict?.chosen
        judge_model = verdict?.judgeModel
        rationale = verdict?.rationale
        raw_verdict = verdict == nil ? nil : rawVerdict
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

