import Catalog
import ChorusRuntime
import Contracts
import Foundation

/// An HTTP request to a provider, before transport.
public struct ProviderRequest: Sendable {
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
}

/// What a provider answered, in Chorus's terms.
public struct ProviderReply: Sendable, Equatable {
    public var content: String
    public var finishReason: String?
    public var usage: TokenUsage
}

/// Why a provider attempt failed, and whether trying again (here or at the next provider) can help.
public struct ProviderFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// Worth retrying at the same provider (rate limits, 5xx, timeouts, cut or malformed replies).
    public var isRetriable: Bool
    /// The provider's Retry-After, if it sent one.
    public var retryAfter: Duration?
    /// Whether the provider may have billed the attempt (it produced tokens).
    public var billable: Bool = false

    public var description: String { "\(code): \(message)" }

    public var errorInfo: ErrorInfo { ErrorInfo(code: code, message: message) }
}

/// Request building and reply parsing for one provider wire protocol.
///
/// - Important: the API key goes into a header and nowhere else: never into the URL, a log line or
///   an error message.
public enum ProviderProtocol {
    public static func request(
        for call: ModelCall, route: ProviderRoute, provider: ProviderConfig, apiKey: Secret?
    ) throws -> ProviderRequest {
        switch provider.kind {
        case .openAI: try openAIRequest(call, route, provider, apiKey)
        case .anthropic: try anthropicRequest(call, route, provider, apiKey)
        case .gemini: try geminiRequest(call, route, provider, apiKey)
        }
    }

    /// Parses a completed HTTP exchange.
    public static func reply(kind: ProviderKind, status: Int, body: [UInt8], retryAfter: Duration?, providerName: String)
        -> Result<ProviderReply, ProviderFailure>
    {
        guard (200..<300).contains(status) else {
            return .failure(failure(status: status, body: body, retryAfter: retryAfter, providerName: providerName))
        }
        do {
            switch kind {
            case .openAI: return .success(try parseOpenAI(body))
            case .anthropic: return .success(try parseAnthropic(body))
            case .gemini: return .success(try parseGemini(body))
            }
        } catch {
            return .failure(ProviderFailure(
                code: "malformed_response", message: "\(providerName) answered \(status) with a body that is not a valid \(kind.rawValue) reply",
                isRetriable: true, retryAfter: nil))
        }
    }

    // MARK: - OpenAI chat completions

    private struct OpenAIBody: Encodable {
        var model: String
        var messages: [ChatMessage]
        var max_tokens: Int
        var temperature: Double
        var stream = false
    }

    private static func openAIRequest(_ call: ModelCall, _ route: ProviderRoute, _ provider: ProviderConfig, _ key: Secret?) throws -> ProviderRequest {
        var headers = [("Content-Type", "application/json")]
        if let key { headers.append(("Authorization", "Bearer \(key.exposed)")) }
        let body = OpenAIBody(model: route.upstreamModel, messages: call.messages, max_tokens: call.maxTokens, temperature: call.temperature)
        return ProviderRequest(url: "\(provider.baseURL)/chat/completions", headers: headers, body: Array(try JSONEncoder().encode(body)))
    }

