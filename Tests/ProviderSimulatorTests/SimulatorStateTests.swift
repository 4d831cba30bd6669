import Foundation
@testable import ProviderSimulator
import Testing

/// The state machine and the text helpers, without a server.
@Suite struct SimulatorStateTests {
    @Test func stepsAreConsumedInOrderThenTheBehaviourApplies() {
        var state = SimulatorState(seed: 1, responder: nil)
        #expect(state.enqueue([.fail(500), .hang, .answer("x")], for: "m") == 3)
        #expect(state.admit(model: "m").decision == .fail(status: 500, retryAfter: nil))
        #expect(state.admit(model: "m").decision == .hang)
        let third = state.admit(model: "m")
        #expect(third.decision == .answer)
        #expect(third.step?.content == "x")
        #expect(state.admit(model: "m").step == nil)
        #expect(state.admit(model: "other").step == nil, "scripts are per model")

        let stats = state.stats
        #expect(stats["m"].requests == 4)
        #expect(stats["m"].responses == [500: 1, 200: 2])
        #expect(stats["m"].hangs == 1)
    }

    @Test func injectedErrorsFollowTheRateAndTheSeed() {
        func decisions(seed: UInt64) -> [SimulatorState.Admission.Decision] {
            var state = SimulatorState(seed: seed, responder: nil)
            state.setBehavior(ModelBehavior(errorRate: 0.5, errorStatus: 503), for: "m")
            return (0..<200).map { _ in state.admit(model: "m").decision }
        }
        let first = decisions(seed: 42)
        #expect(first == decisions(seed: 42), "the same seed injects the same errors")
        let failures = first.filter { $0 == .fail(status: 503, retryAfter: nil) }.count
        #expect((60...140).contains(failures))

        var never = SimulatorState(seed: 7, responder: nil)
        never.setBehavior(ModelBehavior(errorRate: 0), for: "m")
        #expect((0..<50).allSatisfy { _ in never.admit(model: "m").decision == .answer })
        #expect((0..<50).allSatisfy { _ in never.admit(model: "m").jitterUnit.magnitude <= 1 })
    }

    @Test func peakConcurrencyAndReset() {
        var state = SimulatorState(seed: 1, responder: nil)
        state.enter()
        state.enter()
        state.enter()
        state.leave()
        state.enter()
        #expect(state.stats.inFlight == 3)
        #expect(state.stats.peakConcurrency == 3)
        state.reject(model: "m", status: 401)
        state.resetStats()
        #expect(state.stats.requests == 0)
        #expect(state.stats.peakConcurrency == 3, "the peak restarts from what is in flight")
        state.leave()
        state.leave()
        state.leave()
        state.resetStats()
        #expect(state.stats.peakConcurrency == 0)
    }

    @Test func answersAreDerivedCappedAndChunked() {
        let request = SimulatedChatRequest(
            provider: .openAI, model: "m",
            messages: [.init(role: "system", content: "be brief"), .init(role: "user", content: "  two  words ")],
            maxTokens: 3)
        let answer = SimulatedAnswer(
            request: request, step: nil, reply: nil, behavior: ModelBehavior(), sequence: 255, created: 0)
        #expect(answer.content.hasPrefix("[m] "))
        #expect(answer.content.split(separator: " ").count == 3)
        #expect(answer.truncated)
        #expect(answer.completionTokens == 3)
        #expect(answer.promptTokens == 4)
        #expect(answer.id == "ff")
        #expect(AnswerText.derivedContent(model: "m", prompt: "p") == AnswerText.derivedContent(model: "m", prompt: "p"))
        #expect(AnswerText.derivedContent(model: "m", prompt: "p") != AnswerText.derivedContent(model: "n", prompt: "p"))

        for text in ["", "one", "  lead and trail  ", "a\tb\nc  d", "naïve café  ünïcode"] {
            #expect(AnswerText.chunks(text).joined() == text)
        }
        #expect(AnswerText.chunks("a b  c") == ["a", " b", "  c"])
        #expect(AnswerText.wordCount(" a  b\nc ") == 3)
        #expect(AnswerText.prefix("a b  c d", words: 3) == "a b  c")
        #expect(AnswerText.prefix("a b", words: 5) == "a b")
    }

    @Test func jsonTextEscapesEverythingJSONNeeds() throws {
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{07} emoji 🎉 é"
        let literal = JSONText.string(nasty)
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        #expect(decoded == [nasty])
    }

    @Test func scriptPayloadsAreValidated() throws {
        func step(_ json: String) throws -> ScriptStep {
            let payload = try JSONDecoder().decode(StepPayload.self, from: Data(json.utf8))
            return try payload.scriptStep(at: 0)
        }
        #expect(try step(#"{"status":429,"retry_after":2}"#) == .fail(429, retryAfter: .seconds(2)))
        #expect(try step(#"{"content":"hi","latency_ms":50}"#) == .answer("hi", latency: .milliseconds(50)))
        #expect(try step(#"{"cut_stream":true}"#) == .cutStream)
        #expect(try step(#"{"latency_ms":5}"#) == .answer(latency: .milliseconds(5)))
        #expect(throws: RequestProblem.self) { try step(#"{"malformed":true,"hang":true}"#) }
        #expect(throws: RequestProblem.self) { try step(#"{"status":302}"#) }
        #expect(throws: RequestProblem.self) { try step(#"{"content":"x","retry_after":1}"#) }
    }
}
