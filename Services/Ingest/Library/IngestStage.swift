import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Logging
import Postgres
import Synchronization
import Trail

/// ingest: `chorus.requests` → validated requests on `chorus.accepted`, recorded in `requests`;
/// bad requests answered `rejected`; undecodable bytes dead-lettered.
public final class IngestStage: Sendable {
    private let validator: RequestValidator
    private let infrastructure: StageInfrastructure
    private let projects = Mutex(ProjectCache())
    /// The requests of all messages in flight recorded together: one statement per batch.
    private let intake: Batcher<RequestRow, Bool>

    public init(validator: RequestValidator, infrastructure: StageInfrastructure) {
        self.validator = validator
        self.infrastructure = infrastructure
        let database = infrastructure.database
        let namespace = Topics.current.namespace
        intake = Batcher(maxBatch: 256) { rows in try await Self.record(rows, namespace: namespace, database: database) }
    }

    private var database: PostgresPool { infrastructure.database }

    /// What became of a submitted request.
    public enum Submission: Sendable {
        /// Validated, recorded and passed to the dispatcher.
        case accepted(FusionRequest)
        /// The same request again (same id, same content): nothing new was started.
        case repeated(id: String)
        /// Refused; the answer (already recorded and published) says why.
        case rejected(Answer)
        /// Not a JSON object at all.
        case undecodable(reason: String)
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        // StageLoop continued the message's trace (or started one): record and pass on this hop's span.
        let traceParent = MessageContext.current?.trace.traceParent
            ?? message.header(Headers.traceParent).map { String(decoding: $0, as: UTF8.self) }
        if case .undecodable(let reason) = try await submit(message.value, traceParent: traceParent) {
            throw StageFailure.poison("undecodable_request", reason)
        }
        return .done
    }

    /// Validates, records and dispatches one request, from Kafka or the HTTP front door.
    public func submit(_ bytes: [UInt8], traceParent: String?) async throws -> Submission {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await refreshProjectsIfStale()
        var outcome = validate(bytes, now: now)
        if case .rejected(_, _, let error) = outcome, error.code == "unknown_project" {
            // A project created a moment ago: look again before refusing.
            try await refreshProjects()
            outcome = validate(bytes, now: now)
        }
        switch outcome {
        case .undecodable(let reason):
            return .undecodable(reason: reason)
        case .rejected(let id, let project, let error):
            let answer = Answer.rejected(id: id, project: project, error: error, latencyMs: 0)
            try await TrailStore(database: database).recordAnswer(answer)
            try await infrastructure.publish(answer, to: Topics.answers, key: id)
            return .rejected(answer)
        case .accepted(let request):
            return try await accept(request, traceParent: traceParent) ? .accepted(request) : .repeated(id: request.id)
        }
    }

    private func validate(_ bytes: [UInt8], now: Int64) -> RequestValidator.Outcome {
        let known = projects.withLock { $0.ids }
        return validator.validate(bytes, nowMs: now, projectExists: { known.contains($0) }, makeID: { "req-" + UUID().uuidString.lowercased() })
    }

    /// Records and dispatches a request; false when its id was already recorded with the same content.
    private func accept(_ request: FusionRequest, traceParent: String?) async throws -> Bool {
        var identity = request
        identity.acceptedAtMs = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let canonical = String(decoding: try encoder.encode(identity), as: UTF8.self)
        let inserted = try await intake.submit(RequestRow(request, canonical: canonical, traceParent: traceParent))
        if !inserted {
            // The id is known: the same request again, or another one reusing its id.
            let rows = try await database.query("""
                SELECT r.content_hash = sha256(convert_to(\(canonical)::text, 'UTF8')), a.payload::text
                FROM requests r LEFT JOIN answers a ON a.request_id = r.id WHERE r.id = \(request.id)
                """)
            guard let row = rows.first else { return false }
            let (same, answer) = try row.decode((Bool, String?).self)
            guard same else {
                throw StageFailure.poison(
                    "id_reused", "request id \(request.id) was already used for a request with different content")
            }
            // A repeat of a finished request gets its answer again; one still in flight gets nothing new.
            if let answer {
                _ = try await infrastructure.producer.send(
                    topic: Topics.answers, key: Array(request.id.utf8), value: Array(answer.utf8))
            }
            return false
        }
        var headers: [KafkaHeader] = []
        if let traceParent { headers.append(KafkaHeader(name: Headers.traceParent, value: Array(traceParent.utf8))) }
        try await infrastructure.publish(request, to: Topics.accepted, key: request.id, headers: headers)
        return true
    }

