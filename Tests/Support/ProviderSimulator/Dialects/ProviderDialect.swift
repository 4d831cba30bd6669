#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird

/// How one provider API reads a chat request and writes answers, stream events and errors.
protocol ProviderDialect {
    static var kind: ProviderKind { get }

    /// The API key the request carries, if any.
    static func apiKey(in request: Request) -> String?

    /// The 401 message; it never contains the key.
    static func authenticationFailure(keyPresent: Bool) -> String

    /// A required header other than the key that is missing or wrong, as a 400 message.
    static func headerProblem(in request: Request) -> String?

    /// Reads the body; `target` carries what the path says (Gemini's model and method).
    static func decode(_ body: ByteBuffer, target: ChatTarget) throws(RequestProblem) -> DecodedChat

    /// The non-stream answer JSON.
    static func answerBody(_ answer: SimulatedAnswer) -> String

    /// The stream of an answer, split so that a cut can drop the closing events.
    static func streamEvents(_ answer: SimulatedAnswer, chat: DecodedChat) -> StreamEvents

    /// The provider's error JSON for `status`.
    static func errorBody(status: Int, message: String) -> String
}

/// What the request path says about the chat (Gemini puts model and method there).
struct ChatTarget: Sendable {
    var model: String?
    var stream: Bool?
    /// Gemini `?alt=sse`.
    var serverSentEvents = false
}

/// A decoded chat request plus the per-provider options that shape the answer.
struct DecodedChat: Sendable {
    var request: SimulatedChatRequest
    /// OpenAI `stream_options.include_usage`: send a usage chunk before `[DONE]`.
    var includeUsage = false
    /// Gemini `alt=sse`: server-sent events rather than a streamed JSON array.
    var serverSentEvents = true
}

/// A stream as pieces of response body: `opening` (start events), one `deltas` entry per content
/// piece, `closing` (finish, usage and terminating events).
struct StreamEvents: Sendable {
    var contentType: String
    var opening: [String]
    var deltas: [String]
    var closing: [String]

    /// What a cut stream sends: the opening and a couple of deltas (fewer than all when there are several).
    var cut: [String] {
        opening + deltas.prefix(deltas.count > 1 ? min(2, deltas.count - 1) : deltas.count)
    }

    /// The whole stream with one content event whose data is not valid JSON.
    var malformed: [String] {
        guard let first = deltas.first else { return opening + ["data: {\n\n"] + closing }
        return opening + [Self.corrupt(first)] + deltas.dropFirst() + closing
    }

    /// `event` with its JSON cut in half (a strict prefix of a JSON object is never valid JSON).
    private static func corrupt(_ event: String) -> String {
        guard let data = event.range(of: "data: ") else { return String(event.prefix(event.count / 2)) }
        let json = event[data.upperBound...].trimmingTrailingNewlines()
        return String(event[..<data.upperBound]) + json.prefix(json.count / 2) + "\n\n"
    }
}

/// A request the simulator answers with a 4xx in the provider's error shape.
struct RequestProblem: Error, Sendable {
    var status: Int
    var message: String

    init(status: Int = 400, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension Substring {
    fileprivate func trimmingTrailingNewlines() -> Substring {
        var text = self
        while let last = text.last, last == "\n" || last == "\r" || last == "\r\n" { text = text.dropLast() }
        return text
    }
}
