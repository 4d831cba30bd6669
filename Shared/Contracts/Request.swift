/// How a pool's candidates become one answer.
public enum FusionMode: String, Sendable, Codable, CaseIterable {
    /// The judge picks the strongest candidate.
    case bestOf = "best-of"
    /// The judge writes one answer from all candidates.
    case merge
    /// Pool models revise after seeing each other's answers for `rounds` rounds; then the judge decides.
    case debate
    /// Majority of normalized short answers; the judge only breaks ties.
    case vote
}

/// One chat message, OpenAI-shaped.
public struct ChatMessage: Sendable, Codable, Hashable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        case system, user, assistant
    }

    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// A request as users publish it on `chorus.requests`: every field optional, so that ingest can
/// answer exactly what is missing or wrong instead of failing to decode.
public struct SubmittedRequest: Sendable, Codable, Hashable {
    public var id: String?
    public var project: String?
    public var messages: [ChatMessage]?
    public var preset: String?
    public var pool: [String]?
    public var judge: String?
    public var mode: String?
    public var options: SubmittedOptions?

    public init(
        id: String? = nil, project: String? = nil, messages: [ChatMessage]? = nil, preset: String? = nil,
        pool: [String]? = nil, judge: String? = nil, mode: String? = nil, options: SubmittedOptions? = nil
    ) {
        self.id = id
        self.project = project
        self.messages = messages
        self.preset = preset
        self.pool = pool
        self.judge = judge
        self.mode = mode
        self.options = options
    }
}

/// `options` as submitted.
public struct SubmittedOptions: Sendable, Codable, Hashable {
    public var maxTokens: Int?
    public var temperature: Double?
    public var timeoutMs: Int?
    public var quorum: Int?
    public var rounds: Int?
    public var maxCostUSD: Money?

    public init(
        maxTokens: Int? = nil, temperature: Double? = nil, timeoutMs: Int? = nil, quorum: Int? = nil,
        rounds: Int? = nil, maxCostUSD: Money? = nil
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.timeoutMs = timeoutMs
        self.quorum = quorum
        self.rounds = rounds
        self.maxCostUSD = maxCostUSD
    }

    enum CodingKeys: String, CodingKey {
        case maxTokens = "max_tokens"
        case temperature
        case timeoutMs = "timeout_ms"
        case quorum, rounds
        case maxCostUSD = "max_cost_usd"
    }
}

/// A validated request, as ingest hands it to the dispatcher on `chorus.accepted`: the pool and
/// judge resolved from the preset, every option filled in.
public struct FusionRequest: Sendable, Codable, Hashable {
    public var id: String
    public var project: String
    public var messages: [ChatMessage]
    public var preset: String?
    public var pool: [String]
    public var judge: String?
    public var mode: FusionMode
    public var options: FusionOptions
    /// When ingest accepted it (milliseconds since 1970), the start of end-to-end latency.
    public var acceptedAtMs: Int64

    public init(
        id: String, project: String, messages: [ChatMessage], preset: String?, pool: [String], judge: String?,
        mode: FusionMode, options: FusionOptions, acceptedAtMs: Int64
    ) {
        self.id = id
        self.project = project
        self.messages = messages
        self.preset = preset
        self.pool = pool
        self.judge = judge
        self.mode = mode
        self.options = options
        self.acceptedAtMs = acceptedAtMs
    }

    enum CodingKeys: String, CodingKey {
        case id, project, messages, preset, pool, judge, mode, options
        case acceptedAtMs = "accepted_at_ms"
    }
}

/// Options with defaults applied.
public struct FusionOptions: Sendable, Codable, Hashable {
    public var maxTokens: Int
    public var temperature: Double
    public var timeoutMs: Int
    /// How many pool answers are enough to judge; the rest may still arrive before the deadline.
    public var quorum: Int
    public var rounds: Int
    public var maxCostUSD: Money?

    public init(maxTokens: Int, temperature: Double, timeoutMs: Int, quorum: Int, rounds: Int, maxCostUSD: Money?) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.timeoutMs = timeoutMs
        self.quorum = quorum
        self.rounds = rounds
        self.maxCostUSD = maxCostUSD
    }

    enum CodingKeys: String, CodingKey {
        case maxTokens = "max_tokens"
        case temperature
        case timeoutMs = "timeout_ms"
        case quorum, rounds
        case maxCostUSD = "max_cost_usd"
    }
}

extension FusionRequest {
    /// When the pool must have answered (milliseconds since 1970).
    public var poolDeadlineMs: Int64 { acceptedAtMs + Int64(options.timeoutMs) }

    /// How long the whole request may take: one phase timeout for the pool, one per debate round,
    /// one for the judge. Past it (plus a grace) the reconciler resumes an unanswered request.
    public var settleSpanMs: Int64 {
        Int64(options.timeoutMs) * Int64(2 + (mode == .debate ? options.rounds : 0))
    }

    /// The calls of the pool round, one per pool member, in pool order.
    public func poolCalls() -> [ModelCall] {
        pool.enumerated().map { index, reference in
            let (model, provider) = ModelCall.splitReference(reference)
            return ModelCall(
                callID: ModelCall.id(request: id, role: .pool, round: 0, index: index), requestID: id, project: project,
                role: .pool, round: 0, index: index, model: model, provider: provider, messages: messages,
                maxTokens: options.maxTokens, temperature: options.temperature, deadlineMs: poolDeadlineMs)
        }
    }
}
