import ChorusRuntime
import Contracts
import Foundation

extension ModelCatalog {
    /// Loads and checks the catalog at `path`; relative GGUF paths resolve against `home`.
    ///
    /// Every problem names the file and the key (`config/models.yaml: models.gpt-4o.providers[0].provider`).
    public static func load(path: String, home: String) throws -> ModelCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(setting: "CHORUS_CATALOG_PATH", problem: "catalog file \(path) cannot be read")
        }
        let reader = try ConfigurationReader(yaml: String(decoding: data, as: UTF8.self), label: path, home: home)
        return try parse(reader: reader, file: path, home: home)
    }

    public static func parse(reader: ConfigurationReader, file: String, home: String) throws -> ModelCatalog {
        let root = Node(path: "", value: reader.value("") ?? .mapping([:]), file: file)
        var providers: [String: ProviderConfig] = [:]
        for (name, node) in try root.child("providers").entries() {
            let kindText = try node.child("kind").string(default: "openai")
            guard let kind = ProviderKind(rawValue: kindText) else {
                throw node.child("kind").error(
                    "must be one of \(ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(kindText)\"")
            }
            let base = try node.child("base_url").requiredString()
            guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
                throw node.child("base_url").error("must be an http:// or https:// URL, got \"\(base)\"")
            }
            providers[name] = ProviderConfig(
                name: name, kind: kind, baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base,
                apiKeyEnvironment: try node.child("api_key_env").optionalString(),
                maxConcurrency: try node.child("max_concurrency").int(default: 64, range: 1...10_000),
                timeout: try node.child("timeout").duration(default: .seconds(60)),
                maxRetries: try node.child("max_retries").int(default: 2, range: 0...10))
        }

        var models: [String: CatalogModel] = [:]
        for (id, node) in try root.child("models").entries() {
            if id.contains(":") { throw node.error("model ids cannot contain ':' (it separates a pinned provider)") }
            let family = try node.child("family").optionalString()
            let local = node.child("local")
            let remote = node.child("providers")
            switch (local.isPresent, remote.isPresent) {
            case (true, true): throw node.error("has both local and providers: a model runs in one place")
            case (false, false): throw node.error("needs either local (a GGUF file) or providers (remote APIs)")
            case (true, false):
                let server = try Self.managedServer(local.child("server"), id: id, home: home)
                let gguf = server == nil ? try local.child("gguf").requiredString() : try local.child("gguf").string(default: "")
                let styleText = try local.child("prompt_style").string(default: "chat")
                let style: PromptStyle
                switch styleText {
                case "chat": style = .chat
                case "completion": style = .completion
                default: throw local.child("prompt_style").error("must be chat or completion, got \"\(styleText)\"")
                }
                let model = LocalModel(
                    ggufPath: gguf.isEmpty || gguf.hasPrefix("/") ? gguf : "\(home)/\(gguf)",
                    contextSize: try local.child("context_size").int(default: 2048, range: 128...1_048_576),
                    gpuLayers: try local.child("gpu_layers").int(default: 0, range: 0...10_000),
                    maxSequences: try local.child("max_sequences").int(default: 8, range: 1...256),
                    idleWindow: try local.child("idle_window").duration(default: .seconds(60)),
                    minWarm: try local.child("min_warm").int(default: 0, range: 0...16),
                    promptStyle: style,
                    pricePerDeviceSecond: try local.child("price_per_device_second").money(default: .zero),
                    server: server)
                models[id] = CatalogModel(id: id, placement: .local(model), family: family)
            case (false, true):
                var routes: [ProviderRoute] = []
                for route in try remote.items() {
                    let provider = try route.child("provider").requiredString()
                    guard providers[provider] != nil else {
                        throw route.child("provider").error("names provider \"\(provider)\", which is not under providers")
                    }
                    let price = route.child("price")
                    routes.append(
                        ProviderRoute(
                            provider: provider,
                            upstreamModel: try route.child("upstream").string(default: id),
                            price: TokenPrice(
                                inputPerMillion: try price.child("input").money(default: .zero),
                                cachedInputPerMillion: try price.child("cached_input").money(
                                    default: try price.child("input").money(default: .zero)),
                                outputPerMillion: try price.child("output").money(default: .zero))))
                }
                guard !routes.isEmpty else { throw remote.error("must list at least one provider") }
                models[id] = CatalogModel(id: id, placement: .remote(routes), family: family)
            }
        }

        var presets: [String: Preset] = [:]
        for (name, node) in try root.child("presets").entries() {
            let pool = try node.child("pool").items().map { try $0.requiredString() }
            guard !pool.isEmpty else { throw node.child("pool").error("must name at least one model") }
            let judge = try node.child("judge").optionalString()
            for (index, reference) in (pool + (judge.map { [$0] } ?? [])).enumerated() {
                let id = String(reference.split(separator: ":", maxSplits: 1).first ?? "")
                guard models[id] != nil else {
                    let key = index < pool.count ? node.child("pool").item(index) : node.child("judge")
                    throw key.error("names model \"\(reference)\", which is not under models")
                }
            }
            var mode: FusionMode?
            if let text = try node.child("mode").optionalString() {
                guard let parsed = FusionMode(rawValue: text) else {
                    throw node.child("mode").error(
                        "must be one of \(FusionMode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
                }
                mode = parsed
            }
            presets[name] = Preset(name: name, pool: pool, judge: judge, mode: mode)
        }
        let defaultPreset = try root.child("default_preset").optionalString()
        if let defaultPreset, presets[defaultPreset] == nil {
            throw root.child("default_preset").error("names preset \"\(defaultPreset)\", which is not under presets")
        }
        return ModelCatalog(providers: providers, models: models, presets: presets, defaultPreset: defaultPreset)
    }
}

