import Hummingbird

/// Google Gemini: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`
/// (`?alt=sse` for server-sent events, otherwise a streamed JSON array), key in `x-goog-api-key`
/// or `?key=`.
///
/// Like the real API, a stream has no terminating event: its last chunk carries `finishReason`
/// and the full `usageMetadata`; `cachedContentTokenCount` appears only when non-zero.
enum GeminiDialect: ProviderDialect {
    static var kind: ProviderKind { .gemini }

    private struct Body: Decodable {
        struct Content: Decodable {
            struct Part: Decodable {
                var text: String?
            }
            var role: String?
            var parts: [Part]
        }
        struct GenerationConfig: Decodable {
            var maxOutputTokens: Int?
            var temperature: Double?
            enum CodingKeys: String, CodingKey {
                case maxOutputTokens, temperature
                case maxOutputTokensSnake = "max_output_tokens"
            }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                maxOutputTokens = try container.decodeIfPresent(Int.self, forKey: .maxOutputTokens)
                    ?? container.decodeIfPresent(Int.self, forKey: .maxOutputTokensSnake)
                temperature = try container.decodeIfPresent(Double.self, forKey: .temperature)
            }
        }
        var contents: [Content]
        var systemInstruction: Content?
        var generationConfig: GenerationConfig?

        // The REST API accepts both spellings of these fields.
        enum CodingKeys: String, CodingKey {
            case contents, systemInstruction, generationConfig
            case systemInstructionSnake = "system_instruction"
            case generationConfigSnake = "generation_config"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            contents = try container.decode([Content].self, forKey: .contents)
            systemInstruction = try container.decodeIfPresent(Content.self, forKey: .systemInstruction)
                ?? container.decodeIfPresent(Content.self, forKey: .systemInstructionSnake)
            generationConfig = try container.decodeIfPresent(GenerationConfig.self, forKey: .generationConfig)
                ?? container.decodeIfPresent(GenerationConfig.self, forKey: .generationConfigSnake)
        }
    }

    static func apiKey(in request: Request) -> String? {
        DialectSupport.header("x-goog-api-key", in: request)
            ?? request.uri.queryParameters["key"].map(String.init)
    }

    static func authenticationFailure(keyPresent: Bool) -> String {
        keyPresent
            ? "API key not valid. Please pass a valid API key."
            : "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
    }

    static func headerProblem(in request: Request) -> String? { nil }

    static func decode(_ body: ByteBuffer, target: ChatTarget) throws(RequestProblem) -> DecodedChat {
        guard let model = target.model, !model.isEmpty else { throw RequestProblem(status: 404, "model not found") }
        let decoded = try DialectSupport.decode(Body.self, from: body)
        guard !decoded.contents.isEmpty else { throw RequestProblem("* GenerateContentRequest.contents: contents is not specified") }
        func text(_ content: Body.Content) -> String { content.parts.compactMap(\.text).joined() }
        var messages = decoded.systemInstruction.map { [SimulatedMessage(role: "system", content: text($0))] } ?? []
        messages += decoded.contents.map { content in
            SimulatedMessage(role: content.role == "model" ? "assistant" : (content.role ?? "user"), content: text(content))
        }
        let request = SimulatedChatRequest(
            provider: .gemini, model: model, messages: messages,
            maxTokens: decoded.generationConfig?.maxOutputTokens, temperature: decoded.generationConfig?.temperature,
            stream: target.stream ?? false)
        return DecodedChat(request: request, serverSentEvents: target.serverSentEvents)
    }

    static func answerBody(_ answer: SimulatedAnswer) -> String {
        chunk(answer, text: answer.content, final: true)
    }

    static func streamEvents(_ answer: SimulatedAnswer, chat: DecodedChat) -> StreamEvents {
        let pieces = answer.chunks.map { chunk(answer, text: $0, final: false) }
        let last = chunk(answer, text: "", final: true)
        if chat.serverSentEvents {
            func event(_ json: String) -> String { "data: " + json + "\r\n\r\n" }
            return StreamEvents(
                contentType: "text/event-stream", opening: [], deltas: pieces.map(event), closing: [event(last)])
        }
        // Without alt=sse the API streams one JSON array, element by element.
        let elements = pieces.enumerated().map { $0.offset == 0 ? $0.element : ",\r\n" + $0.element }
        return StreamEvents(
            contentType: "application/json", opening: ["["], deltas: elements,
            closing: [(pieces.isEmpty ? "" : ",\r\n") + last + "]"])
    }

    static func errorBody(status: Int, message: String) -> String {
        let name =
            switch status {
            case 400: "INVALID_ARGUMENT"
            case 401: "UNAUTHENTICATED"
            case 403: "PERMISSION_DENIED"
            case 404: "NOT_FOUND"
            case 429: "RESOURCE_EXHAUSTED"
            case 500: "INTERNAL"
            case 503: "UNAVAILABLE"
            case 504: "DEADLINE_EXCEEDED"
            default: "UNKNOWN"
            }
        var out = #"{"error":{"code":\#(status),"message":"#
        JSONText.appendString(message, to: &out)
        return out + #","status":"\#(name)"}}"#
    }

    /// One `GenerateContentResponse`; the final one carries `finishReason` and the full usage.
    private static func chunk(_ answer: SimulatedAnswer, text: String, final: Bool) -> String {
        var out = #"{"candidates":[{"content":{"parts":[{"text":"#
        JSONText.appendString(text, to: &out)
        out += #"}],"role":"model"}"#
        if final { out += #","finishReason":"\#(answer.truncated ? "MAX_TOKENS" : "STOP")""# }
        out += #","index":0}],"usageMetadata":{"promptTokenCount":\#(answer.promptTokens),"#
        if final {
            out += #""candidatesTokenCount":\#(answer.completionTokens),"#
            out += #""totalTokenCount":\#(answer.promptTokens + answer.completionTokens)"#
            if answer.cachedTokens > 0 { out += #","cachedContentTokenCount":\#(answer.cachedTokens)"# }
        } else {
            out += #""totalTokenCount":\#(answer.promptTokens)"#
        }
        out += #"},"modelVersion":"#
        JSONText.appendString(answer.model, to: &out)
        return out + #","responseId":"\#(answer.id)"}"#
    }
}
