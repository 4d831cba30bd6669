import ChorusRuntime
import Contracts

/// The models Chorus can call, where they run, what they cost, and the presets that name pools.
///
/// Loaded from `config/models.yaml` (`catalog.path` / `CHORUS_CATALOG_PATH`). Provider base URLs
/// come from this operator-owned file only, never from requests: a tenant-supplied base URL would
/// let a request send the operator's API key anywhere.
public struct ModelCatalog: Sendable {
    public var providers: [String: ProviderConfig]
    public var models: [String: CatalogModel]
    public var presets: [String: Preset]
    /// The preset used when a request names neither a preset nor a pool.
    public var defaultPreset: String?

    public init(
        providers: [String: ProviderConfig], models: [String: CatalogModel], presets: [String: Preset],
        defaultPreset: String?
    ) {
        self.providers = providers
        self.models = models
        self.presets = presets
        self.defaultPreset = defaultPreset
    }

    /// Resolves `model` or `model:provider` (a pinned provider, as Hugging Face's router does).
    public func resolve(_ reference: String) throws(CatalogError) -> ResolvedModel {
        let parts = reference.split(separator: ":", maxSplits: 1).map(String.init)
        guard let id = parts.first, let model = models[id] else {
            throw CatalogError(code: .unknownModel, message: "unknown model \"\(reference.prefix(100))\"")
        }
        guard parts.count == 2 else { return ResolvedModel(model: model, pinnedProvider: nil) }
        let pinned = parts[1]
        guard case .remote(let routes) = model.placement, routes.contains(where: { $0.provider == pinned }) else {
            let offered = model.providerNames.joined(separator: ", ")
            throw CatalogError(
                code: .unknownProvider,
                message: "model \"\(id)\" is not offered by provider \"\(pinned.prefix(100))\" (offered by: \(offered))")
        }
        return ResolvedModel(model: model, pinnedProvider: pinned)
    }
}

/// A catalog model plus the provider a request pinned, if any.
public struct ResolvedModel: Sendable, Hashable {
    public var model: CatalogModel
    public var pinnedProvider: String?

    /// The routes to try, in order: the pinned one alone, or all of them (failover).
    public var routes: [ProviderRoute] {
        guard case .remote(let routes) = model.placement else { return [] }
        guard let pinnedProvider else { return routes }
        return routes.filter { $0.provider == pinnedProvider }
    }
}

/// The wire protocol a provider speaks.
public enum ProviderKind: String, Sendable, CaseIterable {
    /// OpenAI chat completions: OpenAI, OpenRouter, Together, Fireworks, Groq, the HF router, vLLM, TGI, Ollama.
    case openAI = "openai"
    /// Anthropic Messages.
    case anthropic
    /// Google Gemini generateContent.
    case gemini
}

/// A remote provider's endpoint and limits.
public struct ProviderConfig: Sendable, Hashable {
    public var name: String
    public var kind: ProviderKind
    /// e.g. `https://api.openai.com/v1` (the chat path is appended per kind).
    public var baseURL: String
    /// The environment variable holding the API key (or `<VAR>_FILE` naming a file); nil for none.
    public var apiKeyEnvironment: String?
    /// Most concurrent calls to this provider from one worker.
    public var maxConcurrency: Int
    /// Per-attempt timeout.
    public var timeout: Duration
    /// Retries on 429/5xx/timeouts before failing over to the next provider.
    public var maxRetries: Int

    public init(name: String, kind: ProviderKind, baseURL: String, apiKeyEnvironment: String?, maxConcurrency: Int, timeout: Duration, maxRetries: Int) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKeyEnvironment = apiKeyEnvironment
        self.maxConcurrency = maxConcurrency
        self.timeout = timeout
        self.maxRetries = maxRetries
    }
}

/// Where a model runs.
public enum ModelPlacement: Sendable, Hashable {
    /// Remote providers, tried in order (failover).
    case remote([ProviderRoute])
    /// A GGUF file served by gpu-inference.
    case local(LocalModel)
}

/// One provider offering a model.
public struct ProviderRoute: Sendable, Hashable {
    public var provider: String
    /// The provider's own name for the model.
    public var upstreamModel: String
    public var price: TokenPrice

    public init(provider: String, upstreamModel: String, price: TokenPrice) {
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.price = price
    }
}

