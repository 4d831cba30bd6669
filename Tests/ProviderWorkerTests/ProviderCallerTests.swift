import Foundation
import Catalog
import ChorusRuntime
import Contracts
import HTTP
import Logging
import ProviderSimulator
import Testing

@testable import ProviderWorker

/// The provider caller over real HTTP against the simulator: every wire protocol, failover, retries,
/// refused keys and deadlines.
@Suite struct ProviderCallerTests {
    static let key = "sk-sim-test-key"

    static func catalog(port: Int) -> ModelCatalog {
        func provider(_ name: String, _ kind: Catalog.ProviderKind, _ base: String) -> ProviderConfig {
            ProviderConfig(name: name, kind: kind, baseURL: base, apiKeyEnvironment: "SIM_KEY", maxConcurrency: 8, timeout: .seconds(5), maxRetries: 2)
        }
        let price = TokenPrice(inputPerMillion: Money(decimal: "1")!, cachedInputPerMillion: .zero, outputPerMillion: Money(decimal: "2")!)
        let providers = [
            "oai": provider("oai", .openAI, "http://127.0.0.1:\(port)/v1"),
            "ant": provider("ant", .anthropic, "http://127.0.0.1:\(port)"),
            "gem": provider("gem", .gemini, "http://127.0.0.1:\(port)"),
            "dead": provider("dead", .openAI, "http://127.0.0.1:9/v1"),
        ]
        func remote(_ id: String, _ routes: [(String, String)]) -> CatalogModel {
            CatalogModel(id: id, placement: .remote(routes.map { ProviderRoute(provider: $0.0, upstreamModel: $0.1, price: price) }), family: nil)
        }
        let models = [
            "m-oai": remote("m-oai", [("oai", "gpt-sim")]),
            "m-ant": remote("m-ant", [("ant", "claude-sim")]),
            "m-gem": remote("m-gem", [("gem", "gemini-sim")]),
            "m-failover": remote("m-failover", [("dead", "x"), ("oai", "gpt-failover")]),
            "m-limited": remote("m-limited", [("oai", "gpt-limited")]),
            "m-hang": remote("m-hang", [("oai", "gpt-hang")]),
        ]
        return ModelCatalog(providers: providers, models: models, presets: [:], defaultPreset: nil)
    }

    static func call(_ model: String, deadlineIn ms: Int64 = 10_000) -> ModelCall {
        ModelCall(
            callID: "r/pool/0/0", requestID: "r", project: "p", role: .pool, round: 0, index: 0, model: model, provider: nil,
            messages: [ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Capital of France?")],
            maxTokens: 32, temperature: 0, deadlineMs: Int64(Date().timeIntervalSince1970 * 1000) + ms)
    }

    static func withCaller(keys: [String: Secret]? = nil, _ body: (ProviderCaller, ProviderSimulator) async throws -> Void) async throws {
        var configuration = ProviderSimulator.Configuration()
        configuration.apiKey = key
        try await ProviderSimulator.withRunning(configuration: configuration) { simulator in
            let catalog = Self.catalog(port: try await simulator.port)
            let http = HTTPClient()
            defer { Task { await http.shutdown() } }
            let secrets = keys ?? Dictionary(uniqueKeysWithValues: catalog.providers.keys.map { ($0, Secret(Self.key)) })
            try await body(ProviderCaller(catalog: catalog, http: http, keys: secrets, logger: Logger(label: "test")), simulator)
        }
    }

    @Test(arguments: [("m-oai", "gpt-sim", "oai"), ("m-ant", "claude-sim", "ant"), ("m-gem", "gemini-sim", "gem")])
    func everyWireProtocolAnswers(model: String, upstream: String, provider: String) async throws {
        try await Self.withCaller { caller, simulator in
            simulator.setBehavior(ModelBehavior(content: "Paris.", promptTokens: 12, completionTokens: 2), for: upstream)
            let result = await caller.call(Self.call(model))
            #expect(result.response.error == nil)
            #expect(result.response.content == "Paris.")
            #expect(result.response.provider == provider)
            #expect(result.response.usage.promptTokens == 12 && result.response.usage.completionTokens == 2)
            #expect(result.attempts.count == 1 && result.attempts[0].billable)
        }
    }

    @Test func failsOverToTheNextProviderAndRecordsTheFailedAttempt() async throws {
        try await Self.withCaller { caller, _ in
            let result = await caller.call(Self.call("m-failover"))
            #expect(result.response.content != nil)
            #expect(result.response.provider == "oai")
            #expect(result.attempts.map(\.provider).first == "dead")
            #expect(result.attempts.last?.provider == "oai")
            #expect(result.attempts.dropLast().allSatisfy { !$0.billable && $0.failure != nil })
        }
    }

    @Test func aRefusedKeyIsNotRetried() async throws {
        try await Self.withCaller(keys: ["oai": Secret("sk-wrong")]) { caller, simulator in
            let result = await caller.call(Self.call("m-oai"))
            #expect(result.response.error?.code == "auth_failed")
            #expect(!(result.response.error?.message.contains("sk-wrong") ?? true))
            #expect(simulator.stats["gpt-sim"].requests == 1)
        }
    }

    @Test func aMissingKeyFailsWithoutCallingTheProvider() async throws {
        try await Self.withCaller(keys: [:]) { caller, simulator in
            let result = await caller.call(Self.call("m-oai"))
            #expect(result.response.error == ErrorInfo(code: "auth_missing", message: "oai: SIM_KEY is not set"))
            #expect(simulator.stats.requests == 0)
        }
    }

    @Test func rateLimitsAreRetriedAfterRetryAfter() async throws {
        try await Self.withCaller { caller, simulator in
            simulator.enqueue([.fail(429, retryAfter: .seconds(1))], for: "gpt-limited")
            let result = await caller.call(Self.call("m-limited"))
            #expect(result.response.error == nil)
            #expect(simulator.stats["gpt-limited"].responses == [429: 1, 200: 1])
            #expect(result.attempts.map(\.failure?.code) == ["rate_limited", nil])
        }
    }

    @Test func aHangingProviderTimesOutAtTheCallsDeadline() async throws {
        try await Self.withCaller { caller, simulator in
            simulator.enqueue([.hang, .hang, .hang], for: "gpt-hang")
            let result = await caller.call(Self.call("m-hang", deadlineIn: 800))
            #expect(result.response.error?.code == "timeout")
            #expect(result.response.content == nil)
        }
    }
}
