import Contracts
import Testing

@testable import Judge

/// Scenario tests of one request's fusion, driven by hand with an injected clock.
@Suite struct FusionStateTests {
    static let t0: Int64 = 1_795_237_200_000

    static func plan(
        mode: FusionMode, pool: [String] = ["m1", "m2", "m3"], judge: String? = "j", quorum: Int = 1, rounds: Int = 1,
        timeoutMs: Int = 1000
    ) -> FusionRequest {
        FusionRequest(
            id: "req-1", project: "p", messages: [ChatMessage(role: .user, content: "Capital of France?")], preset: nil,
            pool: pool, judge: judge, mode: mode,
            options: FusionOptions(maxTokens: 64, temperature: 0, timeoutMs: timeoutMs, quorum: quorum, rounds: rounds, maxCostUSD: nil),
            acceptedAtMs: t0)
    }

    static func reply(
        _ plan: FusionRequest, _ index: Int, _ content: String?, role: CallRole = .pool, round: Int = 0,
        error: String? = nil, tokens: Int = 5
    ) -> ModelResponse {
        ModelResponse(
            callID: ModelCall.id(request: plan.id, role: role, round: round, index: index), requestID: plan.id, role: role,
            round: round, index: index, model: role == .judge ? (plan.judge ?? "") : plan.pool[index], provider: "sim",
            content: error == nil ? content : nil, error: error.map { ErrorInfo(code: $0, message: "\($0) from sim") },
            finishReason: "stop", latencyMs: 100, usage: TokenUsage(promptTokens: 10, completionTokens: tokens))
    }

    static func sentCalls(_ actions: [FusionState.Action]) -> [ModelCall] {
        var calls: [ModelCall] = []
        for case .send(let batch) in actions { calls += batch }
        return calls
    }

    static func finished(_ actions: [FusionState.Action]) -> FusionOutcome? {
        for case .finish(let outcome) in actions { return outcome }
        return nil
    }

    /// The label the judge sees for pool index `index` in the judge call's prompt.
    static func label(of index: Int, in plan: FusionRequest, contents: [String]) -> String {
        let sheet = CandidateSheet(contents: contents.enumerated().map { ($0.offset, $0.element) }, seed: plan.id)
        return sheet.entries.first { $0.candidateIndex == index }!.label
    }

