import Hummingbird

/// Anthropic Messages: `POST /v1/messages`, `x-api-key: KEY`, `anthropic-version` required.
///
/// Usage follows the real API: `input_tokens` excludes the prompt tokens read from the cache,
/// which are reported as `cache_read_input_tokens`.
enum AnthropicDialect: ProviderDialect {
    static var kind: ProviderKind { .anthropic }

    private struct Body: Decodable {
        struct Message: Decodable {
            var role: String
            var content: FlexibleText
        }
        var model: String
        var maxTokens: Int
        var messages: [Message]
        var system: FlexibleText?
        var temperature: Double?
        var stream: Bool?

        enum CodingKeys: String, CodingKey {
            case model, messages, system, temperature, stream
            case maxTokens = "max_tokens"
        }
    }

    static func apiKey(in request: Request) -> String? {
        DialectSupport.header("x-api-key", in: request)
    }

    static func authenticationFailure(keyPresent: Bool) -> String {
        keyPresent ? "invalid x-api-key" : "x-api-key header is required"
    }

    static func headerProblem(in request: Request) -> String? {
        DialectSupport.header("anthropic-version", in: request) == nil ? "anthropic-version: header is required" : nil
    }

    static func decode(_ body: ByteBuffer, target: ChatTarget) throws(RequestProblem) -> DecodedChat {
        let decoded = try DialectSupport.decode(Body.self, from: body)
        guard !decoded.messages.isEmpty else { throw RequestProblem("messages: at least one message is required") }
        guard decoded.maxTokens >= 1 else { throw RequestProblem("max_tokens: must be greater than or equal to 1") }
        var messages = decoded.system.map { [SimulatedMessage(role: "system", content: $0.text)] } ?? []
        messages += decoded.messages.map { SimulatedMessage(role: $0.role, content: $0.content.text) }
        let request = SimulatedChatRequest(
            provider: .anthropic, model: decoded.model, messages: messages, maxTokens: decoded.maxTokens,
            temperature: decoded.temperature, stream: decoded.stream ?? false)
        return DecodedChat(request: request)
    }

    static func answerBody(_ answer: SimulatedAnswer) -> String {
        var out = ""
        out.reserveCapacity(400 + answer.content.utf8.count)
        out += #"{"id":"msg_\#(answer.id)","type":"message","role":"assistant","model":"#
        JSONText.appendString(answer.model, to: &out)
        out += #","content":[{"type":"text","text":"#
        JSONText.appendString(answer.content, to: &out)
        out += #"}],"stop_reason":"\#(stopReason(answer))","stop_sequence":null,"usage":"#
        out += usage(answer, outputTokens: answer.completionTokens)
        return out + "}"
    }

    static func streamEvents(_ answer: SimulatedAnswer, chat: DecodedChat) -> StreamEvents {
        func event(_ name: String, _ json: String) -> String { "event: \(name)\ndata: \(json)\n\n" }

        var start = #"{"type":"message_start","message":{"id":"msg_\#(answer.id)","type":"message","role":"assistant","model":"#
        JSONText.appendString(answer.model, to: &start)
        start += #","content":[],"stop_reason":null,"stop_sequence":null,"usage":"#
        start += usage(answer, outputTokens: min(1, answer.completionTokens)) + "}}"
        let opening = [
            event("message_start", start),
            event("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            event("ping", #"{"type":"ping"}"#),
        ]
        let deltas = answer.chunks.map { piece in
            var json = #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"#
            JSONText.appendString(piece, to: &json)
            return event("content_block_delta", json + "}}")
        }
        let closing = [
            event("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
            event(
                "message_delta",
                #"{"type":"message_delta","delta":{"stop_reason":"\#(stopReason(answer))","stop_sequence":null},"usage":{"output_tokens":\#(answer.completionTokens)}}"#
            ),
            event("message_stop", #"{"type":"message_stop"}"#),
        ]
        return StreamEvents(contentType: "text/event-stream", opening: opening, deltas: deltas, closing: closing)
    }

    static func errorBody(status: Int, message: String) -> String {
        let type =
            switch status {
            case 400: "invalid_request_error"
            case 401: "authentication_error"
            case 403: "permission_error"
            case 404: "not_found_error"
            case 413: "request_too_large"
            case 429: "rate_limit_error"
            case 503, 529: "overloaded_error"
            case 500...599: "api_error"
            default: "invalid_request_error"
            }
        var out = #"{"type":"error","error":{"type":"\#(type)","message":"#
        JSONText.appendString(message, to: &out)
        return out + "}}"
    }

    private static func stopReason(_ answer: SimulatedAnswer) -> String {
        answer.truncated ? "max_tokens" : "end_turn"
    }

    private static func usage(_ answer: SimulatedAnswer, outputTokens: Int) -> String {
        #"{"input_tokens":\#(answer.promptTokens - answer.cachedTokens),"cache_creation_input_tokens":0,"#
            + #""cache_read_input_tokens":\#(answer.cachedTokens),"output_tokens":\#(outputTokens)}"#
    }
}
