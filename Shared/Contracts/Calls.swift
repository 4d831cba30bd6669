/// Why a model is called.
public enum CallRole: String, Sendable, Codable, CaseIterable {
    /// A pool member's first answer.
    case pool
    /// A pool member revising its answer in a debate round.
    case debate
    /// The judge deciding or merging.
    case judge
}

/// One model call, from the dispatcher or the judge to a worker (`chorus.calls.remote` / `.local`).
public struct ModelCall: Sendable, Codable, Hashable {
    /// `<request id>/<role>/<round>/<index>`: unique per request, stable across redeliveries.
    public var callID: String
    public var requestID: String
    public var project: String
    public var role: CallRole
    public var round: Int
    /// Index of the pool member (or 0 for the judge): where the answer goes among the candidates.
    public var index: Int
    /// Catalog model id.
    public var model: String
    /// A pinned provider (`model:provider`), else the catalog's order with failover.
    public var provider: String?
    public var messages: [ChatMessage]
    public var maxTokens: Int
    public var temperature: Double
    /// Wall-clock deadline, milliseconds since 1970: past it the answer is no longer wanted.
    public var deadlineMs: Int64

    public init(
        callID: String, requestID: String, project: String, role: CallRole, round: Int, index: Int, model: String,
        provider: String?, messages: [ChatMessage], maxTokens: Int, temperature: Double, deadlineMs: Int64
    ) {
        self.callID = callID
        self.requestID = requestID
        self.project = project
        self.role = role
        self.round = round
        self.index = index
        self.model = model
        self.provider = provider
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.deadlineMs = deadlineMs
    }

    /// `model:provider` → (`model`, `provider`): a pool entry may pin a provider.
    public static func splitReference(_ reference: String) -> (model: String, provider: String?) {
        let parts = reference.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts[0], parts.count == 2 ? parts[1] : nil)
    }

    /// The canonical call id.
    public static func id(request: String, role: CallRole, round: Int, index: Int) -> String {
        "\(request)/\(role.rawValue)/\(round)/\(index)"
    }

    enum CodingKeys: String, CodingKey {
        case callID = "call_id"
        case requestID = "request_id"
        case project, role, round, index, model, provider, messages
        case maxTokens = "max_tokens"
        case temperature
        case deadlineMs = "deadline_ms"
    }
}

/// A worker's result for one ``ModelCall``.
public struct ModelResponse: Sendable, Codable, Hashable {
    public var callID: String
    public var requestID: String
    public var role: CallRole
    public var round: Int
    public var index: Int
    public var model: String
    /// The provider that answered (after failover), or `local`.
    public var provider: String?
    public var content: String?
    public var error: ErrorInfo?
    public var finishReason: String?
    public var latencyMs: Int64
    public var usage: TokenUsage
    /// Accelerator time apportioned to this call, in nanoseconds (local models).
    public var deviceNanos: Int64?
    /// Whether the call waited for its model to load.
    public var coldStart: Bool?
    /// How many upstream attempts it took (retries and failovers included).
    public var attempts: Int

    public init(
        callID: String, requestID: String, role: CallRole, round: Int, index: Int, model: String, provider: String?,
        content: String?, error: ErrorInfo?, finishReason: String?, latencyMs: Int64, usage: TokenUsage,
        deviceNanos: Int64? = nil, coldStart: Bool? = nil, attempts: Int = 1
    ) {
        self.callID = callID
        self.requestID = requestID
        self.role = role
        self.round = round
        self.index = index
        self.model = model
        self.provider = provider
        self.content = content
        self.error = error
        self.finishReason = finishReason
        self.latencyMs = latencyMs
        self.usage = usage
        self.deviceNanos = deviceNanos
        self.coldStart = coldStart
        self.attempts = attempts
    }

    enum CodingKeys: String, CodingKey {
        case callID = "call_id"
        case requestID = "request_id"
        case role, round, index, model, provider, content, error
        case finishReason = "finish_reason"
        case latencyMs = "latency_ms"
        case usage
        case deviceNanos = "device_nanos"
        case coldStart = "cold_start"
        case attempts
    }
}

/// What travels on `chorus.fusion` for one request: its plan first, then its responses.
public enum FusionEvent: Sendable, Codable, Hashable {
    case plan(FusionRequest)
    case response(ModelResponse)

    public var requestID: String {
        switch self {
        case .plan(let request): request.id
        case .response(let response): response.requestID
        }
    }

    private enum CodingKeys: String, CodingKey { case type, plan, response }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "plan": self = .plan(try container.decode(FusionRequest.self, forKey: .plan))
        case "response": self = .response(try container.decode(ModelResponse.self, forKey: .response))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown fusion event type \"\(other)\"")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .plan(let request):
            try container.encode("plan", forKey: .type)
            try container.encode(request, forKey: .plan)
        case .response(let response):
            try container.encode("response", forKey: .type)
            try container.encode(response, forKey: .response)
        }
    }
}

/// One billable (or failed, recorded) model call, on `chorus.usage`.
public struct UsageEvent: Sendable, Codable, Hashable {
    /// Idempotency key: a redelivered event with the same id changes nothing.
    public var eventID: String
    public var requestID: String
    public var project: String
    public var callID: String
    public var role: CallRole
    public var round: Int
    public var model: String
    public var provider: String
    public var usage: TokenUsage
    public var deviceNanos: Int64
    /// False for attempts the provider does not bill (an error before any tokens).
    public var billable: Bool
    public var occurredAtMs: Int64
    /// Local calls: from the call's arrival at gpu-inference to its end, in milliseconds.
    public var wallMs: Int64?
    /// Local calls: from arrival to the start of prompt evaluation (model start-up and waiting for a
    /// batch slot), in milliseconds.
    public var queueWaitMs: Int64?
    /// Local calls: where the model started from: `warm` (no cold start), `snapshot` or `disk`.
    public var startTier: String?

    public init(
        eventID: String, requestID: String, project: String, callID: String, role: CallRole, round: Int,
        model: String, provider: String, usage: TokenUsage, deviceNanos: Int64, billable: Bool, occurredAtMs: Int64,
        wallMs: Int64? = nil, queueWaitMs: Int64? = nil, startTier: String? = nil
    ) {
        self.eventID = eventID
        self.requestID = requestID
        self.project = project
        self.callID = callID
        self.role = role
        self.round = round
        self.model = model
        self.provider = provider
        self.usage = usage
        self.deviceNanos = deviceNanos
        self.billable = billable
        self.occurredAtMs = occurredAtMs
        self.wallMs = wallMs
        self.queueWaitMs = queueWaitMs
        self.startTier = startTier
    }

    /// Whether a local call waited for its model to load (`nil` for remote calls).
    public var coldStart: Bool? { startTier.map { $0 != "warm" } }

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case requestID = "request_id"
        case project
        case callID = "call_id"
        case role, round, model, provider, usage
        case deviceNanos = "device_nanos"
        case billable
        case occurredAtMs = "occurred_at_ms"
        case wallMs = "wall_ms"
        case queueWaitMs = "queue_wait_ms"
        case startTier = "start_tier"
    }
}