/// A position in the catalog YAML, for reading with errors that name the key.
private struct Node {
    var path: String
    var value: ConfigValue?
    var file: String

    init(path: String, value: ConfigValue?, file: String) {
        self.path = path
        self.value = value
        self.file = file
    }

    var isPresent: Bool {
        if case nil = value { return false }
        if case .null? = value { return false }
        return true
    }

    func error(_ problem: String) -> ConfigurationError {
        ConfigurationError(setting: path.isEmpty ? file : "\(file): \(path)", problem: problem)
    }

    func child(_ key: String) -> Node {
        var next: ConfigValue?
        if case .mapping(let pairs)? = value { next = pairs[key] }
        return Node(path: path.isEmpty ? key : "\(path).\(key)", value: next, file: file)
    }

    func item(_ index: Int) -> Node {
        var next: ConfigValue?
        if case .sequence(let items)? = value, items.indices.contains(index) { next = items[index] }
        return Node(path: "\(path)[\(index)]", value: next, file: file)
    }

    /// The entries of a mapping, sorted by key (absent = none).
    func entries() throws -> [(String, Node)] {
        switch value {
        case nil, .null?: return []
        case .mapping(let pairs)?: return pairs.keys.sorted().map { ($0, child($0)) }
        default: throw error("must be a mapping")
        }
    }

    func items() throws -> [Node] {
        switch value {
        case nil, .null?: return []
        case .sequence(let items)?: return items.indices.map(item)
        default: throw error("must be a list")
        }
    }

    func optionalString() throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .scalar(let s)?: return s
        default: throw error("must be a single value")
        }
    }

    func requiredString() throws -> String {
        guard let text = try optionalString(), !text.isEmpty else { throw error("is required") }
        return text
    }

    func string(default fallback: String) throws -> String { try optionalString() ?? fallback }

    func int(default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = try optionalString() else { return fallback }
        guard let number = Int(text), range.contains(number) else {
            throw error("must be a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"")
        }
        return number
    }

    func duration(default fallback: Duration) throws -> Duration {
        guard let text = try optionalString() else { return fallback }
        guard let parsed = Duration.parse(text) else { throw error("must be a duration such as 30s, got \"\(text)\"") }
        return parsed
    }

    func money(default fallback: Money) throws -> Money {
        guard let text = try optionalString() else { return fallback }
        guard let amount = Money(decimal: text), amount >= .zero else {
            throw error("must be a non-negative decimal amount of US dollars with at most 9 decimals, got \"\(text)\"")
        }
        return amount
    }
}

extension ModelCatalog {
    /// A local model's `server:` block (an external OpenAI-compatible model server gpu-inference runs).
    fileprivate static func managedServer(_ node: Node, id: String, home: String) throws -> ManagedServer? {
        guard node.isPresent else { return nil }
        let command = try node.child("command").items().map { try $0.requiredString() }
        guard let program = command.first else { throw node.child("command").error("must list the program and its arguments") }
        guard command.contains(where: { $0.contains("{port}") }) else {
            throw node.child("command").error("must pass {port} to the server (gpu-inference picks a free port)")
        }
        let healthPath = try node.child("health_path").string(default: "/health")
        guard healthPath.hasPrefix("/") else { throw node.child("health_path").error("must start with /, got \"\(healthPath)\"") }
        return ManagedServer(
            command: [program.hasPrefix(".") ? "\(home)/\(program)" : program] + command.dropFirst(),
            healthPath: healthPath,
            upstreamModel: try node.child("model").string(default: id),
            startupTimeout: try node.child("startup_timeout").duration(default: .seconds(120)))
    }

    /// Loads the catalog named by `catalog.path` / `CHORUS_CATALOG_PATH` (default `config/models.yaml`).
    public static func load(reader: ConfigurationReader) throws -> ModelCatalog {
        try load(path: try reader.path("catalog.path", default: "config/models.yaml"), home: reader.home)
    }
}