    /// Records requests, each with its `open_requests` row (what the reconciler watches), in one
    /// statement; returns, in order, whether each was new (false: its id was recorded before).
    static func record(_ rows: [RequestRow], namespace: String, database: PostgresPool) async throws -> [Bool] {
        // One row per id in the statement; a repeat within the batch is a repeat of the first.
        var seen = Set<String>()
        let unique = rows.filter { seen.insert($0.id).inserted }
        let json = String(decoding: try JSONEncoder().encode(unique), as: UTF8.self)
        let recorded = Set(try await database.query("""
            WITH v AS (
                SELECT * FROM jsonb_to_recordset(\(json)::jsonb) AS v(
                    id text, project_id text, mode text, preset text, pool text[], judge text, options jsonb, messages jsonb,
                    canonical text, trace_parent text, accepted_at_ms bigint, deadline_ms bigint, span_ms bigint)
            ), recorded AS (
                INSERT INTO requests (id, project_id, mode, preset, pool, judge, options, messages, content_hash, trace_parent, accepted_at, deadline_at)
                SELECT id, project_id, mode, preset, pool, judge, options, messages, sha256(convert_to(canonical, 'UTF8')), trace_parent,
                       to_timestamp(accepted_at_ms / 1000.0), to_timestamp(deadline_ms / 1000.0)
                FROM v
                ON CONFLICT (id) DO NOTHING
                RETURNING id
            )
            INSERT INTO open_requests (request_id, namespace, span_ms, next_check_at)
            SELECT v.id, \(namespace), v.span_ms, to_timestamp(v.accepted_at_ms / 1000.0) + v.span_ms * interval '1 millisecond'
            FROM recorded JOIN v USING (id)
            RETURNING request_id
            """).map { try $0.decode(String.self, at: 0) })
        var first = Set<String>()
        return rows.map { row in recorded.contains(row.id) && first.insert(row.id).inserted }
    }

    private func refreshProjectsIfStale() async throws {
        if projects.withLock({ $0.isStale }) { try await refreshProjects() }
    }

    private func refreshProjects() async throws {
        let ids = try await database.query("SELECT id FROM projects").map { try $0.decode(String.self, at: 0) }
        projects.withLock { $0 = ProjectCache(ids: Set(ids), loadedAt: ContinuousClock.now) }
    }
}

/// Known project ids, re-read from PostgreSQL at most every few seconds (and on a miss).
struct ProjectCache: Sendable {
    var ids: Set<String> = []
    var loadedAt: ContinuousClock.Instant?

    var isStale: Bool {
        guard let loadedAt else { return true }
        return ContinuousClock.now - loadedAt > .seconds(5)
    }
}

/// One request as the intake statement reads it (`jsonb_to_recordset`: keys are its columns).
struct RequestRow: Encodable, Sendable {
    var id: String
    var project_id: String
    var mode: String
    var preset: String?
    var pool: [String]
    var judge: String?
    var options: FusionOptions
    var messages: [ChatMessage]
    /// The request's canonical JSON (without its acceptance time), hashed into `content_hash`.
    var canonical: String
    var trace_parent: String?
    var accepted_at_ms: Int64
    var deadline_ms: Int64
    /// How long the request may take in all: when the reconciler first looks at it.
    var span_ms: Int64

    init(_ request: FusionRequest, canonical: String, traceParent: String?) {
        id = request.id
        project_id = request.project
        mode = request.mode.rawValue
        preset = request.preset
        pool = request.pool
        judge = request.judge
        options = request.options
        messages = request.messages
        self.canonical = canonical
        trace_parent = traceParent
        accepted_at_ms = request.acceptedAtMs
        deadline_ms = request.poolDeadlineMs
        span_ms = Int64(request.settleSpanMs)
    }
}
