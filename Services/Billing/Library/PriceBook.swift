import Catalog
import Contracts
import Foundation
import Postgres

/// The prices billing charges, one current row per model × provider, kept in PostgreSQL.
///
/// At start-up the catalog's prices are compared with the latest stored row of each model and
/// provider; a difference adds a row effective now (history is never rewritten). Usage events are
/// then priced with the row that was current, whose id they reference.
public struct PriceBook: Sendable {
    public struct Key: Hashable, Sendable {
        public var model: String
        public var provider: String
    }

    /// One price row.
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var tokens: TokenPrice
        public var perDeviceSecond: Money
    }

    public private(set) var entries: [Key: Entry]

    public init(entries: [Key: Entry]) {
        self.entries = entries
    }

    /// The exact cost of an event, and the price row used; nil when the model or provider has no
    /// price (it left the catalog): the event is recorded without a cost rather than guessed.
    public func price(_ event: UsageEvent) -> (cost: Money, priceID: Int64)? {
        guard let entry = entries[Key(model: event.model, provider: event.provider)] else { return nil }
        guard event.billable else { return (.zero, entry.id) }
        let cost = Pricing.cost(of: event.usage, at: entry.tokens)
            + Pricing.cost(deviceNanos: event.deviceNanos, pricePerSecond: entry.perDeviceSecond)
        return (cost, entry.id)
    }

    /// The catalog's prices, by model and provider.
    public static func catalogPrices(_ catalog: ModelCatalog) -> [Key: (tokens: TokenPrice, perDeviceSecond: Money)] {
        var prices: [Key: (TokenPrice, Money)] = [:]
        for (id, model) in catalog.models {
            switch model.placement {
            case .local(let local):
                prices[Key(model: id, provider: "local")] = (.free, local.pricePerDeviceSecond)
            case .remote(let routes):
                for route in routes { prices[Key(model: id, provider: route.provider)] = (route.price, .zero) }
            }
        }
        return prices
    }

    /// Adds a price row for every catalog price that differs from the stored one, then loads the book.
    public static func synchronize(_ catalog: ModelCatalog, database: PostgresPool) async throws -> PriceBook {
        try await database.transaction { db in
            // One synchronizer at a time: two billing instances starting together add one row, not two.
            try await db.execute("SELECT pg_advisory_xact_lock(hashtext('chorus.prices'))")
            var entries: [Key: Entry] = [:]
            for row in try await db.query("""
                SELECT DISTINCT ON (model, provider) id, model, provider, input_per_million::text,
                       cached_input_per_million::text, output_per_million::text, per_device_second::text
                FROM prices ORDER BY model, provider, effective_from DESC
                """) {
                let (id, model, provider, input, cached, output, device) = try row.decode(
                    (Int64, String, String, String, String, String, String).self)
                entries[Key(model: model, provider: provider)] = Entry(
                    id: id,
                    tokens: TokenPrice(
                        inputPerMillion: Money(decimal: input) ?? .zero, cachedInputPerMillion: Money(decimal: cached) ?? .zero,
                        outputPerMillion: Money(decimal: output) ?? .zero),
                    perDeviceSecond: Money(decimal: device) ?? .zero)
            }
            for (key, price) in catalogPrices(catalog) {
                if let stored = entries[key], stored.tokens == price.tokens, stored.perDeviceSecond == price.perDeviceSecond {
                    continue
                }
                let id = try await db.query("""
                    INSERT INTO prices (model, provider, input_per_million, cached_input_per_million, output_per_million, per_device_second)
                    VALUES (\(key.model), \(key.provider), \(price.tokens.inputPerMillion.description)::numeric,
                            \(price.tokens.cachedInputPerMillion.description)::numeric, \(price.tokens.outputPerMillion.description)::numeric,
                            \(price.perDeviceSecond.description)::numeric)
                    RETURNING id
                    """).first!.decode(Int64.self, at: 0)
                entries[key] = Entry(id: id, tokens: price.tokens, perDeviceSecond: price.perDeviceSecond)
            }
            return PriceBook(entries: entries)
        }
    }
}
