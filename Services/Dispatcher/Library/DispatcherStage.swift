import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Postgres
import Trail

/// dispatcher: an accepted request → its plan on `chorus.fusion` (for the judge), then one call per
/// pool model on `chorus.calls.remote` or `chorus.calls.local`, as the catalog places each model.
public final class DispatcherStage: Sendable {
    private let catalog: ModelCatalog
    private let infrastructure: StageInfrastructure
    /// Budget holds and call records of all requests in flight, batched: one round trip for each
    /// per batch instead of per request.
    private let admissions: Batcher<Admission, String?>

    public init(catalog: ModelCatalog, infrastructure: StageInfrastructure) {
        self.catalog = catalog
        self.infrastructure = infrastructure
        let database = infrastructure.database
        admissions = Batcher(maxBatch: 256) { batch in
            let refusals = try await Self.holdBudgets(batch.map { ($0.request, $0.estimate) }, database: database)
            let approved = zip(batch, refusals).filter { $0.1 == nil }.flatMap { $0.0.calls }
            try await TrailStore(database: database).recordCalls(approved)
            return refusals
        }
    }

    /// A request to admit: its estimate held against its project's budget, then its calls recorded.
    struct Admission: Sendable {
        var request: FusionRequest
        var estimate: Money
        var calls: [(call: ModelCall, target: CallTarget)]
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let request = try JSONCoding.decode(FusionRequest.self, from: message.value)
        try await dispatch(request)
        return .done
    }

    /// Dispatches a request: the budget check, the pool calls recorded, then the plan and the calls
    /// published. Every step is idempotent, so a redelivery (or a resume) repeats it safely.
    ///
    /// - Parameter resumingAtMs: set by the ``Reconciler`` for a request that has no answer past its
    ///   deadline. Then responses already recorded are republished instead of their calls (a model is
    ///   never run or paid for twice), and the calls still missing go out with a fresh deadline, so
    ///   the judge (which gives a late plan one more phase) can still use them.
    public func dispatch(_ request: FusionRequest, resumingAtMs: Int64? = nil) async throws {
        let store = TrailStore(database: infrastructure.database)
        var dispatchedBefore = false
        if resumingAtMs != nil { dispatchedBefore = !(try await store.recordedCallIDs(requestID: request.id).isEmpty) }
        let calls = request.poolCalls().map { call in
            (call: call, target: (catalog.models[call.model]?.isLocal ?? false) ? CallTarget.local : .remote)
        }
        let refusal: String?
        if dispatchedBefore {
            refusal = nil
            try await store.recordCalls(calls)
        } else {
            let estimate = catalog.estimate(request)
            if let capped = Self.capRefusal(request, estimate: estimate) {
                refusal = capped
            } else {
                refusal = try await admissions.submit(Admission(request: request, estimate: estimate, calls: calls))
            }
        }
        if let refusal {
            // Refused before any model is called: nothing is billed.
            let answer = Answer.rejected(
                id: request.id, project: request.project, error: ErrorInfo(code: "over_budget", message: refusal),
                latencyMs: Int64(Date().timeIntervalSince1970 * 1000) - request.acceptedAtMs)
            if try await !store.recordAnswer(answer), let stored = try await store.storedAnswer(requestID: request.id) {
                // Answered meanwhile: publish what PostgreSQL holds, never a second, different answer.
                _ = try await infrastructure.producer.send(topic: Topics.answers, key: Array(request.id.utf8), value: Array(stored.utf8))
                return
            }
            try await infrastructure.publish(answer, to: Topics.answers, key: request.id)
            return
        }
        var stored: [String: ModelResponse] = [:]
        if resumingAtMs != nil {
            for response in try await store.storedResponses(requestID: request.id) where response.role == .pool {
                stored[response.callID] = response
            }
        }
        // The plan and the calls go out together: the judge keeps responses that arrive before their plan.
        var outgoing = [try infrastructure.message(FusionEvent.plan(request), to: Topics.fusion, key: request.id)]
        for (call, target) in calls {
            if let response = stored[call.callID] {
                // Its usage too, in case the worker died before publishing it (billing drops repeats).
                for event in try await store.storedUsage(callID: call.callID) {
                    outgoing.append(try infrastructure.message(event, to: Topics.usage, key: call.requestID))
                }
                outgoing.append(try infrastructure.message(FusionEvent.response(response), to: Topics.fusion, key: call.requestID))
                continue
            }
            var call = call
            if let now = resumingAtMs { call.deadlineMs = max(call.deadlineMs, now + Int64(request.options.timeoutMs)) }
            outgoing.append(try infrastructure.message(call, to: target.topic, key: call.callID))
        }
        try await infrastructure.publish(outgoing)
    }

    /// Checks `max_cost_usd` and the project's budget against the request's estimated cost, and holds
    /// the estimate against the budget until the request is answered. Returns why it is refused, if it is.
    public static func checkBudget(_ request: FusionRequest, catalog: ModelCatalog, database: PostgresPool) async throws -> String? {
        let estimate = catalog.estimate(request)
        if let refusal = capRefusal(request, estimate: estimate) { return refusal }
        return try await holdBudgets([(request, estimate)], database: database)[0]
    }

    /// Why the request's own `max_cost_usd` refuses it, if it does.
    static func capRefusal(_ request: FusionRequest, estimate: Money) -> String? {
        guard let cap = request.options.maxCostUSD, estimate > cap else { return nil }
        return "the request may cost up to $\(estimate), more than its max_cost_usd of $\(cap)"
    }

    /// Holds each request's estimate against its project's budget, in one round trip for all
    /// (`hold_budget`, migrations/0010); returns, in order, why each is refused (nil: it may go ahead).
    ///
    /// A project with a budget has its row locked while spend, holds and the estimate are compared, so
    /// concurrent requests cannot jointly overspend by more than the calls already in flight. Requests
    /// are held in project order, so that two batches lock the same projects in the same order.
    static func holdBudgets(_ requests: [(request: FusionRequest, estimate: Money)], database: PostgresPool) async throws -> [String?] {
        guard !requests.isEmpty else { return [] }
        let order = requests.indices.sorted { (requests[$0].request.project, $0) < (requests[$1].request.project, $1) }
        let rows = order.map { index in
            BudgetHoldRow(
                i: index, request_id: requests[index].request.id, project_id: requests[index].request.project,
                estimate: requests[index].estimate.description)
        }
        let json = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        var refusals = [String?](repeating: nil, count: requests.count)
        for row in try await database.query("""
            SELECT v.i, h.budget, h.spent, h.held
            FROM jsonb_to_recordset(\(json)::jsonb) AS v(i integer, request_id text, project_id text, estimate numeric)
            CROSS JOIN LATERAL hold_budget(v.request_id, v.project_id, v.estimate) AS h
            """) {
            let (index, budgetText, spentText, heldText) = try row.decode((Int, String, String, String).self)
            let (request, estimate) = requests[index]
            let budget = Money(decimal: budgetText) ?? .zero
            let spent = Money(decimal: spentText) ?? .zero
            let held = Money(decimal: heldText) ?? .zero
            refusals[index] = "project \(request.project) has spent $\(spent) of its $\(budget) budget ($\(held) more is held by requests in flight); this request may cost up to $\(estimate)"
        }
        return refusals
    }
}

/// One request of ``DispatcherStage/holdBudgets(_:database:)`` as `jsonb_to_recordset` reads it.
private struct BudgetHoldRow: Encodable {
    var i: Int
    var request_id: String
    var project_id: String
    /// Exact decimal text (numeric in the statement).
    var estimate: String
}
