import ChorusRuntime
import Contracts
import Foundation
import Testing

@testable import Catalog

@Suite struct ModelCatalogTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func parse(_ yaml: String) throws -> ModelCatalog {
        try ModelCatalog.parse(reader: try ConfigurationReader(yaml: yaml, label: "models.yaml"), file: "models.yaml", home: "/srv")
    }

    @Test func theShippedCatalogLoads() throws {
        let catalog = try ModelCatalog.load(path: "\(Self.root)/config/models.yaml", home: Self.root)
        let local = try #require(catalog.presets["local"])
        #expect(local.pool == ["smollm2-135m", "gemma3-270m"])
        #expect(local.judge == "smollm2-135m")
        #expect(catalog.defaultPreset == "local")
        guard case .local(let gemma) = try #require(catalog.models["gemma3-270m"]).placement else {
            Issue.record("gemma3-270m must be local"); return
        }
        #expect(gemma.promptStyle == .completion)
        #expect(gemma.ggufPath == "\(Self.root)/.deps/models/gemma3-270m.gguf")
        #expect(gemma.idleWindow == .seconds(60))
    }

    @Test func failoverOrderAndPinnedProviders() throws {
        let catalog = try ModelCatalog.load(path: "\(Self.root)/config/models.yaml", home: Self.root)
        #expect(try catalog.resolve("gpt-4o-mini").routes.map(\.provider) == ["openai", "openrouter"])
        #expect(try catalog.resolve("gpt-4o-mini:openrouter").routes.map(\.upstreamModel) == ["openai/gpt-4o-mini"])
        let price = try catalog.resolve("gpt-4o-mini").routes[0].price
        #expect(price.inputPerMillion == Money(decimal: "0.15"))
        #expect(price.cachedInputPerMillion == Money(decimal: "0.075"))
        // Missing cached_input defaults to the input price.
        #expect(try catalog.resolve("gpt-4o-mini:openrouter").routes[0].price.cachedInputPerMillion == Money(decimal: "0.15"))
    }

    @Test func unknownModelsAndProvidersAreNamed() throws {
        let catalog = try ModelCatalog.load(path: "\(Self.root)/config/models.yaml", home: Self.root)
        let model = #expect(throws: CatalogError.self) { try catalog.resolve("gpt-9") }
        #expect(model?.code == .unknownModel)
        #expect(model?.message == "unknown model \"gpt-9\"")
        let provider = #expect(throws: CatalogError.self) { try catalog.resolve("gpt-4o-mini:acme-cloud") }
        #expect(provider?.message == "model \"gpt-4o-mini\" is not offered by provider \"acme-cloud\" (offered by: openai, openrouter)")
        #expect(throws: CatalogError.self) { try catalog.resolve("smollm2-135m:openai") }
    }

    @Test(arguments: [
        ("providers: {p: {kind: grpc, base_url: http://x}}", "models.yaml: providers.p.kind: must be one of openai, anthropic, gemini, got \"grpc\""),
        ("providers: {p: {base_url: ftp://x}}", "models.yaml: providers.p.base_url: must be an http:// or https:// URL, got \"ftp://x\""),
        ("models: {m: {family: x}}", "models.yaml: models.m: needs either local (a GGUF file) or providers (remote APIs)"),
        ("models: {m: {providers: [{provider: nope}]}}", "models.yaml: models.m.providers[0].provider: names provider \"nope\", which is not under providers"),
        ("models: {m: {local: {gguf: a.gguf, context_size: 12}}}", "models.yaml: models.m.local.context_size: must be a whole number from 128 to 1048576, got \"12\""),
        ("providers: {p: {base_url: http://x}}\nmodels: {m: {providers: [{provider: p, price: {input: 0.1e3}}]}}", "models.yaml: models.m.providers[0].price.input: must be a non-negative decimal amount of US dollars with at most 9 decimals, got \"0.1e3\""),
        ("models: {m: {local: {gguf: a.gguf}}}\npresets: {x: {pool: [m, ghost]}}", "models.yaml: presets.x.pool[1]: names model \"ghost\", which is not under models"),
        ("models: {m: {local: {gguf: a.gguf}}}\npresets: {x: {pool: [m], mode: chaos}}", "models.yaml: presets.x.mode: must be one of best-of, merge, debate, vote, got \"chaos\""),
        ("default_preset: missing", "models.yaml: default_preset: names preset \"missing\", which is not under presets"),
        ("models: {\"a:b\": {local: {gguf: a.gguf}}}", "models.yaml: models.a:b: model ids cannot contain ':' (it separates a pinned provider)"),
    ])
    func mistakesAreNamedPrecisely(yaml: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try Self.parse(yaml) }
        #expect(error?.description == message)
    }

    @Test func relativeGGUFPathsResolveAgainstHome() throws {
        let catalog = try Self.parse("models: {m: {local: {gguf: models/m.gguf}}, n: {local: {gguf: /abs/n.gguf}}}")
        guard case .local(let m) = catalog.models["m"]?.placement, case .local(let n) = catalog.models["n"]?.placement else {
            Issue.record("expected local models"); return
        }
        #expect(m.ggufPath == "/srv/models/m.gguf")
        #expect(n.ggufPath == "/abs/n.gguf")
    }
}

@Suite struct PricingTests {
    @Test func tokensArePricedExactly() {
        let price = TokenPrice(
            inputPerMillion: Money(decimal: "0.15")!, cachedInputPerMillion: Money(decimal: "0.075")!,
            outputPerMillion: Money(decimal: "0.60")!)
        // The issue's example: 1,234,567 input tokens at $0.15 per 1M = $0.18518505 exactly.
        #expect(Pricing.cost(of: TokenUsage(promptTokens: 1_234_567), at: price).description == "0.18518505")
        // Cached tokens are billed at the cached rate, the rest at the input rate.
        #expect(
            Pricing.cost(of: TokenUsage(promptTokens: 1_000_000, completionTokens: 1_000_000, cachedPromptTokens: 400_000), at: price)
                .description == "0.72")  // 0.6 × 0.15 + 0.4 × 0.075 + 0.60
        // Sub-nano remainders round half up: 1 token at $0.0000005/M = 0.0000000000005 → 0.
        let tiny = TokenPrice(inputPerMillion: Money(nanos: 500), cachedInputPerMillion: .zero, outputPerMillion: .zero)
        #expect(Pricing.cost(of: TokenUsage(promptTokens: 1_000), at: tiny) == Money(nanos: 1))  // 0.5 → 1
        #expect(Pricing.cost(of: TokenUsage(promptTokens: 999), at: tiny) == Money(nanos: 0))  // 0.4995 → 0
    }

    @Test func deviceSecondsArePricedExactly() {
        let perSecond = Money(decimal: "0.001097")!  // an H100 GPU-second, as Modal prices it
        #expect(Pricing.cost(deviceNanos: 1_000_000_000, pricePerSecond: perSecond) == perSecond)
        // 41.25 ms × $0.001097/s = $0.00004525125 → 45251 nano-dollars (0.25 rounds down).
        #expect(Pricing.cost(deviceNanos: 41_250_000, pricePerSecond: perSecond) == Money(nanos: 45_251))
        // A day of device time at a high price does not overflow.
        #expect(Pricing.cost(deviceNanos: 86_400_000_000_000, pricePerSecond: Money(decimal: "5")!) == Money(decimal: "432000"))
    }
}