/// Prices per million tokens, exact.
public struct TokenPrice: Sendable, Hashable {
    public var inputPerMillion: Money
    public var cachedInputPerMillion: Money
    public var outputPerMillion: Money

    public init(inputPerMillion: Money, cachedInputPerMillion: Money, outputPerMillion: Money) {
        self.inputPerMillion = inputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.outputPerMillion = outputPerMillion
    }

    public static let free = TokenPrice(inputPerMillion: .zero, cachedInputPerMillion: .zero, outputPerMillion: .zero)
}

/// How a local model is prompted.
public enum PromptStyle: Sendable, Hashable {
    /// The model's own chat template.
    case chat
    /// A base model: a few-shot question/answer frame; generation stops at the end of the answer.
    case completion
}

/// A local model's serving settings.
public struct LocalModel: Sendable, Hashable {
    public var ggufPath: String
    public var contextSize: Int
    /// Layers offloaded to a GPU when one is present (0 = CPU only).
    public var gpuLayers: Int
    /// Most sequences decoded together (continuous batching).
    public var maxSequences: Int
    /// How long a model stays loaded after its last call.
    public var idleWindow: Duration
    /// Instances kept loaded even when idle.
    public var minWarm: Int
    public var promptStyle: PromptStyle
    public var pricePerDeviceSecond: Money
    /// An external model server that serves this model instead of the built-in engine, or `nil`.
    public var server: ManagedServer?

    public init(
        ggufPath: String, contextSize: Int, gpuLayers: Int, maxSequences: Int, idleWindow: Duration, minWarm: Int,
        promptStyle: PromptStyle, pricePerDeviceSecond: Money, server: ManagedServer? = nil
    ) {
        self.server = server
        self.ggufPath = ggufPath
        self.contextSize = contextSize
        self.gpuLayers = gpuLayers
        self.maxSequences = maxSequences
        self.idleWindow = idleWindow
        self.minWarm = minWarm
        self.promptStyle = promptStyle
        self.pricePerDeviceSecond = pricePerDeviceSecond
    }
}

/// An external OpenAI-compatible model server (llama-server, vLLM, TGI…) that gpu-inference starts on
/// a model's first call, health-checks, calls over HTTP, and stops after the idle window, with the same
/// lifecycle and metering as the built-in engine.
public struct ManagedServer: Sendable, Hashable {
    /// The program and its arguments; `{port}` becomes the port gpu-inference picked, `{gguf}` the
    /// model's `gguf` path.
    public var command: [String]
    /// Answers 200 once the server is ready (`/health` for llama-server and TGI, `/health` for vLLM).
    public var healthPath: String
    /// The model name the server expects in requests.
    public var upstreamModel: String
    /// The longest the server may take to become healthy.
    public var startupTimeout: Duration

    public init(command: [String], healthPath: String, upstreamModel: String, startupTimeout: Duration) {
        self.command = command
        self.healthPath = healthPath
        self.upstreamModel = upstreamModel
        self.startupTimeout = startupTimeout
    }
}

/// A named pool.
public struct Preset: Sendable, Hashable {
    public var name: String
    public var pool: [String]
    public var judge: String?
    public var mode: FusionMode?

    public init(name: String, pool: [String], judge: String?, mode: FusionMode?) {
        self.name = name
        self.pool = pool
        self.judge = judge
        self.mode = mode
    }
}

/// A catalog model.
public struct CatalogModel: Sendable, Hashable {
    public var id: String
    public var placement: ModelPlacement
    /// Display name of the model's family (used to seat judges away from their own family's answers).
    public var family: String?

    public var isLocal: Bool {
        if case .local = placement { return true }
        return false
    }

    public var providerNames: [String] {
        switch placement {
        case .remote(let routes): routes.map(\.provider)
        case .local: ["local"]
        }
    }

    public init(id: String, placement: ModelPlacement, family: String?) {
        self.id = id
        self.placement = placement
        self.family = family
    }
}

/// A model or provider reference that the catalog cannot satisfy.
public struct CatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let unknownModel = Code(rawValue: "unknown_model")
        public static let unknownProvider = Code(rawValue: "unknown_provider")
        public static let unknownPreset = Code(rawValue: "unknown_preset")
    }

    public var code: Code
    public var message: String

    public var description: String { message }
}
