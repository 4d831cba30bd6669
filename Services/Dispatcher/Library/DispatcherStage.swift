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

    public init(catalog: ModelCatalog, infrastructure: StageInfrastructure) {
        self.catalog = catalog
        self.infrastructure = infrastructure
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
        if !dispatchedBefore, let refusal = try await Self.checkBudget(request, catalog: catalog, database: infrastructure.database) {
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
        let calls = request.poolCalls().map { call in
            (call: call, target: (catalog.models[call.model]?.isLocal ?? false) ? CallTarget.local : .remote)
        }
        try await store.recordCalls(calls)
        var stored: [String: ModelResponse] = [:]
        if resumingAtMs != nil {
            for response in try await store.storedResponses(requestID: request.id) where response.role == .pool {
                stored[response.callID] = response
            }
        }
        // The plan first: the responses share its key on chorus.fusion, so the judge sees it before any of them.
        try await infrastructure.publish(FusionEvent.plan(request), to: Topics.fusion, key: request.id)
        let recorded = stored
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (call, target) in calls {
                group.addTask {
                    if let response = recorded[call.callID] {
                        // Its usage too, in case the worker died before publishing it (billing drops repeats).
                        for event in try await store.storedUsage(callID: call.callID) {
                            try await self.infrastructure.publish(event, to: Topics.usage, key: call.requestID)
                        }
                        try await self.infrastructure.publish(FusionEvent.response(response), to: Topics.fusion, key: call.requestID)
                        return
                    }
                    var call = call
                    if let now = resumingAtMs { call.deadlineMs = max(call.deadlineMs, now + Int64(request.options.timeoutMs)) }
                    try await self.infrastructure.publish(call, to: target.topic, key: call.callID)
                }
            }
            try await group.waitForAll()
        }
    }

    /// Checks `max_cost_usd` and the project's budget against the request's estimated cost, and holds
    /// the estimate against the budget until the request is answered. Returns why it is refused, if it is.
    ///
    /// The project row is locked while spend, holds and the estimate are compared, so concurrent
    /// requests cannot jointly overspend by more than the calls already in flight.
    public static func checkBudget(_ request: FusionRequest, catalog: ModelCatalog, database: PostgresPool) async throws -> String? {
        let estimate = catalog.estimate(request)
        if let cap = request.options.maxCostUSD, estimate > cap {
            return "the request may cost up to $\(estimate), more than its max_cost_usd of $\(cap)"
        }
        return try await database.transaction { db -> String? in
            guard let row = try await db.query("""
                SELECT budget_usd::text, spent_usd::text FROM projects WHERE id = \(request.project) FOR UPDATE
                """).first
            else { return nil }
            let (budgetText, spentText) = try row.decode((String?, String).self)
            try await db.execute("UPDATE requests SET estimated_cost_usd = \(estimate.description)::numeric WHERE id = \(request.id)")
            guard let budgetText, let budget = Money(decimal: budgetText) else { return nil }
            let alreadyHeld = try await db.query("SELECT count(*) FROM budget_holds WHERE request_id = \(request.id)").first!.decode(Int.self, at: 0)
            if alreadyHeld > 0 { return nil }  // a redelivery of an approved request
            let heldText = try await db.query("""
                SELECT coalesce(sum(amount_usd), 0)::text FROM budget_holds WHERE project_id = \(request.project)
                """).first!.decode(String.self, at: 0)
            let spent = Money(decimal: spentText) ?? .zero
            let held = Money(decimal: heldText) ?? .zero
            if spent + held + estimate > budget {
                return "project \(request.project) has spent $\(spent) of its $\(budget) budget ($\(held) more is held by requests in flight); this request may cost up to $\(estimate)"
            }
            try await db.execute("""
                INSERT INTO budget_holds (request_id, project_id, amount_usd)
                VALUES (\(request.id), \(request.project), \(estimate.description)::numeric) ON CONFLICT DO NOTHING
                """)
            return nil
        }
    }
}