    @Test func bestOfAsksTheJudgeAndMapsTheVerdictBackThroughTheShuffle() throws {
        let plan = Self.plan(mode: .bestOf)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        let contents = ["Lyon", "Paris", "Nice"]
        #expect(state.receive(Self.reply(plan, 0, contents[0]), nowMs: Self.t0 + 10).isEmpty)
        #expect(state.receive(Self.reply(plan, 1, contents[1]), nowMs: Self.t0 + 20).isEmpty)
        let judgeCalls = Self.sentCalls(state.receive(Self.reply(plan, 2, contents[2]), nowMs: Self.t0 + 30))
        let call = try #require(judgeCalls.first)
        #expect(judgeCalls.count == 1)
        #expect(call.role == .judge && call.model == "j" && call.temperature == 0)
        #expect(call.deadlineMs == Self.t0 + 30 + 5000)
        #expect(!call.messages.contains { $0.content.contains("m1") || $0.content.contains("m2") })  // anonymized
        let winner = Self.label(of: 1, in: plan, contents: contents)
        let outcome = try #require(Self.finished(state.receive(
            Self.reply(plan, 0, #"{"winner": "\#(winner)", "reason": "Paris is correct"}"#, role: .judge), nowMs: Self.t0 + 40)))
        #expect(outcome.status == .ok)
        #expect(outcome.answer == "Paris")
        #expect(outcome.verdict == Verdict(method: "judge", chosen: 1, rationale: "Paris is correct", judgeModel: "j"))
        #expect(outcome.candidates.map(\.content) == contents)
        #expect(outcome.usage.completionTokens == 20)  // three pool calls and the judge
        #expect(outcome.latencyMs == 40)
        #expect(state.isDone && state.deadlineMs == nil)
    }

    @Test func anUnusableVerdictFallsBackDeterministicallyAndSaysSo() throws {
        let plan = Self.plan(mode: .bestOf)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        for (i, text) in ["Paris is the capital of France", "Lyon", "The capital of France is Paris"].enumerated() {
            _ = state.receive(Self.reply(plan, i, text), nowMs: Self.t0)
        }
        let outcome = try #require(Self.finished(state.receive(
            Self.reply(plan, 0, "Thought process: B is best", role: .judge), nowMs: Self.t0 + 1)))
        #expect(outcome.verdict?.method == "fallback")
        #expect(outcome.verdict?.rationale?.contains("the judge's verdict was unusable") == true)
        #expect(outcome.verdict?.chosen == 0 || outcome.verdict?.chosen == 2)
        #expect(outcome.rawVerdict == "Thought process: B is best")
    }

    @Test func aTimedOutPoolMemberMakesThePartialAnswerNameIt() throws {
        let plan = Self.plan(mode: .bestOf)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "Paris"), nowMs: Self.t0 + 10)
        _ = state.receive(Self.reply(plan, 2, "Paris!"), nowMs: Self.t0 + 10)
        #expect(state.tick(nowMs: Self.t0 + 999).isEmpty)  // before the deadline nothing happens
        #expect(state.deadlineMs == Self.t0 + 1000)
        let calls = Self.sentCalls(state.tick(nowMs: Self.t0 + 1000))
        #expect(calls.count == 1)
        let outcome = try #require(Self.finished(state.receive(
            Self.reply(plan, 0, #"{"winner": "A"}"#, role: .judge), nowMs: Self.t0 + 1100)))
        #expect(outcome.status == .partial)
        #expect(outcome.error?.code == "partial_pool")
        #expect(outcome.error?.message == "answered without m2 (timeout)")
        #expect(outcome.candidates[1].error?.code == "timeout")
        #expect(outcome.candidates[1].content == nil)
        // A straggler arriving after the fusion finished changes nothing.
        #expect(state.receive(Self.reply(plan, 1, "late"), nowMs: Self.t0 + 1200).isEmpty)
    }

    /// A plan replayed after a judge crash or resumed by the reconciler arrives after its pool
    /// deadline: the responses that follow it (recorded long ago) are still used, for one more phase.
    @Test func aLatePlanGetsOneMorePhaseForTheResponsesThatFollowIt() throws {
        let plan = Self.plan(mode: .bestOf, pool: ["m1", "m2"])
        let late = Self.t0 + 60_000
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: late)
        #expect(state.deadlineMs == late + 5000)
        #expect(state.tick(nowMs: late + 50).isEmpty)  // a tick right after the plan times nothing out
        _ = state.receive(Self.reply(plan, 0, "Paris"), nowMs: late + 60)
        let calls = Self.sentCalls(state.receive(Self.reply(plan, 1, "Lyon"), nowMs: late + 70))
        #expect(calls.map(\.role) == [.judge])
        #expect(calls.first?.deadlineMs == late + 70 + 5000)
        // A plan on time keeps its own deadline.
        #expect(FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0 + 10).deadlineMs == Self.t0 + 1000)
    }

    @Test func noUsableAnswerFailsWithoutCallingTheJudge() throws {
        let plan = Self.plan(mode: .bestOf)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, nil, error: "upstream_error"), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 1, nil, error: "rate_limited"), nowMs: Self.t0)
        let actions = state.receive(Self.reply(plan, 2, nil, error: "upstream_error"), nowMs: Self.t0)
        #expect(Self.sentCalls(actions).isEmpty)
        let outcome = try #require(Self.finished(actions))
        #expect(outcome.status == .failed)
        #expect(outcome.error?.code == "all_models_failed")
        #expect(outcome.error?.message.contains("m2: rate_limited from sim") == true)
    }

    @Test func quorumNotMet() throws {
        let plan = Self.plan(mode: .bestOf, quorum: 2)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "Paris"), nowMs: Self.t0)
        let outcome = try #require(Self.finished(state.tick(nowMs: Self.t0 + 1000)))
        #expect(outcome.status == .failed)
        #expect(outcome.error?.code == "quorum_not_met")
        #expect(outcome.error?.message.hasPrefix("only 1 of 3 pool models answered, quorum is 2") == true)
    }

    @Test func aSingleAnswerNeedsNoJudge() throws {
        let plan = Self.plan(mode: .merge)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, nil, error: "timeout"), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 1, nil, error: "timeout"), nowMs: Self.t0)
        let outcome = try #require(Self.finished(state.receive(Self.reply(plan, 2, "Paris"), nowMs: Self.t0)))
        #expect(outcome.status == .partial)
        #expect(outcome.answer == "Paris")
        #expect(outcome.verdict?.rationale == "only one candidate answered, so there was nothing to judge")
    }

    @Test func voteMajorityNeedsNoJudge() throws {
        let plan = Self.plan(mode: .vote)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "No."), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 1, "Yes"), nowMs: Self.t0)
        let actions = state.receive(Self.reply(plan, 2, "**yes**"), nowMs: Self.t0)
        #expect(Self.sentCalls(actions).isEmpty)
        let outcome = try #require(Self.finished(actions))
        #expect(outcome.answer == "Yes")
        #expect(outcome.verdict == Verdict(method: "majority", chosen: 1, rationale: "2 of 3 answers agree", judgeModel: nil))
    }

    @Test func voteTieGoesToTheJudgeWithOnlyTheTiedCandidates() throws {
        let plan = Self.plan(mode: .vote, pool: ["m1", "m2"])
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "4"), nowMs: Self.t0)
        let call = try #require(Self.sentCalls(state.receive(Self.reply(plan, 1, "5"), nowMs: Self.t0)).first)
        #expect(call.role == .judge)
        let outcome = try #require(Self.finished(state.receive(
            Self.reply(plan, 0, #"{"winner":"\#(Self.label(of: 0, in: plan, contents: ["4", "5"]))","reason":"2+2=4"}"#, role: .judge),
            nowMs: Self.t0)))
        #expect(outcome.answer == "4")
        #expect(outcome.verdict?.rationale == "tie at 1 votes broken by the judge: 2+2=4")
    }

    @Test func voteTieWithoutAJudgeIsBrokenByPoolOrderAndSaysSo() throws {
        let plan = Self.plan(mode: .vote, pool: ["m1", "m2"], judge: nil)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "4"), nowMs: Self.t0)
        let outcome = try #require(Self.finished(state.receive(Self.reply(plan, 1, "5"), nowMs: Self.t0)))
        #expect(outcome.answer == "4")
        #expect(outcome.verdict?.method == "fallback")
    }

    @Test func debateRevisesThenJudgesTheRevisedAnswers() throws {
        let plan = Self.plan(mode: .debate, pool: ["m1", "m2"], rounds: 1)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "5"), nowMs: Self.t0)
        let round1 = Self.sentCalls(state.receive(Self.reply(plan, 1, "4"), nowMs: Self.t0 + 100))
        #expect(round1.map(\.callID) == ["req-1/debate/1/0", "req-1/debate/1/1"])
        #expect(round1[0].messages.last?.content.contains("<answer id=\"1\">\n4\n</answer>") == true)
        #expect(round1[0].messages.dropLast().last == ChatMessage(role: .assistant, content: "5"))
        #expect(state.deadlineMs == Self.t0 + 100 + 5000)
        _ = state.receive(Self.reply(plan, 0, "4, I was wrong", role: .debate, round: 1), nowMs: Self.t0 + 200)
        let judge = Self.sentCalls(state.receive(Self.reply(plan, 1, "4", role: .debate, round: 1), nowMs: Self.t0 + 200))
        #expect(judge.first?.role == .judge)
        let outcome = try #require(Self.finished(state.receive(
            Self.reply(plan, 0, #"{"winner":"\#(Self.label(of: 1, in: plan, contents: ["4, I was wrong", "4"]))"}"#, role: .judge),
            nowMs: Self.t0 + 300)))
        #expect(outcome.status == .ok)
        #expect(outcome.candidates.map(\.content) == ["4, I was wrong", "4"])
        #expect(outcome.candidates[0].usage.completionTokens == 10)  // pool + debate round
        #expect(outcome.responses.count == 5)
    }

    @Test func aDebaterThatFailsARoundKeepsItsEarlierAnswer() throws {
        let plan = Self.plan(mode: .debate, pool: ["m1", "m2"], rounds: 1)
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "5"), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 1, "4"), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, nil, role: .debate, round: 1, error: "upstream_error"), nowMs: Self.t0)
        #expect(Self.sentCalls(state.tick(nowMs: Self.t0 + 5000)).first?.role == .judge)
        let outcome = try #require(Self.finished(state.tick(nowMs: Self.t0 + 10_000)))
        #expect(outcome.candidates.map(\.content) == ["5", "4"])
        #expect(outcome.status == .ok)  // every pool member contributed an answer
        #expect(outcome.verdict?.method == "fallback")
        #expect(outcome.verdict?.rationale?.hasPrefix("the judge did not answer before the deadline") == true)
    }

    @Test func mergeUsesTheJudgesTextAndFallsBackWhenTheJudgeFails() throws {
        let plan = Self.plan(mode: .merge, pool: ["m1", "m2"])
        var ok = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = ok.receive(Self.reply(plan, 0, "Paris."), nowMs: Self.t0)
        let call = try #require(Self.sentCalls(ok.receive(Self.reply(plan, 1, "It is Paris."), nowMs: Self.t0)).first)
        #expect(call.maxTokens == 64)
        let merged = try #require(Self.finished(ok.receive(Self.reply(plan, 0, "Paris is the capital.", role: .judge), nowMs: Self.t0)))
        #expect(merged.answer == "Paris is the capital.")
        #expect(merged.verdict?.method == "judge")

        var failing = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = failing.receive(Self.reply(plan, 0, "Paris."), nowMs: Self.t0)
        _ = failing.receive(Self.reply(plan, 1, "It is Paris."), nowMs: Self.t0)
        let fallback = try #require(Self.finished(failing.receive(
            Self.reply(plan, 0, nil, role: .judge, error: "upstream_error"), nowMs: Self.t0)))
        #expect(fallback.answer == "Paris.")
        #expect(fallback.verdict?.rationale?.hasPrefix("the judge call failed (upstream_error)") == true)
    }

    @Test func maxCostStopsNewCallsOnceReached() throws {
        var plan = Self.plan(mode: .debate, pool: ["m1", "m2"], rounds: 2)
        plan.options.maxCostUSD = Money(decimal: "0.01")
        // Each response costs $0.006: after the pool, $0.012 is spent, past the cap.
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0, price: { _ in Money(decimal: "0.006")! })
        _ = state.receive(Self.reply(plan, 0, "4"), nowMs: Self.t0)
        let actions = state.receive(Self.reply(plan, 1, "four"), nowMs: Self.t0)
        #expect(Self.sentCalls(actions).isEmpty)
        let outcome = try #require(Self.finished(actions))
        #expect(outcome.status == .ok)
        #expect(outcome.verdict?.method == "fallback")
        #expect(outcome.verdict?.rationale?.hasPrefix("max_cost_usd ($0.01) was reached ($0.012 spent)") == true)

        // Under the cap the debate goes on.
        plan.options.maxCostUSD = Money(decimal: "1")
        var cheap = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0, price: { _ in Money(decimal: "0.006")! })
        _ = cheap.receive(Self.reply(plan, 0, "4"), nowMs: Self.t0)
        #expect(Self.sentCalls(cheap.receive(Self.reply(plan, 1, "four"), nowMs: Self.t0)).count == 2)
    }

    @Test func duplicatesAndStrangersChangeNothing() {
        let plan = Self.plan(mode: .bestOf, pool: ["m1", "m2"])
        var state = FusionState(plan: plan, phaseTimeout: .seconds(5), nowMs: Self.t0)
        _ = state.receive(Self.reply(plan, 0, "Paris"), nowMs: Self.t0)
        #expect(state.receive(Self.reply(plan, 0, "Paris again"), nowMs: Self.t0).isEmpty)
        var stranger = Self.reply(plan, 1, "x")
        stranger.requestID = "other"
        #expect(state.receive(stranger, nowMs: Self.t0).isEmpty)
        #expect(!state.isDone)
    }

    @Test func poolCallsCarryThePlanAndPinnedProviders() {
        let plan = Self.plan(mode: .bestOf, pool: ["gpt-4o-mini:openrouter", "m2"])
        let calls = plan.poolCalls()
        #expect(calls.map(\.callID) == ["req-1/pool/0/0", "req-1/pool/0/1"])
        #expect(calls[0].model == "gpt-4o-mini" && calls[0].provider == "openrouter")
        #expect(calls[1].provider == nil)
        #expect(calls.allSatisfy { $0.deadlineMs == Self.t0 + 1000 && $0.messages == plan.messages })
    }
}
