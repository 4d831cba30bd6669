/// How the simulator answers one upstream model when no script step applies.
///
/// Every field left `nil` falls back to the simulator's default: latency and jitter from
/// ``ProviderSimulator/Configuration``, content derived from the model name and the last user
/// message, prompt tokens = words of the prompt, completion tokens = words of the content.
///
/// Control endpoint: `POST /_sim/models/{model}` with
/// `{"content", "latency_ms", "jitter_ms", "chunk_interval_ms", "prompt_tokens", "completion_tokens",
/// "cached_tokens", "error_rate", "error_status"}` (all optional) replaces the model's behaviour.
public struct ModelBehavior: Sendable, Hashable {
    /// Fixed answer text (capped by `max_tokens` like any other).
    public var content: String?
    /// Time before the answer (before the first byte of a stream).
    public var latency: Duration?
    /// The latency varies uniformly within `latency ± jitter` (never below zero).
    public var jitter: Duration?
    /// Pause between stream events; zero sends the whole stream in one write.
    public var chunkInterval: Duration?
    /// Reported prompt tokens, whatever the prompt.
    public var promptTokens: Int?
    /// Reported completion tokens, whatever the content (still capped by `max_tokens`).
    public var completionTokens: Int?
    /// Prompt tokens reported as read from the provider's cache (part of the prompt tokens).
    public var cachedTokens: Int?
    /// Fraction of requests (0...1) answered with `errorStatus` instead; drawn from the seeded generator.
    public var errorRate: Double
    /// The status of injected errors (500 unless set).
    public var errorStatus: Int

    /// A behaviour; every argument left out keeps the simulator's default.
    public init(
        content: String? = nil, latency: Duration? = nil, jitter: Duration? = nil, chunkInterval: Duration? = nil,
        promptTokens: Int? = nil, completionTokens: Int? = nil, cachedTokens: Int? = nil,
        errorRate: Double = 0, errorStatus: Int = 500
    ) {
        self.content = content
        self.latency = latency
        self.jitter = jitter
        self.chunkInterval = chunkInterval
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.errorRate = errorRate
        self.errorStatus = errorStatus
    }
}
