import Foundation
import ProviderSimulator
import Testing

/// The three APIs answer in their real shapes, streams carry the same content as plain answers.
@Suite struct ProviderAPITests {
    static let prompt = "What is the capital of France?"
    /// "You are terse." (3) + the prompt (6).
    static let promptWords = 9

    @Test func openAIAnswerAndStreamCarryTheSameContent() async throws {
        try await withSimulator { _, base in
            let url = base + "/v1/chat/completions"
            let plain = await TestHTTP.send(
                url, headers: Requests.openAIHeaders(), body: Requests.openAI(model: "gpt-test", prompt: Self.prompt))
            #expect(plain.status == 200)
            #expect(plain.headers["content-type"] == "application/json")
            let json = try plain.json()
            #expect(json["object"] as? String == "chat.completion")
            let content = try #require(dig(json, "choices", 0, "message", "content") as? String)
            #expect(content.hasPrefix("[gpt-test] "))
            #expect(dig(json, "choices", 0, "message", "role") as? String == "assistant")
            #expect(dig(json, "choices", 0, "finish_reason") as? String == "stop")
            let words = content.split(separator: " ").count
            #expect(dig(json, "usage", "prompt_tokens") as? Int == Self.promptWords)
            #expect(dig(json, "usage", "completion_tokens") as? Int == words)
            #expect(dig(json, "usage", "total_tokens") as? Int == Self.promptWords + words)
            #expect(dig(json, "usage", "prompt_tokens_details", "cached_tokens") as? Int == 0)

            // The same request again: the content is deterministic.
            let again = await TestHTTP.send(
                url, headers: Requests.openAIHeaders(), body: Requests.openAI(model: "gpt-test", prompt: Self.prompt))
            #expect(try dig(again.json(), "choices", 0, "message", "content") as? String == content)

            let streamed = await TestHTTP.send(
                url, headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-test", prompt: Self.prompt, stream: true, includeUsage: true))
            #expect(streamed.status == 200)
            #expect(streamed.failure == nil)
            #expect(streamed.headers["content-type"] == "text/event-stream")
            let data = streamed.eventData
            #expect(data.last == "[DONE]")
            let chunks = try data.dropLast().map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            let reassembled = chunks.compactMap { dig($0, "choices", 0, "delta", "content") as? String }.joined()
            #expect(reassembled == content)
            #expect(chunks.contains { dig($0, "choices", 0, "finish_reason") as? String == "stop" })
            let usages = chunks.compactMap { $0["usage"] as? [String: Any] }
            #expect(usages.count == 1)
            #expect(dig(usages.first, "completion_tokens") as? Int == words)
            #expect(dig(usages.first, "prompt_tokens") as? Int == Self.promptWords)
            #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true, "the usage chunk comes last, with no choices")

            // Without include_usage there is no usage chunk.
            let withoutUsage = await TestHTTP.send(
                url, headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-test", prompt: Self.prompt, stream: true))
            #expect(withoutUsage.eventData.last == "[DONE]")
            #expect(!withoutUsage.text.contains("\"usage\""))
        }
    }

    @Test func maxTokensCapsTheAnswer() async throws {
        try await withSimulator { simulator, base in
            simulator.setBehavior(ModelBehavior(content: "one two three four five six"), for: "gpt-capped")
            let capped = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-capped", prompt: Self.prompt, maxTokens: 2))
            let json = try capped.json()
            #expect(dig(json, "choices", 0, "message", "content") as? String == "one two")
            #expect(dig(json, "choices", 0, "finish_reason") as? String == "length")
            #expect(dig(json, "usage", "completion_tokens") as? Int == 2)
        }
    }

    @Test func anthropicAnswerAndStreamCarryContentAndUsage() async throws {
        try await withSimulator { simulator, base in
            simulator.setBehavior(ModelBehavior(promptTokens: 40, cachedTokens: 30), for: "claude-test")
            let url = base + "/v1/messages"
            let plain = await TestHTTP.send(
                url, headers: Requests.anthropicHeaders(), body: Requests.anthropic(model: "claude-test", prompt: Self.prompt))
            #expect(plain.status == 200)
            let json = try plain.json()
            #expect(json["type"] as? String == "message")
            #expect(json["role"] as? String == "assistant")
            #expect(dig(json, "content", 0, "type") as? String == "text")
            let content = try #require(dig(json, "content", 0, "text") as? String)
            #expect(content.hasPrefix("[claude-test] "))
            #expect(json["stop_reason"] as? String == "end_turn")
            // Anthropic counts cached prompt tokens apart from input_tokens.
            #expect(dig(json, "usage", "input_tokens") as? Int == 10)
            #expect(dig(json, "usage", "cache_read_input_tokens") as? Int == 30)
            #expect(dig(json, "usage", "output_tokens") as? Int == content.split(separator: " ").count)

            let streamed = await TestHTTP.send(
                url, headers: Requests.anthropicHeaders(),
                body: Requests.anthropic(model: "claude-test", prompt: Self.prompt, stream: true))
            #expect(streamed.status == 200)
            #expect(streamed.failure == nil)
            let names = streamed.eventNames
            #expect(names.first == "message_start")
            #expect(Array(names.suffix(3)) == ["content_block_stop", "message_delta", "message_stop"])
            let events = try streamed.eventData.map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
            #expect(events.map { $0["type"] as? String ?? "?" } == names)
            let text = events.filter { $0["type"] as? String == "content_block_delta" }
                .compactMap { dig($0, "delta", "text") as? String }.joined()
            #expect(text == content)
            #expect(dig(events.first, "message", "usage", "input_tokens") as? Int == 10)
            #expect(dig(events.first, "message", "usage", "cache_read_input_tokens") as? Int == 30)
            let delta = try #require(events.first { $0["type"] as? String == "message_delta" })
            #expect(dig(delta, "delta", "stop_reason") as? String == "end_turn")
            #expect(dig(delta, "usage", "output_tokens") as? Int == content.split(separator: " ").count)
        }
    }

    @Test func geminiAnswerAndStreamCarryContentAndUsage() async throws {
        try await withSimulator { simulator, base in
            simulator.setBehavior(ModelBehavior(cachedTokens: 4), for: "gemini-test")
            let plain = await TestHTTP.send(
                base + "/v1beta/models/gemini-test:generateContent", headers: Requests.geminiHeaders(),
                body: Requests.gemini(prompt: Self.prompt))
            #expect(plain.status == 200)
            let json = try plain.json()
            let content = try #require(dig(json, "candidates", 0, "content", "parts", 0, "text") as? String)
            #expect(content.hasPrefix("[gemini-test] "))
            #expect(dig(json, "candidates", 0, "content", "role") as? String == "model")
            #expect(dig(json, "candidates", 0, "finishReason") as? String == "STOP")
            let words = content.split(separator: " ").count
            #expect(dig(json, "usageMetadata", "promptTokenCount") as? Int == Self.promptWords)
            #expect(dig(json, "usageMetadata", "candidatesTokenCount") as? Int == words)
            #expect(dig(json, "usageMetadata", "totalTokenCount") as? Int == Self.promptWords + words)
            #expect(dig(json, "usageMetadata", "cachedContentTokenCount") as? Int == 4)

            let streamed = await TestHTTP.send(
                base + "/v1beta/models/gemini-test:streamGenerateContent?alt=sse", headers: Requests.geminiHeaders(),
                body: Requests.gemini(prompt: Self.prompt))
            #expect(streamed.status == 200)
            #expect(streamed.failure == nil)
            #expect(streamed.headers["content-type"] == "text/event-stream")
            let chunks = try streamed.eventData.map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
            let text = chunks.compactMap { dig($0, "candidates", 0, "content", "parts", 0, "text") as? String }.joined()
            #expect(text == content)
            let last = try #require(chunks.last)
            #expect(dig(last, "candidates", 0, "finishReason") as? String == "STOP")
            #expect(dig(last, "usageMetadata", "candidatesTokenCount") as? Int == words)
            #expect(chunks.dropLast().allSatisfy { dig($0, "candidates", 0, "finishReason") == nil })

            // Without alt=sse the stream is one JSON array.
            let array = await TestHTTP.send(
                base + "/v1beta/models/gemini-test:streamGenerateContent?key=test-key",
                body: Requests.gemini(prompt: Self.prompt))
            #expect(array.status == 200)
            let elements = try #require(try JSONSerialization.jsonObject(with: Data(array.body)) as? [[String: Any]])
            #expect(elements.compactMap { dig($0, "candidates", 0, "content", "parts", 0, "text") as? String }.joined() == content)
        }
    }

    @Test func badRequestsAreAnsweredInTheProviderShape() async throws {
        try await withSimulator { _, base async throws in
            let noModel = await TestHTTP.send(
                base + "/v1/chat/completions", body: #"{"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(noModel.status == 400)
            #expect((try dig(noModel.json(), "error", "message") as? String)?.contains("model") == true)

            let noVersion = await TestHTTP.send(
                base + "/v1/messages", headers: ["x-api-key": "k"], body: Requests.anthropic(model: "c", prompt: "hi"))
            #expect(noVersion.status == 400)
            #expect(try dig(noVersion.json(), "error", "type") as? String == "invalid_request_error")

            let notJSON = await TestHTTP.send(
                base + "/v1beta/models/g:generateContent", body: "not json")
            #expect(notJSON.status == 400)
            #expect(try dig(notJSON.json(), "error", "status") as? String == "INVALID_ARGUMENT")

            let unknownMethod = await TestHTTP.send(base + "/v1beta/models/g:countTokens", body: "{}")
            #expect(unknownMethod.status == 404)
            #expect(try dig(unknownMethod.json(), "error", "status") as? String == "NOT_FOUND")
        }
    }
}
