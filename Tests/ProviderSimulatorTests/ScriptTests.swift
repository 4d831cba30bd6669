import Foundation
import ProviderSimulator
import Testing

/// Scripted steps are consumed in order, then the model answers by default again.
@Suite struct ScriptTests {
    @Test func scriptedStatusesComeInOrderThenTheDefault() async throws {
        try await withSimulator { simulator, base in
            let script = await TestHTTP.send(
                base + "/_sim/script/gpt-script",
                body: #"{"steps":[{"status":500},{"status":200,"content":"scripted answer","prompt_tokens":3,"completion_tokens":4}]}"#)
            #expect(script.status == 200)
            #expect(try dig(script.json(), "queued") as? Int == 2)

            func ask() async -> HTTPExchange {
                await TestHTTP.send(
                    base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                    body: Requests.openAI(model: "gpt-script", prompt: "hello there"))
            }
            let first = await ask()
            #expect(first.status == 500)
            #expect(try dig(first.json(), "error", "type") as? String == "server_error")

            let second = await ask()
            #expect(second.status == 200)
            let json = try second.json()
            #expect(dig(json, "choices", 0, "message", "content") as? String == "scripted answer")
            #expect(dig(json, "usage", "prompt_tokens") as? Int == 3)
            #expect(dig(json, "usage", "completion_tokens") as? Int == 4)

            let third = await ask()
            #expect(third.status == 200)
            #expect((try dig(third.json(), "choices", 0, "message", "content") as? String)?.hasPrefix("[gpt-script] ") == true)

            #expect(simulator.stats["gpt-script"].responses == [500: 1, 200: 2])
        }
    }

    @Test func rateLimitCarriesRetryAfterInEachShape() async throws {
        try await withSimulator { simulator, base in
            simulator.enqueue([.fail(429, retryAfter: .seconds(2))], for: "gpt-limited")
            simulator.enqueue([.fail(429, retryAfter: .milliseconds(1500))], for: "claude-limited")
            simulator.enqueue([.fail(503)], for: "gemini-limited")

            let openAI = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-limited", prompt: "hi"))
            #expect(openAI.status == 429)
            #expect(openAI.headers["retry-after"] == "2")
            #expect(try dig(openAI.json(), "error", "code") as? String == "rate_limit_exceeded")

            let anthropic = await TestHTTP.send(
                base + "/v1/messages", headers: Requests.anthropicHeaders(),
                body: Requests.anthropic(model: "claude-limited", prompt: "hi"))
            #expect(anthropic.status == 429)
            #expect(anthropic.headers["retry-after"] == "2", "whole seconds, rounded up")
            let anthropicJSON = try anthropic.json()
            #expect(anthropicJSON["type"] as? String == "error")
            #expect(dig(anthropicJSON, "error", "type") as? String == "rate_limit_error")

            let gemini = await TestHTTP.send(
                base + "/v1beta/models/gemini-limited:generateContent", headers: Requests.geminiHeaders(),
                body: Requests.gemini(prompt: "hi"))
            #expect(gemini.status == 503)
            #expect(gemini.headers["retry-after"] == nil)
            #expect(try dig(gemini.json(), "error", "code") as? Int == 503)
            #expect(try dig(gemini.json(), "error", "status") as? String == "UNAVAILABLE")
        }
    }

    @Test func malformedAnswersAreNotJSON() async throws {
        try await withSimulator { simulator, base in
            simulator.enqueue([.malformed, .malformed], for: "gpt-broken")
            let plain = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-broken", prompt: "hi"))
            #expect(plain.status == 200)
            #expect(!plain.body.isEmpty)
            #expect(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data(plain.body)) }

            let streamed = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-broken", prompt: "hi", stream: true))
            #expect(streamed.status == 200)
            let unreadable = streamed.eventData.filter { line in
                line != "[DONE]" && (try? JSONSerialization.jsonObject(with: Data(line.utf8))) == nil
            }
            #expect(unreadable.count == 1)
            #expect(simulator.stats["gpt-broken"].malformed == 2)
        }
    }

    @Test func cutStreamsEndWithoutTheirTerminatingEvent() async throws {
        try await withSimulator { simulator, base in
            simulator.enqueue([.cutStream], for: "gpt-cut")
            let openAI = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-cut", prompt: "hi", stream: true, includeUsage: true))
            #expect(openAI.status == 200)
            #expect(openAI.failure != nil, "the connection closes mid-body")
            #expect(!openAI.eventData.isEmpty, "a couple of chunks arrive before the cut")
            #expect(!openAI.eventData.contains("[DONE]"))

            simulator.enqueue([.cutStream], for: "claude-cut")
            let anthropic = await TestHTTP.send(
                base + "/v1/messages", headers: Requests.anthropicHeaders(),
                body: Requests.anthropic(model: "claude-cut", prompt: "hi", stream: true))
            #expect(anthropic.status == 200)
            #expect(anthropic.failure != nil)
            #expect(anthropic.eventNames.contains("content_block_delta"))
            #expect(!anthropic.eventNames.contains("message_stop"))

            // The next request for the model streams completely again.
            let whole = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-cut", prompt: "hi", stream: true))
            #expect(whole.failure == nil)
            #expect(whole.eventData.last == "[DONE]")
            #expect(simulator.stats["gpt-cut"].streamsCut == 1)
        }
    }

    @Test func hangingRequestsNeverAnswer() async throws {
        try await withSimulator { simulator, base in
            simulator.enqueue([.hang], for: "gpt-hang")
            let hung = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-hang", prompt: "hi"), timeout: 3)
            #expect(hung.status == nil)
            #expect(hung.failure == .timedOut)
            // Under a loaded machine the server may register the hang a moment after the client gave up.
            for _ in 0..<50 where simulator.stats["gpt-hang"].hangs == 0 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(simulator.stats["gpt-hang"].hangs == 1)

            // The script is spent: the model answers again.
            let next = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: "gpt-hang", prompt: "hi"))
            #expect(next.status == 200)
        }
    }

    @Test func scriptsAndBehavioursCanBeClearedOverHTTP() async throws {
        try await withSimulator { simulator, base in
            // A model name with a slash, as OpenRouter and Hugging Face spell them.
            let model = "meta-llama/Llama-3.1-8B-Instruct"
            let configured = await TestHTTP.send(
                base + "/_sim/models/" + model,
                body: #"{"content":"fixed text","prompt_tokens":11,"completion_tokens":7,"cached_tokens":5}"#)
            #expect(configured.status == 204)
            _ = await TestHTTP.send(base + "/_sim/script/" + model, body: #"{"steps":[{"status":500}]}"#)
            let cleared = await TestHTTP.send(base + "/_sim/script/" + model, method: "DELETE")
            #expect(cleared.status == 204)

            let answer = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: model, prompt: "hi"))
            #expect(answer.status == 200)
            let json = try answer.json()
            #expect(dig(json, "choices", 0, "message", "content") as? String == "fixed text")
            #expect(dig(json, "usage", "prompt_tokens") as? Int == 11)
            #expect(dig(json, "usage", "completion_tokens") as? Int == 7)
            #expect(dig(json, "usage", "prompt_tokens_details", "cached_tokens") as? Int == 5)

            let reset = await TestHTTP.send(base + "/_sim/models/" + model, method: "DELETE")
            #expect(reset.status == 204)
            let byDefault = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                body: Requests.openAI(model: model, prompt: "hi"))
            #expect((try dig(byDefault.json(), "choices", 0, "message", "content") as? String)?.hasPrefix("[\(model)]") == true)

            let invalid = await TestHTTP.send(base + "/_sim/script/" + model, body: #"{"steps":[{"status":500,"hang":true}]}"#)
            #expect(invalid.status == 400)
            #expect(simulator.stats[model].requests == 2)
        }
    }
}
