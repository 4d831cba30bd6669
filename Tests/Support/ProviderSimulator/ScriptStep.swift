/// One scripted answer, consumed by the next request for its model.
///
/// A model's steps form a queue: each request takes the first one, and once the queue is empty the
/// model answers by its ``ModelBehavior`` again. Fields left `nil` fall back to the custom responder,
/// then to the model's behaviour.
///
/// Control endpoint: `POST /_sim/script/{model}` with `{"steps": [...]}` appends steps such as
/// `{"status": 500}`, `{"status": 429, "retry_after": 2}`, `{"content": "hi", "latency_ms": 50,
/// "prompt_tokens": 3, "completion_tokens": 4, "cached_tokens": 0}`, `{"hang": true}`,
/// `{"malformed": true}`, `{"cut_stream": true}` or `{"latency_ms": 500}`.
public struct ScriptStep: Sendable, Hashable {
    /// What the step makes the simulator do.
    public enum Action: Sendable, Hashable {
        /// A normal answer (content and usage from the step, or the fallbacks).
        case answer
        /// An error in the provider's error shape; `retryAfter` becomes a `Retry-After` header (whole seconds, rounded up).
        case fail(status: Int, retryAfter: Duration?)
        /// No answer at all until the client closes the connection (or the simulator shuts down).
        case hang
        /// Status 200 with a body that is not valid JSON (a stream: an event whose data is not JSON).
        case malformed
        /// A stream that stops after a couple of events and closes the connection without the
        /// terminating event (`[DONE]`, `message_stop`, Gemini's final chunk); a non-stream
        /// answer is cut half-way through its body.
        case cutStream
    }

    public var action: Action
    /// The answer text (for `.answer`, `.malformed`, `.cutStream`).
    public var content: String?
    /// Replaces the model's latency and jitter for this one request.
    public var latency: Duration?
    /// Reported usage for this one answer.
    public var promptTokens: Int?
    /// Reported usage for this one answer (still capped by `max_tokens`).
    public var completionTokens: Int?
    /// Reported cached prompt tokens for this one answer.
    public var cachedTokens: Int?

    /// A step doing `action`; `nil` fields fall back to the responder and the model's behaviour.
    public init(
        _ action: Action = .answer, content: String? = nil, latency: Duration? = nil,
        promptTokens: Int? = nil, completionTokens: Int? = nil, cachedTokens: Int? = nil
    ) {
        self.action = action
        self.content = content
        self.latency = latency
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
    }

    /// An error answer with `status` (e.g. 500, 503, or 429 with `retryAfter`).
    public static func fail(_ status: Int, retryAfter: Duration? = nil, latency: Duration? = nil) -> ScriptStep {
        ScriptStep(.fail(status: status, retryAfter: retryAfter), latency: latency)
    }

    /// A normal answer; `nil` fields fall back to the responder and the model's behaviour.
    public static func answer(
        _ content: String? = nil, latency: Duration? = nil,
        promptTokens: Int? = nil, completionTokens: Int? = nil, cachedTokens: Int? = nil
    ) -> ScriptStep {
        ScriptStep(
            .answer, content: content, latency: latency,
            promptTokens: promptTokens, completionTokens: completionTokens, cachedTokens: cachedTokens)
    }

    /// See ``Action/hang``.
    public static let hang = ScriptStep(.hang)
    /// See ``Action/malformed``.
    public static let malformed = ScriptStep(.malformed)
    /// See ``Action/cutStream``.
    public static let cutStream = ScriptStep(.cutStream)
}
