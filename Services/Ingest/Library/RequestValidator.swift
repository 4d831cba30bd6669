import Catalog
import Contracts
import Foundation

/// Turns the bytes of a submitted request into a validated ``FusionRequest``, or into a precise
/// reason it cannot be one.
///
/// Three outcomes, so nothing is silently dropped:
/// - accepted: a ``FusionRequest`` with the pool resolved and every option filled in;
/// - rejected: the bytes are a JSON object but not a valid request; the answer names what was wrong;
/// - undecodable: not a JSON object at all (or too large to read); it goes to the dead-letter topic.
public struct RequestValidator: Sendable {
    public struct Limits: Sendable {
        /// Bytes of one message on `chorus.requests` (checked before decoding).
        public var maxMessageBytes = 256 * 1024
        /// Bytes of all message contents together.
        public var maxPromptBytes = 64 * 1024
        public var maxMessages = 256
        public var maxPoolSize = 8
        public var maxTokens = 1...8192
        public var timeoutMs = 100...600_000
        public var rounds = 1...4
        public var defaultMaxTokens = 256
        public var defaultTemperature = 0.7
        public var defaultTimeoutMs = 30_000

        public init() {}
    }

    public enum Outcome: Sendable, Equatable {
        case accepted(FusionRequest)
        case rejected(id: String, project: String?, ErrorInfo)
        case undecodable(reason: String)
    }

    public let catalog: ModelCatalog
    public let limits: Limits

    public init(catalog: ModelCatalog, limits: Limits = Limits()) {
        self.catalog = catalog
        self.limits = limits
    }

