/// Which provider API a request spoke.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable {
    /// OpenAI chat completions (`POST /v1/chat/completions`), also spoken by OpenRouter, Hugging Face and others.
    case openAI = "openai"
    /// Anthropic Messages (`POST /v1/messages`).
    case anthropic
    /// Google Gemini `generateContent` / `streamGenerateContent`.
    case gemini
}

/// One message of a simulated conversation, with its text flattened.
public struct SimulatedMessage: Sendable, Hashable {
    /// `system`, `user` or `assistant` (Gemini's `model` role reads as `assistant`).
    public var role: String
    /// The text of the message; multi-part contents are concatenated in order.
    public var content: String

    /// A message; `role` as the APIs spell it.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A chat request as the simulator understood it, whatever the provider API.
///
/// This is what a custom responder sees: a system prompt (Anthropic `system`, Gemini
/// `systemInstruction`) comes first as a `system` message.
public struct SimulatedChatRequest: Sendable, Hashable {
    /// The API the request came in through.
    public var provider: ProviderKind
    /// The upstream model name: the body's `model`, or the Gemini path's `{model}`.
    public var model: String
    /// The conversation in order, system prompt first.
    public var messages: [SimulatedMessage]
    /// `max_tokens` / `max_completion_tokens` / `generationConfig.maxOutputTokens`.
    public var maxTokens: Int?
    /// The sampling temperature, when the client sent one.
    public var temperature: Double?
    /// Whether the client asked for server-sent events.
    public var stream: Bool

    /// A request as a responder would see it (for unit-testing responders).
    public init(
        provider: ProviderKind, model: String, messages: [SimulatedMessage],
        maxTokens: Int? = nil, temperature: Double? = nil, stream: Bool = false
    ) {
        self.provider = provider
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stream = stream
    }

    /// The content of the last `user` message, or an empty string.
    public var lastUserMessage: String {
        messages.last { $0.role == "user" }?.content ?? ""
    }
}

/// What a custom responder answers instead of the model's default content.
///
/// Fields left `nil` fall back to the model's behaviour: token counts derived from the words of
/// the prompt and of `content`, the model's latency.
public struct SimulatedReply: Sendable, Hashable {
    /// The answer text (capped by `max_tokens` like any other).
    public var content: String
    /// Reported prompt tokens; `nil`: words of the prompt.
    public var promptTokens: Int?
    /// Reported completion tokens; `nil`: words of `content`.
    public var completionTokens: Int?
    /// Reported cached prompt tokens; `nil`: the model's (default 0).
    public var cachedTokens: Int?
    /// Time before the answer, replacing the model's latency and jitter; `nil`: the model's.
    public var latency: Duration?

    /// A reply with `content`; the rest falls back to the model's behaviour.
    public init(
        _ content: String, promptTokens: Int? = nil, completionTokens: Int? = nil, cachedTokens: Int? = nil,
        latency: Duration? = nil
    ) {
        self.content = content
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.latency = latency
    }
}
