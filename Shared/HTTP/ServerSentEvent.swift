/// One server-sent event (an `text/event-stream` message), as OpenAI, Anthropic and Gemini stream them.
public struct ServerSentEvent: Sendable, Hashable {
    /// The `event:` field, or nil when the event named none (the spec's default type `message`).
    public var event: String?
    /// The `data:` lines joined with `\n`.
    public var data: String
    /// The last `id:` seen on the stream so far (ids carry over to later events, as the spec says), or nil.
    public var id: String?

    /// Creates an event.
    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}