    private struct OpenAIReply: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable { var content: String? }
            var message: Message
            var finish_reason: String?
        }
        struct Usage: Decodable {
            struct Details: Decodable { var cached_tokens: Int? }
            var prompt_tokens: Int?
            var completion_tokens: Int?
            var prompt_tokens_details: Details?
        }
        var choices: [Choice]
        var usage: Usage?
    }

    static func parseOpenAI(_ body: [UInt8]) throws -> ProviderReply {
        let reply = try JSONDecoder().decode(OpenAIReply.self, from: Data(body))
        guard let choice = reply.choices.first else { throw DecodingError.valueNotFound(String.self, .init(codingPath: [], debugDescription: "no choices")) }
        return ProviderReply(
            content: choice.message.content ?? "", finishReason: choice.finish_reason,
            usage: TokenUsage(
                promptTokens: reply.usage?.prompt_tokens ?? 0, completionTokens: reply.usage?.completion_tokens ?? 0,
                cachedPromptTokens: reply.usage?.prompt_tokens_details?.cached_tokens ?? 0))
    }

    // MARK: - Anthropic Messages

    private struct AnthropicBody: Encodable {
        struct Message: Encodable {
            var role: String
            var content: String
        }
        var model: String
        var max_tokens: Int
        var temperature: Double
        var system: String?
        var messages: [Message]
    }

    private static func anthropicRequest(_ call: ModelCall, _ route: ProviderRoute, _ provider: ProviderConfig, _ key: Secret?) throws -> ProviderRequest {
        var headers = [("Content-Type", "application/json"), ("anthropic-version", "2023-06-01")]
        if let key { headers.append(("x-api-key", key.exposed)) }
        // Anthropic takes system text apart and wants alternating turns: merge consecutive same-role turns.
        let system = call.messages.filter { $0.role == .system }.map(\.content).joined(separator: "\n\n")
        var turns: [AnthropicBody.Message] = []
        for message in call.messages where message.role != .system {
            if let last = turns.last, last.role == message.role.rawValue {
                turns[turns.count - 1].content += "\n\n" + message.content
            } else {
                turns.append(.init(role: message.role.rawValue, content: message.content))
            }
        }
        let body = AnthropicBody(
            model: route.upstreamModel, max_tokens: call.maxTokens, temperature: min(call.temperature, 1),
            system: system.isEmpty ? nil : system, messages: turns)
        return ProviderRequest(url: "\(provider.baseURL)/v1/messages", headers: headers, body: Array(try JSONEncoder().encode(body)))
    }

    private struct AnthropicReply: Decodable {
        struct Block: Decodable {
            var type: String
            var text: String?
        }
        struct Usage: Decodable {
            var input_tokens: Int?
            var output_tokens: Int?
            var cache_read_input_tokens: Int?
            var cache_creation_input_tokens: Int?
        }
        var content: [Block]
        var stop_reason: String?
        var usage: Usage?
    }

    static func parseAnthropic(_ body: [UInt8]) throws -> ProviderReply {
        let reply = try JSONDecoder().decode(AnthropicReply.self, from: Data(body))
        let text = reply.content.filter { $0.type == "text" }.compactMap(\.text).joined()
        let usage = reply.usage
        // Anthropic's input_tokens excludes cache reads and writes; Chorus counts all prompt tokens.
        let cached = usage?.cache_read_input_tokens ?? 0
        let prompt = (usage?.input_tokens ?? 0) + cached + (usage?.cache_creation_input_tokens ?? 0)
        return ProviderReply(
            content: text, finishReason: reply.stop_reason,
            usage: TokenUsage(promptTokens: prompt, completionTokens: usage?.output_tokens ?? 0, cachedPromptTokens: cached))
    }

    // MARK: - Gemini generateContent

    private struct GeminiBody: Encodable {
        struct Part: Encodable { var text: String }
        struct Content: Encodable {
            var role: String?
            var parts: [Part]
        }
        struct Config: Encodable {
            var maxOutputTokens: Int
            var temperature: Double
        }
        var contents: [Content]
        var systemInstruction: Content?
        var generationConfig: Config
    }

    private static func geminiRequest(_ call: ModelCall, _ route: ProviderRoute, _ provider: ProviderConfig, _ key: Secret?) throws -> ProviderRequest {
        var headers = [("Content-Type", "application/json")]
        // The key travels in a header, never as ?key= in the URL (URLs end up in logs).
        if let key { headers.append(("x-goog-api-key", key.exposed)) }
        let system = call.messages.filter { $0.role == .system }.map(\.content).joined(separator: "\n\n")
        let contents = call.messages.filter { $0.role != .system }.map {
            GeminiBody.Content(role: $0.role == .assistant ? "model" : "user", parts: [.init(text: $0.content)])
        }
        let body = GeminiBody(
            contents: contents, systemInstruction: system.isEmpty ? nil : .init(role: nil, parts: [.init(text: system)]),
            generationConfig: .init(maxOutputTokens: call.maxTokens, temperature: call.temperature))
        let model = route.upstreamModel.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? route.upstreamModel
        return ProviderRequest(
            url: "\(provider.baseURL)/v1beta/models/\(model):generateContent", headers: headers, body: Array(try JSONEncoder().encode(body)))
    }

    private struct GeminiReply: Decodable {
        struct Candidate: Decodable {
            struct Content: Decodable {
                struct Part: Decodable { var text: String? }
                var parts: [Part]?
            }
            var content: Content?
            var finishReason: String?
        }
        struct Usage: Decodable {
            var promptTokenCount: Int?
            var candidatesTokenCount: Int?
            var cachedContentTokenCount: Int?
        }
        var candidates: [Candidate]
        var usageMetadata: Usage?
    }

    static func parseGemini(_ body: [UInt8]) throws -> ProviderReply {
        let reply = try JSONDecoder().decode(GeminiReply.self, from: Data(body))
        guard let candidate = reply.candidates.first else {
            throw DecodingError.valueNotFound(String.self, .init(codingPath: [], debugDescription: "no candidates"))
        }
        let text = (candidate.content?.parts ?? []).compactMap(\.text).joined()
        return ProviderReply(
            content: text, finishReason: candidate.finishReason?.lowercased(),
            usage: TokenUsage(
                promptTokens: reply.usageMetadata?.promptTokenCount ?? 0,
                completionTokens: reply.usageMetadata?.candidatesTokenCount ?? 0,
                cachedPromptTokens: reply.usageMetadata?.cachedContentTokenCount ?? 0))
    }

    // MARK: - Failures

    /// An HTTP error status, classified. The provider's own message is kept only when short and
    /// free of anything that looks like a key (providers echo key prefixes in 401 messages).
    static func failure(status: Int, body: [UInt8], retryAfter: Duration?, providerName: String) -> ProviderFailure {
        switch status {
        case 429:
            return ProviderFailure(
                code: "rate_limited", message: "\(providerName) answered 429 (rate limited)", isRetriable: true, retryAfter: retryAfter)
        case 401, 403:
            return ProviderFailure(
                code: "auth_failed", message: "\(providerName) refused the API key (\(status)); check the key's variable",
                isRetriable: false, retryAfter: nil)
        case 408, 500...599:
            return ProviderFailure(
                code: "upstream_error", message: "\(providerName) answered \(status)\(detail(body))", isRetriable: true,
                retryAfter: retryAfter)
        default:
            return ProviderFailure(
                code: "upstream_rejected", message: "\(providerName) answered \(status)\(detail(body))", isRetriable: false,
                retryAfter: nil)
        }
    }

    private static func detail(_ body: [UInt8]) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.prefix(4096))) as? [String: Any] else { return "" }
        let message = ((object["error"] as? [String: Any])?["message"] as? String) ?? (object["message"] as? String)
        guard var text = message else { return "" }
        text = String(text.prefix(200)).replacingOccurrences(of: "\n", with: " ")
        // Never repeat anything that looks like a credential.
        let redacted = text.split(separator: " ").map { word -> String in
            let w = String(word)
            return (w.hasPrefix("sk-") || w.hasPrefix("AIza") || w.hasPrefix("hf_") || (w.count >= 32 && !w.contains("."))) ? "[redacted]" : w
        }.joined(separator: " ")
        return ": \(redacted)"
    }
}
