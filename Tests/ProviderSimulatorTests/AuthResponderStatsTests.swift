import Foundation
import ProviderSimulator
import Testing

@Suite struct AuthenticationTests {
    static let key = "sk-sim-CORRECT-4711"
    static let wrongKey = "sk-sim-WRONG-0815"

    @Test func wrongOrMissingKeysGet401InEachShapeWithoutTheKey() async throws {
        try await withSimulator(ProviderSimulator.Configuration(apiKey: Self.key)) { simulator, base in
            let openAI = await TestHTTP.send(
                base + "/v1/chat/completions", headers: Requests.openAIHeaders(key: Self.wrongKey),
                body: Requests.openAI(model: "gpt-auth", prompt: "hi"))
            #expect(openAI.status == 401)
            let openAIJSON = try openAI.json()
            #expect(dig(openAIJSON, "error", "code") as? String == "invalid_api_key")
            #expect(dig(openAIJSON, "error", "type") as? String == "invalid_request_error")
            #expect(dig(openAIJSON, "error", "message") is String)

            let anthropic = await TestHTTP.send(
                base + "/v1/messages", headers: Requests.anthropicHeaders(key: Self.wrongKey),
                body: Requests.anthropic(model: "claude-auth", prompt: "hi"))
            #expect(anthropic.status == 401)
            let anthropicJSON = try anthropic.json()
            #expect(anthropicJSON["type"] as? String == "error")
            #expect(dig(anthropicJSON, "error", "type") as? String == "authentication_error")

            let gemini = await TestHTTP.send(
                base + "/v1beta/models/gemini-auth:generateContent", headers: Requests.geminiHeaders(key: Self.wrongKey),
                body: Requests.gemini(prompt: "hi"))
            #expect(gemini.status == 401)
            #expect(try dig(gemini.json(), "error", "code") as? Int == 401)
            #expect(try dig(gemini.json(), "error", "status") as? String == "UNAUTHENTICATED")

            let missing = await TestHTTP.send(
                base + "/v1/chat/completions", body: Requests.openAI(model: "gpt-auth", prompt: "hi"))
            #expect(missing.status == 401)

            for exchange in [openAI, anthropic, gemini, missing] {
                #expect(!exchange.text.contains(Self.wrongKey))
                #expect(!exchange.text.contains(Self.key))
                #expect(!exchange.headers.values.contains { $0.contains(Self.wrongKey) || $0.contains(Self.key) })
            }

            // The right key, in each API's place, is accepted.
            let accepted = [
                await TestHTTP.send(
                    base + "/v1/chat/completions", headers: Requests.openAIHeaders(key: Self.key),
                    body: Requests.openAI(model: "gpt-auth", prompt: "hi")),
                await TestHTTP.send(
                    base + "/v1/messages", headers: Requests.anthropicHeaders(key: Self.key),
                    body: Requests.anthropic(model: "claude-auth", prompt: "hi")),
                await TestHTTP.send(
                    base + "/v1beta/models/gemini-auth:generateContent?key=\(Self.key)", body: Requests.gemini(prompt: "hi")),
            ]
            #expect(accepted.map(\.status) == [200, 200, 200])
            #expect(simulator.stats["gpt-auth"].responses == [401: 2, 200: 1])
        }
    }
}

@Suite struct ResponderTests {
    @Test func aCustomResponderAnswersInsteadOfTheDefault() async throws {
        // A judge that reads the candidates in its prompt and names the longest one.
        let judge: ProviderSimulator.Responder = { request in
            guard request.model == "judge-model" else { return nil }
            let candidates = request.lastUserMessage.split(separator: "\n").filter { $0.hasPrefix("Candidate ") }
            guard let best = candidates.max(by: { $0.count < $1.count }) else { return nil }
            let label = best.dropFirst("Candidate ".count).prefix(1)
            return SimulatedReply("verdict: \(label)", completionTokens: 3)
        }
        try await withSimulator(responder: judge) { simulator, base in
            let prompt = "Pick the best answer.\nCandidate A: Paris.\nCandidate B: The capital of France is Paris.\n"
            let verdict = await TestHTTP.send(
                base + "/v1/messages", headers: Requests.anthropicHeaders(),
                body: Requests.anthropic(model: "judge-model", prompt: prompt))
            let json = try verdict.json()
            #expect(dig(json, "content", 0, "text") as? String == "verdict: B")
            #expect(dig(json, "usage", "output_tokens") as? Int == 3)

            // Other models keep their default answers.
            let other = await TestHTTP.send(
                base + "/v1/messages", headers: Requests.anthropicHeaders(),
                body: Requests.anthropic(model: "claude-other", prompt: prompt))
            #expect((try dig(other.json(), "content", 0, "text") as? String)?.hasPrefix("[claude-other]") == true)

            // A scripted failure still comes first.
            simulator.enqueue([.fail(500)], for: "judge-model")
            let failed = await TestHTTP.send(
                base + "/v1/messages", headers: Requests.anthropicHeaders(),
                body: Requests.anthropic(model: "judge-model", prompt: prompt))
            #expect(failed.status == 500)
            #expect(try dig(failed.json(), "error", "type") as? String == "api_error")
        }
    }
}

@Suite struct StatsTests {
    @Test func statsCountRequestsAndPeakConcurrency() async throws {
        let configuration = ProviderSimulator.Configuration(latency: .milliseconds(200))
        try await withSimulator(configuration) { simulator, base in
            let statuses = await withTaskGroup(of: Int?.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        await TestHTTP.send(
                            base + "/v1/chat/completions", headers: Requests.openAIHeaders(),
                            body: Requests.openAI(model: "gpt-busy", prompt: "question \(index)")
                        ).status
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 20))

            let stats = simulator.stats
            #expect(stats["gpt-busy"].requests == 20)
            #expect(stats["gpt-busy"].responses == [200: 20])
            #expect(stats.peakConcurrency >= 2)

            let served = await TestHTTP.send(base + "/_sim/stats", method: "GET")
            let json = try served.json()
            #expect(dig(json, "requests") as? Int == 20)
            #expect(dig(json, "models", "gpt-busy", "responses", "200") as? Int == 20)
            #expect((dig(json, "peak_concurrency") as? Int ?? 0) >= 2)

            let reset = await TestHTTP.send(base + "/_sim/stats", method: "DELETE")
            #expect(reset.status == 204)
            #expect(simulator.stats.requests == 0)
            #expect(simulator.stats.peakConcurrency == 0)
        }
    }
}
