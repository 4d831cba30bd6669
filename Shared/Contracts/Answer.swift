/// The outcome of a request.
public enum AnswerStatus: String, Sendable, Codable, CaseIterable {
    /// Every pool model answered and fusion succeeded.
    case ok
    /// An answer was fused from fewer candidates than the pool (missing ones carry their error).
    case partial
    /// No answer could be produced; `error` says why.
    case failed
    /// The request was refused before any model was called; `error` says exactly why.
    case rejected
}

/// A machine-readable error: a stable `code` and a message naming what was wrong.
public struct ErrorInfo: Sendable, Codable, Hashable, Error, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// Token counts of one model call.
public struct TokenUsage: Sendable, Codable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens served from a provider's (or our KV) cache, billed at the cached-input price.
    public var cachedPromptTokens: Int

    public init(promptTokens: Int = 0, completionTokens: Int = 0, cachedPromptTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }

    public static let zero = TokenUsage()

    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage {
        TokenUsage(
            promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
            cachedPromptTokens: a.cachedPromptTokens + b.cachedPromptTokens)
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case cachedPromptTokens = "cached_prompt_tokens"
    }
}

/// One pool model's answer (or failure) as shown to users.
public struct Candidate: Sendable, Codable, Hashable {
    public var model: String
    public var provider: String?
    public var content: String?
    public var error: ErrorInfo?
    public var latencyMs: Int64
    public var usage: TokenUsage

    public init(
        model: String, provider: String?, content: String?, error: ErrorInfo?, latencyMs: Int64, usage: TokenUsage
    ) {
        self.model = model
        self.provider = provider
        self.content = content
        self.error = error
        self.latencyMs = latencyMs
        self.usage = usage
    }

    enum CodingKeys: String, CodingKey {
        case model, provider, content, error, usage
        case latencyMs = "latency_ms"
    }
}

/// How the answer was chosen or written.
public struct Verdict: Sendable, Codable, Hashable {
    /// `judge` (the judge model decided), `fallback` (the judge's verdict was unusable; a
    /// deterministic rule decided and `rationale` says which), `majority` (vote).
    public var method: String
    /// Index into `candidates` of the chosen one, where the mode chooses.
    public var chosen: Int?
    public var rationale: String?
    public var judgeModel: String?

    public init(method: String, chosen: Int?, rationale: String?, judgeModel: String?) {
        self.method = method
        self.chosen = chosen
        self.rationale = rationale
        self.judgeModel = judgeModel
    }

    enum CodingKeys: String, CodingKey {
        case method, chosen, rationale
        case judgeModel = "judge_model"
    }
}

/// A request's outcome on `chorus.answers`, keyed by request id.
///
/// - Important: delivery is at-least-once: after a crash an answer may be published again.
///   Consumers drop repeats by `id`; PostgreSQL holds exactly one answer row per request.
public struct Answer: Sendable, Codable, Hashable {
    public var id: String
    public var project: String?
    public var status: AnswerStatus
    public var mode: FusionMode?
    public var answer: String?
    public var candidates: [Candidate]
    public var verdict: Verdict?
    /// Tokens of every call the request made: pool, judge and debate rounds.
    public var usage: TokenUsage
    public var costUSD: Money
    public var latencyMs: Int64
    public var error: ErrorInfo?

    public init(
        id: String, project: String?, status: AnswerStatus, mode: FusionMode?, answer: String?,
        candidates: [Candidate], verdict: Verdict?, usage: TokenUsage, costUSD: Money, latencyMs: Int64,
        error: ErrorInfo?
    ) {
        self.id = id
        self.project = project
        self.status = status
        self.mode = mode
        self.answer = answer
        self.candidates = candidates
        self.verdict = verdict
        self.usage = usage
        self.costUSD = costUSD
        self.latencyMs = latencyMs
        self.error = error
    }

    /// A `rejected` answer: nothing was called, nothing is billed.
    public static func rejected(id: String, project: String?, error: ErrorInfo, latencyMs: Int64) -> Answer {
        Answer(
            id: id, project: project, status: .rejected, mode: nil, answer: nil, candidates: [], verdict: nil,
            usage: .zero, costUSD: .zero, latencyMs: latencyMs, error: error)
    }

    enum CodingKeys: String, CodingKey {
        case id, project, status, mode, answer, candidates, verdict, usage, error
        case costUSD = "cost_usd"
        case latencyMs = "latency_ms"
    }
}
