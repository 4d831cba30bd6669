import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Metrics
import Postgres

/// billing: usage events from `chorus.usage` → `usage_events`, many per transaction, idempotent by
/// event id: a redelivered event changes nothing.
public final class BillingStage: Sendable {
    /// Writes the events of all messages in flight together (group commit).
    public let writer: Batcher<UsageEvent, Void>

    /// - Parameter prices: from ``PriceBook/synchronize(_:database:)``.
    public init(database: PostgresPool, prices: PriceBook, maxBatch: Int = 500) {
        writer = Batcher(maxBatch: maxBatch) { events in
            try await Self.record(events, prices: prices, database: database)
            return Array(repeating: (), count: events.count)
        }
    }

    static let columns = [
        "event_id", "request_id", "project_id", "call_id", "role", "round", "model", "provider", "prompt_tokens",
        "completion_tokens", "cached_prompt_tokens", "device_nanos", "billable", "occurred_at", "price_id", "cost_usd",
        "wall_ms", "queue_wait_ms", "start_tier",
    ]

    /// Inserts the events that are new and adds their cost to their projects' spend, in one
    /// statement: a redelivered event adds nothing, and spend never drifts from the ledger.
    static func record(_ events: [UsageEvent], prices: PriceBook, database: PostgresPool) async throws {
        // Distinct ids per statement: a batch may hold a redelivered duplicate of its own event.
        var seen = Set<String>()
        let unique = events.filter { seen.insert($0.eventID).inserted }
        let perStatement = 60_000 / columns.count
        for start in stride(from: 0, to: unique.count, by: perStatement) {
            let chunk = unique[start..<min(start + perStatement, unique.count)]
            var bindings = PostgresBindings()
            var rows: [String] = []
            for e in chunk {
                let priced = prices.price(e)
                let base = bindings.count
                rows.append("(" + (1...columns.count).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
                bindings.append(e.eventID)
                bindings.append(e.requestID)
                bindings.append(e.project)
                bindings.append(e.callID)
                bindings.append(e.role.rawValue)
                bindings.append(e.round)
                bindings.append(e.model)
                bindings.append(e.provider)
                bindings.append(e.usage.promptTokens)
                bindings.append(e.usage.completionTokens)
                bindings.append(e.usage.cachedPromptTokens)
                bindings.append(e.deviceNanos)
                bindings.append(e.billable)
                bindings.append(Date(timeIntervalSince1970: Double(e.occurredAtMs) / 1000))
                bindings.append(priced?.priceID)
                // The exact decimal text of integer nano-dollars: numeric stores it without rounding.
                bindings.append(priced.flatMap { PostgresNumeric($0.cost.description) })
                bindings.append(e.wallMs)
                bindings.append(e.queueWaitMs)
                bindings.append(e.startTier)
            }
            // One statement: the new rows, the projects' spend and the daily rollup move together.
            // Rollup rows are written in key order, so concurrent billing instances cannot deadlock.
            let sql = """
                WITH inserted AS (
                    INSERT INTO usage_events (\(columns.joined(separator: ", "))) VALUES \(rows.joined(separator: ", "))
                    ON CONFLICT (event_id) DO NOTHING
                    RETURNING project_id, model, provider, prompt_tokens, completion_tokens, device_nanos, billable, cost_usd, occurred_at),
                spend AS (
                    UPDATE projects p SET spent_usd = p.spent_usd + s.total
                    FROM (SELECT project_id, sum(cost_usd) AS total FROM inserted WHERE cost_usd IS NOT NULL GROUP BY project_id) s
                    WHERE p.id = s.project_id)
                INSERT INTO usage_daily (day, project_id, model, provider, calls, input_tokens, output_tokens, device_nanos, cost_usd)
                SELECT (occurred_at AT TIME ZONE 'UTC')::date, project_id, model, provider, count(*), sum(prompt_tokens),
                       sum(completion_tokens), sum(device_nanos), coalesce(sum(cost_usd), 0)
                FROM inserted WHERE billable
                GROUP BY 1, 2, 3, 4 ORDER BY 2, 1, 3, 4
                ON CONFLICT (project_id, day, model, provider) DO UPDATE SET
                    calls = usage_daily.calls + excluded.calls, input_tokens = usage_daily.input_tokens + excluded.input_tokens,
                    output_tokens = usage_daily.output_tokens + excluded.output_tokens,
                    device_nanos = usage_daily.device_nanos + excluded.device_nanos, cost_usd = usage_daily.cost_usd + excluded.cost_usd
                """
            try await database.execute(PostgresQuery(unsafeSQL: sql, bindings: bindings))
            for e in chunk { count(e, cost: prices.price(e)?.cost) }
        }
    }

    // MARK: - Metrics

    /// `chorus_tokens_total{model,provider,direction}` (direction `input` or `output`), billable usage.
    static let tokens = MetricFamily<Counter>(counter: "chorus_tokens_total", labels: ["model", "provider", "direction"])
    /// `chorus_cost_nanodollars_total{model,provider}`: exact cost in nano-dollars (1e-9 USD).
    static let cost = MetricFamily<Counter>(counter: "chorus_cost_nanodollars_total", labels: ["model", "provider"])

    /// Counts a recorded event. The ledger is exact; these counters count what this instance wrote,
    /// so an event redelivered after a crash may count twice here (never in the ledger).
    private static func count(_ event: UsageEvent, cost: Money?) {
        guard event.billable else { return }
        tokens(event.model, event.provider, "input").increment(by: Int64(event.usage.promptTokens))
        tokens(event.model, event.provider, "output").increment(by: Int64(event.usage.completionTokens))
        if let cost, cost.nanos > 0 { Self.cost(event.model, event.provider).increment(by: cost.nanos) }
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let event = try JSONCoding.decode(UsageEvent.self, from: message.value)
        try await writer.submit(event)
        return .done
    }
}