    /// - Parameters:
    ///   - projectExists: whether a project id is known (ingest asks PostgreSQL, with a cache).
    ///   - makeID: a fresh request id, for requests that bring none.
    public func validate(
        _ bytes: [UInt8], nowMs: Int64, projectExists: (String) -> Bool, makeID: () -> String
    ) -> Outcome {
        guard bytes.count <= limits.maxMessageBytes else {
            return .undecodable(reason: "the message is \(bytes.count) bytes; the limit is \(limits.maxMessageBytes)")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return .undecodable(reason: "the message is not valid UTF-8")
        }
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                return .undecodable(reason: "the message is JSON but not an object")
            }
            object = parsed
        } catch {
            return .undecodable(reason: "the message is not valid JSON")
        }
        // From here on the sender gets an answer: find the id to answer to first.
        var id = makeID()
        if let raw = object["id"] {
            guard let text = raw as? String, Self.isValidID(text) else {
                return .rejected(
                    id: id, project: object["project"] as? String,
                    invalid("id must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"))
            }
            id = text
        }
        let project = (object["project"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        let submitted: SubmittedRequest
        do {
            submitted = try JSONDecoder().decode(SubmittedRequest.self, from: Data(bytes))
        } catch let error as DecodingError {
            return .rejected(id: id, project: project, invalid(Self.describe(error)))
        } catch {
            return .rejected(id: id, project: project, invalid("the request cannot be read"))
        }
        switch check(submitted, id: id, nowMs: nowMs, projectExists: projectExists) {
        case .success(let request): return .accepted(request)
        case .failure(let error): return .rejected(id: id, project: project, error)
        }
    }

    // MARK: - Rules

    private func check(
        _ s: SubmittedRequest, id: String, nowMs: Int64, projectExists: (String) -> Bool
    ) -> Result<FusionRequest, ErrorInfo> {
        guard let project = s.project, !project.isEmpty else { return .failure(invalid("project is required")) }
        guard projectExists(project) else {
            return .failure(ErrorInfo(code: "unknown_project", message: "project \"\(project.prefix(64))\" does not exist"))
        }
        guard let messages = s.messages, !messages.isEmpty else {
            return .failure(invalid("messages must hold at least one message"))
        }
        guard messages.count <= limits.maxMessages else {
            return .failure(invalid("messages holds \(messages.count) messages; the limit is \(limits.maxMessages)"))
        }
        guard messages.contains(where: { $0.role == .user }) else {
            return .failure(invalid("messages must include a user message"))
        }
        var promptBytes = 0
        for (i, message) in messages.enumerated() {
            if message.content.utf8.contains(0) {
                return .failure(invalid("messages[\(i)].content contains a NUL character"))
            }
            promptBytes += message.content.utf8.count
        }
        guard promptBytes <= limits.maxPromptBytes else {
            return .failure(invalid("the prompt is \(promptBytes) bytes; the limit is \(limits.maxPromptBytes)"))
        }

        // Pool and judge: from the request, else from the preset (named, or the catalog's default).
        var preset: Preset?
        if s.preset != nil && s.pool != nil {
            return .failure(invalid("give either preset or pool, not both"))
        }
        if let name = s.preset ?? (s.pool == nil ? catalog.defaultPreset : nil) {
            guard let found = catalog.presets[name] else {
                let known = catalog.presets.keys.sorted().joined(separator: ", ")
                return .failure(ErrorInfo(code: "unknown_preset", message: "unknown preset \"\(name.prefix(64))\" (known: \(known))"))
            }
            preset = found
        }
        guard let pool = s.pool ?? preset?.pool, !pool.isEmpty else {
            return .failure(invalid("pool must name at least one model (or give a preset)"))
        }
        guard pool.count <= limits.maxPoolSize else {
            return .failure(invalid("pool has \(pool.count) models; the limit is \(limits.maxPoolSize)"))
        }
        for (i, model) in pool.enumerated() {
            do { _ = try catalog.resolve(model) } catch {
                return .failure(ErrorInfo(code: error.code.rawValue, message: "pool[\(i)]: \(error.message)"))
            }
        }
        let judge = s.judge ?? preset?.judge
        if let judge {
            do { _ = try catalog.resolve(judge) } catch {
                return .failure(ErrorInfo(code: error.code.rawValue, message: "judge: \(error.message)"))
            }
        }
        let mode: FusionMode
        if let text = s.mode {
            guard let parsed = FusionMode(rawValue: text) else {
                return .failure(invalid(
                    "mode must be one of \(FusionMode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text.prefix(32))\""))
            }
            mode = parsed
        } else {
            mode = preset?.mode ?? .bestOf
        }
        if mode != .vote && pool.count > 1 && judge == nil {
            return .failure(invalid("mode \(mode.rawValue) with a pool of \(pool.count) needs a judge model"))
        }

        let o = s.options ?? SubmittedOptions()
        let maxTokens = o.maxTokens ?? limits.defaultMaxTokens
        guard limits.maxTokens.contains(maxTokens) else {
            return .failure(invalid(
                "options.max_tokens must be between \(limits.maxTokens.lowerBound) and \(limits.maxTokens.upperBound), got \(maxTokens)"))
        }
        let temperature = o.temperature ?? limits.defaultTemperature
        guard temperature.isFinite, (0...2).contains(temperature) else {
            return .failure(invalid("options.temperature must be between 0 and 2, got \(temperature)"))
        }
        let timeoutMs = o.timeoutMs ?? limits.defaultTimeoutMs
        guard limits.timeoutMs.contains(timeoutMs) else {
            return .failure(invalid(
                "options.timeout_ms must be between \(limits.timeoutMs.lowerBound) and \(limits.timeoutMs.upperBound), got \(timeoutMs)"))
        }
        let quorum = o.quorum ?? 1
        guard (1...pool.count).contains(quorum) else {
            return .failure(invalid("options.quorum must be between 1 and the pool size \(pool.count), got \(quorum)"))
        }
        let rounds = o.rounds ?? 1
        guard limits.rounds.contains(rounds) else {
            return .failure(invalid(
                "options.rounds must be between \(limits.rounds.lowerBound) and \(limits.rounds.upperBound), got \(rounds)"))
        }
        if let cap = o.maxCostUSD, cap < .zero {
            return .failure(invalid("options.max_cost_usd must not be negative, got \(cap)"))
        }
        return .success(
            FusionRequest(
                id: id, project: project, messages: messages, preset: preset?.name, pool: pool, judge: judge, mode: mode,
                options: FusionOptions(
                    maxTokens: maxTokens, temperature: temperature, timeoutMs: timeoutMs, quorum: quorum, rounds: rounds,
                    maxCostUSD: o.maxCostUSD),
                acceptedAtMs: nowMs))
    }

    private func invalid(_ message: String) -> ErrorInfo {
        ErrorInfo(code: "invalid_request", message: message)
    }

    /// Ids become parts of call ids (`<id>/pool/0/1`) and Kafka keys: no '/', no spaces, no controls.
    static func isValidID(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
                || byte == UInt8(ascii: "-")
        }
    }

    /// A decoding error as `path: expectation`, in the request's own field names.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text.isEmpty ? "the request" : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) must be \(expectation(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) must be \(expectation(type)), not null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.hasSuffix("role") { return "\(field) must be one of system, user, assistant" }
            if field.hasSuffix("max_cost_usd") { return "\(field) must be a decimal amount of US dollars such as \"0.05\"" }
            return "\(field) has an invalid value"
        @unknown default:
            return "the request cannot be read"
        }
    }

    private static func expectation(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [Any].Type, is [String].Type, is [ChatMessage].Type: "a list"
        default: "an object"
        }
    }
}
