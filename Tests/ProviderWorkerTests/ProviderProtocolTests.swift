import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Testing

@testable import ProviderWorker

@Suite struct ProviderProtocolTests {
    static let call = ModelCall(
        callID: "r/pool/0/0", requestID: "r", project: "p", role: .pool, round: 0, index: 0, model: "m", provider: nil,
        messages: [
            ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hi"),
            ChatMessage(role: .user, content: "Capital of France?"),
        ],
        maxTokens: 32, temperature: 0.5, deadlineMs: 0)
    static let key = Secret("sk-test-SECRET-123")

    static func provider(_ kind: ProviderKind) -> ProviderConfig {
        ProviderConfig(name: "p", kind: kind, baseURL: "http://127.0.0.1:1/v1", apiKeyEnvironment: "K", maxConcurrency: 1, timeout: .seconds(1), maxRetries: 0)
    }

    static func json(_ request: ProviderRequest) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
    }

    static let route = ProviderRoute(provider: "p", upstreamModel: "up/model-1", price: .free)

    @Test func openAIRequestShape() throws {
        let request = try ProviderProtocol.request(for: Self.call, route: Self.route, provider: Self.provider(.openAI), apiKey: Self.key)
        #expect(request.url == "http://127.0.0.1:1/v1/chat/completions")
        #expect(request.headers.contains { $0 == ("Authorization", "Bearer sk-test-SECRET-123") })
        let body = try Self.json(request)
        #expect(body["model"] as? String == "up/model-1")
        #expect(body["max_tokens"] as? Int == 32)
        #expect((body["messages"] as? [[String: String]])?.count == 3)
        #expect(!String(decoding: request.body, as: UTF8.self).contains("SECRET"))
    }

    @Test func anthropicTakesSystemApartAndMergesTurns() throws {
        let request = try ProviderProtocol.request(for: Self.call, route: Self.route, provider: Self.provider(.anthropic), apiKey: Self.key)
        #expect(request.url == "http://127.0.0.1:1/v1/v1/messages")
        #expect(request.headers.contains { $0 == ("x-api-key", "sk-test-SECRET-123") })
        #expect(request.headers.contains { $0.0 == "anthropic-version" })
        let body = try Self.json(request)
        #expect(body["system"] as? String == "Be brief.")
        let messages = try #require(body["messages"] as? [[String: String]])
        #expect(messages == [["role": "user", "content": "Hi\n\nCapital of France?"]])
    }

    @Test func geminiKeepsTheKeyOutOfTheURL() throws {
        let request = try ProviderProtocol.request(for: Self.call, route: Self.route, provider: Self.provider(.gemini), apiKey: Self.key)
        #expect(request.url == "http://127.0.0.1:1/v1/v1beta/models/up/model-1:generateContent")
        #expect(!request.url.contains("SECRET") && !request.url.contains("key="))
        #expect(request.headers.contains { $0 == ("x-goog-api-key", "sk-test-SECRET-123") })
        let body = try Self.json(request)
        #expect((body["systemInstruction"] as? [String: Any]) != nil)
        #expect(((body["generationConfig"] as? [String: Any])?["maxOutputTokens"] as? Int) == 32)
    }

    @Test func repliesOfEachKindParse() throws {
        let openAI = #"{"choices":[{"message":{"content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#
        #expect(try ProviderProtocol.reply(kind: .openAI, status: 200, body: Array(openAI.utf8), retryAfter: nil, providerName: "p").get()
            == ProviderReply(content: "Paris", finishReason: "stop", usage: TokenUsage(promptTokens: 12, completionTokens: 2, cachedPromptTokens: 4)))
        let anthropic = #"{"content":[{"type":"text","text":"Pa"},{"type":"text","text":"ris"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2,"cache_read_input_tokens":7}}"#
        #expect(try ProviderProtocol.reply(kind: .anthropic, status: 200, body: Array(anthropic.utf8), retryAfter: nil, providerName: "p").get()
            == ProviderReply(content: "Paris", finishReason: "end_turn", usage: TokenUsage(promptTokens: 12, completionTokens: 2, cachedPromptTokens: 7)))
        let gemini = #"{"candidates":[{"content":{"parts":[{"text":"Paris"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1}}"#
        #expect(try ProviderProtocol.reply(kind: .gemini, status: 200, body: Array(gemini.utf8), retryAfter: nil, providerName: "p").get()
            == ProviderReply(content: "Paris", finishReason: "stop", usage: TokenUsage(promptTokens: 9, completionTokens: 1)))
    }

    @Test func failuresAreClassified() {
        func failure(_ status: Int, _ body: String = "", retryAfter: Duration? = nil) -> ProviderFailure? {
            if case .failure(let f) = ProviderProtocol.reply(kind: .openAI, status: status, body: Array(body.utf8), retryAfter: retryAfter, providerName: "sim") { return f }
            return nil
        }
        #expect(failure(429, retryAfter: .seconds(2)) == ProviderFailure(code: "rate_limited", message: "sim answered 429 (rate limited)", isRetriable: true, retryAfter: .seconds(2)))
        #expect(failure(503)?.isRetriable == true)
        #expect(failure(500, #"{"error":{"message":"overloaded, try later"}}"#)?.message == "sim answered 500: overloaded, try later")
        #expect(failure(400)?.isRetriable == false)
        #expect(failure(401)?.code == "auth_failed")
        #expect(failure(200, "{truncated")?.code == "malformed_response")
        #expect(failure(200, "{truncated")?.isRetriable == true)
        // A provider echoing a key in its error message does not leak it into Chorus's records.
        let echoed = failure(502, #"{"error":{"message":"bad key sk-test-SECRET-123 for org"}}"#)
        #expect(echoed?.message == "sim answered 502: bad key [redacted] for org")
    }
}
