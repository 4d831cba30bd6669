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
        if let refusal = try await Self.checkBudget(request, catalog: catalog, database: infrastructure.database) {
            // Refused before any model is called: nothing is billed.
            let answer = Answer.rejected(
                id: request.id, project: request.project, error: ErrorInfo(code: "over_budget", message: refusal),
                latencyMs: Int64(Date().timeIntervalSince1970 * 1000) - request.acceptedAtMs)
            try await TrailStore(database: infrastructure.database).recordAnswer(answer)
            try await infrastructure.publish(answer, to: Topics.answers, key: request.id)
            return .done
        }
        let calls = request.poolCalls().map { call in
            (call: call, target: (catalog.models[call.model]?.isLocal ?? false) ? CallTarget.local : .remote)
        }
        try await TrailStore(database: infrastructure.database).recordCalls(calls)
        // The plan first: it shares the calls' key, so the judge sees it before any response.
        try await infrastructure.publish(FusionEvent.plan(request), to: Topics.fusion, key: request.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (call, target) in calls {
                group.addTask { try await self.infrastructure.publish(call, to: target.topic, key: call.requestID) }
            }
            try await group.waitForAll()
        }
        return .done
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
