/// What to generate: length limit, sampling and stop strings.
public struct GenerationParameters: Sendable, Hashable {
    /// The most tokens to generate. Default 256.
    public var maxTokens: Int
    /// Softmax temperature; 0 is greedy and deterministic. Default 0.
    public var temperature: Float
    /// Nucleus sampling mass; 1 disables it. Default 1.
    public var topP: Float
    /// Sample among the `topK` most likely tokens; 0 disables it. Default 0.
    public var topK: Int
    /// Seed for sampling, for reproducible runs at temperature > 0; `nil` is random. Default `nil`.
    public var seed: UInt64?
    /// Generation ends before the first of these strings; the text never contains it. Default none.
    public var stop: [String]
    /// Keep generating past end-of-generation tokens until `maxTokens` (benchmarks that need a fixed
    /// length). Default `false`.
    public var ignoresEndOfText: Bool

    /// Creates parameters; the defaults are greedy, 256 tokens, no stop strings.
    public init(
        maxTokens: Int = 256, temperature: Float = 0, topP: Float = 1, topK: Int = 0, seed: UInt64? = nil,
        stop: [String] = [], ignoresEndOfText: Bool = false
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.seed = seed
        self.stop = stop
        self.ignoresEndOfText = ignoresEndOfText
    }
}

/// Why generation ended.
public enum FinishReason: String, Sendable, Hashable {
    /// The model produced an end-of-generation token.
    case endOfText
    /// `maxTokens` were generated, or the context filled up.
    case length
    /// A stop string appeared.
    case stop
    /// The caller stopped it (the token callback returned `false`, or the task was cancelled).
    case cancelled
}

/// Where the time of one generation went.
public struct GenerationTimings: Sendable, Hashable {
    /// Decoding the (uncached part of the) prompt.
    public var promptEvaluation: Duration
    /// From the end of prompt evaluation to the end: sampling and decoding the completion.
    public var decoding: Duration
    /// From the call to the first sampled token.
    public var timeToFirstToken: Duration
    /// From the call to the start of its prompt evaluation (waiting for a free sequence slot).
    public var queueWait: Duration
    /// The compute time attributed to this generation: the whole of every step it ran alone, a share
    /// proportional to its rows of every step it shared with other sequences (continuous batching).
    public var deviceTime: Duration

    public init(
        promptEvaluation: Duration, decoding: Duration, timeToFirstToken: Duration, queueWait: Duration = .zero,
        deviceTime: Duration? = nil
    ) {
        self.promptEvaluation = promptEvaluation
        self.decoding = decoding
        self.timeToFirstToken = timeToFirstToken
        self.queueWait = queueWait
        self.deviceTime = deviceTime ?? promptEvaluation + decoding
    }
}

/// The result of a generation, with the token counts to bill it by.
public struct Generation: Sendable, Hashable {
    /// The generated text, without stop strings or end-of-generation tokens.
    public var text: String
    /// The generated tokens (an end-of-generation token is not included).
    public var tokens: [LlamaToken]
    /// Tokens in the prompt, cached ones included.
    public var promptTokens: Int
    /// Of ``promptTokens``, how many came from the KV cache instead of being decoded.
    public var cachedPromptTokens: Int
    /// Tokens generated (`tokens.count`).
    public var completionTokens: Int
    /// Why generation ended.
    public var finishReason: FinishReason
    /// Where the time went.
    public var timings: GenerationTimings

    public init(
        text: String, tokens: [LlamaToken], promptTokens: Int, cachedPromptTokens: Int, finishReason: FinishReason,
        timings: GenerationTimings
    ) {
        self.text = text
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.completionTokens = tokens.count
        self.finishReason = finishReason
        self.timings = timings
    }
}

/// A piece of streamed output: one generated token and the text that became final with it.
public struct GenerationChunk: Sendable, Hashable {
    /// The token just generated; `nil` for the closing chunk that releases held-back text.
    public var token: LlamaToken?
    /// Text that became final (possibly empty while a possible stop string or a split character is
    /// held back).
    public var text: String

    public init(token: LlamaToken?, text: String) {
        self.token = token
        self.text = text
    }
}
