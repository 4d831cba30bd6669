import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Logging
import Postgres
import Testing

@testable import Dispatcher

/// Budgets against the real PostgreSQL: refused before any call, held while in flight, never
/// jointly overspent by concurrent requests.
@Suite struct BudgetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let url = ProcessInfo.processInfo.environment["CHORUS_TEST_DATABASE_URL"]
        ?? "postgresql://chorus@127.0.0.1:5433/chorus?passfile=\(root)/.data/secrets/pgpass"

    /// One model at $1 per million tokens in and out: a request's estimate is easy to reason about.
    static let catalog = try! ModelCatalog.parse(
        reader: try ConfigurationReader(yaml: """
            providers: {p: {base_url: "http://127.0.0.1:1/v1"}}
            models: {m: {providers: [{provider: p, price: {input: "1", output: "1"}}]}}
            """),
        file: "test", home: "/")

    static func request(_ id: String, project: String, maxCost: Money? = nil) -> FusionRequest {
        FusionRequest(
            id: id, project: project, messages: [ChatMessage(role: .user, content: String(repeating: "word ", count: 200))],
            preset: nil, pool: ["m"], judge: nil, mode: .bestOf,
            options: FusionOptions(maxTokens: 1000, temperature: 0, timeoutMs: 1000, quorum: 1, rounds: 1, maxCostUSD: maxCost),
            acceptedAtMs: 0)
    }

    static func withProject(budget: String?, _ body: (PostgresPool, String) async throws -> Void) async throws {
        let db = PostgresPool(configuration: PostgresConfiguration(url: url, poolSize: 4), logger: Logger(label: "test"))
        let project = "budget-\(UUID().uuidString.prefix(8).lowercased())"
        try await db.execute("INSERT INTO projects (id, budget_usd) VALUES (\(project), \(budget)::numeric)")
        do { try await body(db, project) } catch {
            await db.close()
            throw error
        }
        await db.close()
    }

    @Test func theEstimateCoversPromptAndOutput() {
        // 1000 bytes of prompt → 250 + 4 tokens, 1000 output tokens, $1/M each.
        #expect(Self.catalog.estimate(Self.request("r", project: "p")) == Money(decimal: "0.001254"))
    }

    @Test func maxCostIsCheckedBeforeAnyCall() async throws {
        try await Self.withProject(budget: nil) { db, project in
            let refusal = try await DispatcherStage.checkBudget(
                Self.request("r-\(project)", project: project, maxCost: Money(decimal: "0.001")), catalog: Self.catalog, database: db)
            #expect(refusal == "the request may cost up to $0.001254, more than its max_cost_usd of $0.001")
            #expect(try await DispatcherStage.checkBudget(
                Self.request("r2-\(project)", project: project, maxCost: Money(decimal: "0.01")), catalog: Self.catalog, database: db) == nil)
        }
    }

    @Test func anExhaustedBudgetRefusesAndNamesTheNumbers() async throws {
        try await Self.withProject(budget: "0.002") { db, project in
            try await db.execute("UPDATE projects SET spent_usd = 0.0015 WHERE id = \(project)")
            let refusal = try await DispatcherStage.checkBudget(Self.request("r-\(project)", project: project), catalog: Self.catalog, database: db)
            #expect(refusal == "project \(project) has spent $0.0015 of its $0.002 budget ($0 more is held by requests in flight); this request may cost up to $0.001254")
            #expect(try await db.query("SELECT count(*) FROM budget_holds WHERE project_id = \(project)").first!.decode(Int.self, at: 0) == 0)
        }
    }

    @Test func concurrentRequestsCannotJointlyOverspend() async throws {
        // Room for three requests' estimates (3 × $0.001254 ≤ $0.004), not four.
        try await Self.withProject(budget: "0.004") { db, project in
            let refusals = try await withThrowingTaskGroup(of: String?.self) { group in
                for n in 0..<10 {
                    group.addTask { try await DispatcherStage.checkBudget(Self.request("r\(n)-\(project)", project: project), catalog: Self.catalog, database: db) }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(refusals.filter { $0 == nil }.count == 3)
            let held = try await db.query("SELECT sum(amount_usd)::text FROM budget_holds WHERE project_id = \(project)").first!.decode(String.self, at: 0)
            #expect(held == "0.003762000")
            // A redelivered approved request is approved again without a second hold.
            let approved = try await db.query("SELECT request_id FROM budget_holds WHERE project_id = \(project) LIMIT 1").first!.decode(String.self, at: 0)
            #expect(try await DispatcherStage.checkBudget(Self.request(approved, project: project), catalog: Self.catalog, database: db) == nil)
            #expect(try await db.query("SELECT count(*) FROM budget_holds WHERE project_id = \(project)").first!.decode(Int.self, at: 0) == 3)
        }
    }
}
