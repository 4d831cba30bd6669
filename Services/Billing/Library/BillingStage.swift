import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Postgres

/// billing: usage events from `chorus.usage` → `usage_events`, many per transaction, idempotent by
/// event id: a redelivered event changes nothing.
public final class BillingStage: Sendable {
    public let writer: BatchWriter<UsageEvent>

    /// - Parameter prices: from ``PriceBook/synchronize(_:database:)``.
    public init(database: PostgresPool, prices: PriceBook, maxBatch: Int = 500) {
        writer = BatchWriter(maxBatch: maxBatch) { events in
            var batch = PostgresBatchInsert(
                table: "usage_events",
                columns: [
                    "event_id", "request_id", "project_id", "call_id", "role", "round", "model", "provider", "prompt_tokens",
                    "completion_tokens", "cached_prompt_tokens", "device_nanos", "billable", "occurred_at", "price_id",
                    "cost_usd",
                ],
                onConflict: .doNothing)
            for e in events {
                let priced = prices.price(e)
                try batch.append([
                    e.eventID, e.requestID, e.project, e.callID, e.role.rawValue, e.round, e.model, e.provider,
                    e.usage.promptTokens, e.usage.completionTokens, e.usage.cachedPromptTokens, e.deviceNanos, e.billable,
                    Date(timeIntervalSince1970: Double(e.occurredAtMs) / 1000), priced?.priceID,
                    // The exact decimal text of integer nano-dollars: numeric stores it without rounding.
                    priced.map { PostgresNumeric($0.cost.description) } ?? nil,
                ])
            }
            _ = try await database.insert(batch)
        }
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let event = try JSONCoding.decode(UsageEvent.self, from: message.value)
        try await writer.submit(event)
        return .done
    }
}
