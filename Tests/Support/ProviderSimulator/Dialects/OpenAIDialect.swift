import Hummingbird

/// OpenAI chat completions: `POST /v1/chat/completions`, `Authorization: Bearer KEY`.
enum OpenAIDialect: ProviderDialect {
    static var kind: ProviderKind { .openAI }

    private struct Body: Decodable {
        struct Message: Decodable {
            var role: String
            var content: FlexibleText?
        }
        struct StreamOptions: Decodable {
            var includeUsage: Bool?
            enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
        }
        var model: String
        var messages: [Message]
        var maxTokens: Int?
        var maxCompletionTokens: Int?
        var temperature: Double?
        var stream: Bool?
        var streamOptions: StreamOptions?

        enum CodingKeys: String, CodingKey {
            case model, messages, temperature, stream
            case maxTokens = "max_tokens"
            case maxCompletionTokens = "max_completion_tokens"
            case streamOptions = "stream_options"
        }
    }

    static func apiKey(in request: Request) -> String? {
        guard let value = DialectSupport.header("authorization", in: request) else { return nil }
        let prefix = "Bearer "
        guard value.count > prefix.count, value.prefix(prefix.count).lowercased() == prefix.lowercased() else {
            return nil
        }
        return String(value.dropFirst(prefix.count))
    }

    static func authenticationFailure(keyPresent: Bool) -> String {
        keyPresent
            ? "Incorrect API key provided."
            : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    }

    static func headerProblem(in request: Request) -> String? { nil }

    static func decode(_ body: ByteBuffer, target: ChatTarget) throws(RequestProblem) -> DecodedChat {
        let decoded = try DialectSupport.decode(Body.self, from: body)
        guard !decoded.model.isEmpty else { throw RequestProblem("you must provide a model parameter") }
        guard !decoded.messages.isEmpty else { throw RequestProblem("`messages` must contain at least one message") }
        let request = SimulatedChatRequest(
            provider: .openAI, model: decoded.model,
            messages: decoded.messages.map { SimulatedMessage(role: $0.role, content: $0.content?.text ?? "") },
            maxTokens: decoded.maxCompletionTokens ?? decoded.maxTokens, temperature: decoded.temperature,
            stream: decoded.stream ?? false)
        return DecodedChat(request: request, includeUsage: decoded.streamOptions?.includeUsage ?? false)
    }

    static func answerBody(_ answer: SimulatedAnswer) -> String {
        var out = ""
        out.reserveCapacity(400 + answer.content.utf8.count)
        out += #"{"id":"chatcmpl-\#(answer.id)","object":"chat.completion","created":\#(answer.created),"model":"#
        JSONText.appendString(answer.model, to: &out)
        out += #","choices":[{"index":0,"message":{"role":"assistant","content":"#
        JSONText.appendString(answer.content, to: &out)
        out += #","refusal":null},"logprobs":null,"finish_reason":"\#(finishReason(answer))"}],"usage":"#
        appendUsage(answer, to: &out)
        out += #","system_fingerprint":"fp_simulator"}"#
        return out
    }

    static func streamEvents(_ answer: SimulatedAnswer, chat: DecodedChat) -> StreamEvents {
        var head = #"{"id":"chatcmpl-\#(answer.id)","object":"chat.completion.chunk","created":\#(answer.created),"model":"#
        JSONText.appendString(answer.model, to: &head)
        head += #","system_fingerprint":"fp_simulator","choices":["#
        let noUsage = chat.includeUsage ? #","usage":null}"# : "}"

        func event(_ json: String) -> String { "data: " + json + "\n\n" }

        let opening = event(
            head + #"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#
                + noUsage)
        let deltas = answer.chunks.map { piece in
            var json = head + #"{"index":0,"delta":{"content":"#
            JSONText.appendString(piece, to: &json)
            return event(json + #"},"logprobs":null,"finish_reason":null}]"# + noUsage)
        }
        var closing = [
            event(head + #"{"index":0,"delta":{},"logprobs":null,"finish_reason":"\#(finishReason(answer))"}]"# + noUsage)
        ]
        if chat.includeUsage {
            var usage = head + #"],"usage":"#
            appendUsage(answer, to: &usage)
            closing.append(event(usage + "}"))
        }
        closing.append("data: [DONE]\n\n")
        return StreamEvents(contentType: "text/event-stream", opening: [opening], deltas: deltas, closing: closing)
    }

    static func errorBody(status: Int, message: String) -> String {
        let (type, code): (String, String?) =
            switch status {
            case 400: ("invalid_request_error", nil)
            case 401: ("invalid_request_error", "invalid_api_key")
            case 404: ("invalid_request_error", "model_not_found")
            case 429: ("requests", "rate_limit_exceeded")
            case 500...599: ("server_error", nil)
            default: ("invalid_request_error", nil)
            }
        var out = #"{"error":{"message":"#
        JSONText.appendString(message, to: &out)
        out += #","type":"\#(type)","param":null,"code":"#
        out += code.map { #""\#($0)""# } ?? "null"
        return out + "}}"
    }

    private static func finishReason(_ answer: SimulatedAnswer) -> String {
        answer.truncated ? "length" : "stop"
    }

    private static func appendUsage(_ answer: SimulatedAnswer, to out: inout String) {
        out += #"{"prompt_tokens":\#(answer.promptTokens),"completion_tokens":\#(answer.completionTokens),"#
        out += #""total_tokens":\#(answer.promptTokens + answer.completionTokens),"#
        out += #""prompt_tokens_details":{"cached_tokens":\#(answer.cachedTokens),"audio_tokens":0},"#
        out += #""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}"#
    }
}
