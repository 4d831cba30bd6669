import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Logging
import Postgres
import Testing

@testable import Billing

/// The usage ledger against the real PostgreSQL: idempotent, exact, effective-dated, read-only for
/// the billing role.
@Suite struct LedgerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let url = ProcessInfo.processInfo.environment["CHORUS_TEST_DATABASE_URL"]
        ?? "postgresql://chorus@127.0.0.1:5433/chorus?passfile=\(root)/.data/secrets/pgpass"

    static func pool() -> PostgresPool {
        PostgresPool(configuration: PostgresConfiguration(url: url, poolSize: 2), logger: Logger(label: "test"))
    }

    /// A catalog with one remote and one local model under names no other test uses.
    static func catalog(_ tag: String, input: String = "0.15", perSecond: String = "0.001097") throws -> ModelCatalog {
        try ModelCatalog.parse(
            reader: try ConfigurationReader(yaml: """
                providers: {p: {base_url: "http://127.0.0.1:1/v1"}}
                models:
                  remote-\(tag): {providers: [{provider: p, price: {input: "\(input)", cached_input: "0.075", output: "0.60"}}]}
                  local-\(tag): {local: {gguf: x.gguf, price_per_device_second: "\(perSecond)"}}
                """),
            file: "test", home: "/")
    }

    static func event(_ tag: String, _ n: Int, model: String, provider: String, usage: TokenUsage, deviceNanos: Int64 = 0) -> UsageEvent {
        UsageEvent(
            eventID: "bill-\(tag)/pool/0/\(n)#1", requestID: "bill-\(tag)", project: "bill-\(tag)", callID: "bill-\(tag)/pool/0/\(n)",
            role: .pool, round: 0, model: model, provider: provider, usage: usage, deviceNanos: deviceNanos, billable: true,
            occurredAtMs: Int64(Date().timeIntervalSince1970 * 1000))
    }

    @Test func costsAreExactAndRedeliveryChangesNothing() async throws {
        let tag = UUID().uuidString.prefix(8).lowercased()
        let db = Self.pool()
        let prices = try await PriceBook.synchronize(try Self.catalog(String(tag)), database: db)
        try await db.execute("INSERT INTO projects (id) VALUES (\("bill-\(tag)"))")
        let stage = BillingStage(database: db, prices: prices, maxBatch: 3)
        let events = [
            Self.event(String(tag), 0, model: "remote-\(tag)", provider: "p", usage: TokenUsage(promptTokens: 1_234_567)),
            Self.event(String(tag), 1, model: "local-\(tag)", provider: "local", usage: TokenUsage(promptTokens: 10, completionTokens: 5), deviceNanos: 41_250_000),
            Self.event(String(tag), 2, model: "remote-\(tag)", provider: "p", usage: TokenUsage(promptTokens: 1_000_000, completionTokens: 1_000_000, cachedPromptTokens: 400_000)),
        ]
        // Every event delivered twice, concurrently: the ledger keeps one of each.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for event in events + events { group.addTask { try await stage.writer.submit(event) } }
            try await group.waitForAll()
        }
        let rows = try await db.query("""
            SELECT event_id, cost_usd::text, price_id IS NOT NULL FROM usage_events WHERE request_id = \("bill-\(tag)") ORDER BY event_id
            """).map { try $0.decode((String, String, Bool).self) }
        #expect(rows.map(\.1) == ["0.185185050", "0.000045251", "0.720000000"])  // $0.18518505 exactly; 41.25 ms × $0.001097/s
        #expect(rows.allSatisfy { $0.2 })
        let total = try await db.query("SELECT sum(cost_usd)::text FROM usage_events WHERE request_id = \("bill-\(tag)")").first!.decode(String.self, at: 0)
        #expect(total == "0.905230301")
        // The project's running spend moved by exactly the ledger's total, once.
        let spent = try await db.query("SELECT spent_usd::text FROM projects WHERE id = \("bill-\(tag)")").first!.decode(String.self, at: 0)
        #expect(spent == "0.905230301")
        // The daily rollup agrees with the ledger.
        let daily = try await db.query("""
            SELECT sum(calls)::int, sum(input_tokens)::bigint, sum(cost_usd)::text FROM usage_daily WHERE project_id = \("bill-\(tag)")
            """).first!.decode((Int, Int64, String).self)
        #expect(daily.0 == 3 && daily.1 == 2_234_577 && daily.2 == "0.905230301")
        await db.close()
    }

    @Test func aPriceChangeAddsARowAndHistoryIsNeverRewritten() async throws {
        let tag = String(UUID().uuidString.prefix(8).lowercased())
        let db = Self.pool()
        let first = try await PriceBook.synchronize(try Self.catalog(tag), database: db)
        let again = try await PriceBook.synchronize(try Self.catalog(tag), database: db)
        // Unchanged prices add nothing (only this test's models: parallel tests add their own).
        let mine = { (book: PriceBook) in book.entries.filter { $0.key.model.hasSuffix(tag) } }
        #expect(mine(first) == mine(again))
        #expect(mine(first).count == 2)
        let changed = try await PriceBook.synchronize(try Self.catalog(tag, input: "0.20"), database: db)
        let key = PriceBook.Key(model: "remote-\(tag)", provider: "p")
        #expect(changed.entries[key]?.id != first.entries[key]?.id)
        #expect(changed.entries[key]?.tokens.inputPerMillion == Money(decimal: "0.20"))
        let history = try await db.query("SELECT input_per_million::text FROM prices WHERE model = \("remote-\(tag)") ORDER BY effective_from")
            .map { try $0.decode(String.self, at: 0) }
        #expect(history == ["0.150000000", "0.200000000"])
        await #expect(throws: PostgresError.self) {
            try await db.execute("UPDATE prices SET input_per_million = 0 WHERE model = \("remote-\(tag)")")
        }
        await #expect(throws: PostgresError.self) {
            try await db.execute("DELETE FROM prices WHERE model = \("remote-\(tag)")")
        }
        await db.close()
    }

    @Test func theBillingRoleReadsTheViewsAndNothingElse() async throws {
        let billing = PostgresPool(
            configuration: PostgresConfiguration(
                url: Self.url.replacingOccurrences(of: "postgresql://chorus@", with: "postgresql://chorus_billing@"), poolSize: 1),
            logger: Logger(label: "test"))
        for view in ["usage", "daily_spend", "request_costs", "top_requests", "project_budgets", "prices"] {
            _ = try await billing.query(PostgresQuery(unsafeSQL: "SELECT * FROM billing.\(view) LIMIT 1"))
        }
        for forbidden in [
            "SELECT * FROM public.requests LIMIT 1", "SELECT * FROM public.usage_events LIMIT 1",
            "INSERT INTO public.projects (id) VALUES ('intruder')", "CREATE TABLE billing.mine (x int)",
            "UPDATE public.projects SET budget_usd = 0",
        ] {
            let error = await #expect(throws: PostgresError.self) { try await billing.execute(PostgresQuery(unsafeSQL: forbidden)) }
            #expect(error?.sqlState == "42501", "\(forbidden) should be refused for lack of privilege")
        }
        await billing.close()
    }
}
