import Contracts

/// One request's fusion, as a pure state machine: the judge service feeds it the request's plan,
/// its model responses and clock ticks, and carries out the actions it returns.
///
/// Phases: the pool answers (round 0) → for `debate`, `rounds` revision rounds → the judge call
/// (unless the mode or the candidates make it unnecessary) → done. Each phase waits for every
/// expected response or its deadline, whichever comes first; past a deadline it goes on with what it
/// has, and the answer is `partial`, naming the missing models and why.
public struct FusionState: Sendable {
    /// What the service must do.
    public enum Action: Sendable, Equatable {
        /// Publish these calls (judge or debate round).
        case send([ModelCall])
        /// The request is finished: record and publish the outcome.
        case finish(FusionOutcome)
    }

    public let plan: FusionRequest
    /// How long each phase (pool, each debate round, judge) may take.
    public let phaseTimeout: Duration
    private let phaseTimeoutMs: Int64

    private enum Phase: Sendable, Equatable {
        case collecting(round: Int)
        case judging(JudgeTask)
        case done
    }

    /// What the judge call is for.
    private enum JudgeTask: Sendable, Equatable {
        case pick(sheet: CandidateSheet, reason: PickReason)
        case merge(sheet: CandidateSheet)
    }

    private enum PickReason: Sendable, Equatable {
        case bestOf
        case voteTie(votes: Int)
    }

    private var phase: Phase
    private var phaseDeadlineMs: Int64
    /// Latest usable answer per pool index (revised answers replace earlier ones).
    private var answers: [Int: ModelResponse] = [:]
    /// Pool members' failures in the pool round (they drop out of the fusion).
    private var failures: [Int: ModelResponse] = [:]
    /// Responses expected in the current phase, by call id.
    private var awaiting: Set<String> = []
    /// Every response received, for usage totals (pool, debate and judge calls alike).
    private var allResponses: [String: ModelResponse] = [:]
    private var judgeResponse: ModelResponse?

    /// What a response cost (exact; the judge passes the catalog's pricing).
    private let price: @Sendable (ModelResponse) -> Money

    /// - Parameters:
    ///   - nowMs: milliseconds since 1970 (injected for tests).
    ///   - price: a response's exact cost, for enforcing `max_cost_usd` on actual spend.
    public init(
        plan: FusionRequest, phaseTimeout: Duration, nowMs: Int64, price: @escaping @Sendable (ModelResponse) -> Money = { _ in .zero }
    ) {
        self.plan = plan
        self.price = price
        self.phaseTimeout = phaseTimeout
        let (seconds, attoseconds) = phaseTimeout.components
        self.phaseTimeoutMs = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        self.phase = .collecting(round: 0)
        // A plan that arrives after its pool deadline (replayed after a judge crash, resumed by the
        // reconciler, or behind a backlog) gets one more phase for the responses that follow it,
        // instead of timing out pool members whose answers are already recorded.
        let poolDeadlineMs = plan.poolDeadlineMs
        self.phaseDeadlineMs = nowMs < poolDeadlineMs ? poolDeadlineMs : nowMs + phaseTimeoutMs
        self.awaiting = Set(plan.pool.indices.map { ModelCall.id(request: plan.id, role: .pool, round: 0, index: $0) })
    }

    /// When the service should tick this state next, if it is not done.
    public var deadlineMs: Int64? { phase == .done ? nil : phaseDeadlineMs }

    public var isDone: Bool { phase == .done }

    // MARK: - Events

    /// A model response arrived (a duplicate or a stray one changes nothing).
    public mutating func receive(_ response: ModelResponse, nowMs: Int64) -> [Action] {
        guard phase != .done, response.requestID == plan.id, allResponses[response.callID] == nil else { return [] }
        allResponses[response.callID] = response
        guard awaiting.remove(response.callID) != nil else { return [] }
        switch phase {
        case .collecting(let round):
            if response.error == nil, response.content != nil {
                answers[response.index] = response
            } else if round == 0 {
                failures[response.index] = response
            }
            return awaiting.isEmpty ? advance(nowMs: nowMs) : []
        case .judging(let task):
            judgeResponse = response
            return [.finish(conclude(task, nowMs: nowMs))]
        case .done:
            return []
        }
    }

    /// Time passed: past the phase deadline, go on with what has arrived.
    public mutating func tick(nowMs: Int64) -> [Action] {
        guard phase != .done, nowMs >= phaseDeadlineMs else { return [] }
        switch phase {
        case .collecting(let round):
            if round == 0 {
                for id in awaiting {
                    let index = Self.index(of: id)
                    failures[index] = timeoutResponse(index: index, role: .pool, round: 0)
                }
            }
            awaiting.removeAll()
            return advance(nowMs: nowMs)
        case .judging(let task):
            awaiting.removeAll()
            return [.finish(conclude(task, nowMs: nowMs))]
        case .done:
            return []
        }
    }

    // MARK: - Phases

    private mutating func advance(nowMs: Int64) -> [Action] {
        guard case .collecting(let round) = phase else { return [] }
        let usable = answers.keys.sorted()
        if usable.isEmpty || usable.count < min(plan.options.quorum, plan.pool.count) {
            return [.finish(failedOutcome(nowMs: nowMs, usable: usable.count))]
        }
        let contents = usable.map { (index: $0, text: answers[$0]!.content!) }
        // max_cost_usd is enforced on actual spend: once reached, no new calls (judge, debate rounds).
        if let cap = plan.options.maxCostUSD, spent >= cap, contents.count >= 2 {
            let sheet = CandidateSheet(contents: contents, seed: plan.id)
            return [.finish(fallback(
                sheet: sheet, why: "max_cost_usd ($\(cap)) was reached ($\(spent) spent), so no further model was called",
                judgeModel: nil, nowMs: nowMs, rawVerdict: nil))]
        }
        if plan.mode == .debate, round < plan.options.rounds, usable.count >= 2 {
            return [.send(startRound(round + 1, members: usable, nowMs: nowMs))]
        }
        switch plan.mode {
        case .vote:
            switch Consensus.vote(contents.map(\.text)) {
            case .majority(let position, let votes, let of):
                let chosen = contents[position].index
                return [.finish(outcome(
                    answer: answers[chosen]!.content!, verdict: Verdict(
                        method: "majority", chosen: chosen, rationale: "\(votes) of \(of) answers agree", judgeModel: nil),
                    nowMs: nowMs))]
            case .tie(let positions, let votes):
                let tied = positions.map { contents[$0] }
                guard plan.judge != nil else {
                    return [.finish(outcome(
                        answer: tied[0].text, verdict: Verdict(
                            method: "fallback", chosen: tied[0].index,
                            rationale: "\(tied.count) answers tied with \(votes) votes each and no judge was given; the first in pool order was chosen",
                            judgeModel: nil),
                        nowMs: nowMs))]
                }
                return [.send([startJudge(.pick(sheet: CandidateSheet(contents: tied, seed: plan.id), reason: .voteTie(votes: votes)), nowMs: nowMs)])]
            }
        case .bestOf, .debate, .merge:
            if contents.count == 1 || plan.judge == nil {
                let only = contents[0]
                let why = contents.count == 1
                    ? "only one candidate answered, so there was nothing to judge"
                    : "no judge was given; the first candidate in pool order was chosen"
                return [.finish(outcome(
                    answer: only.text, verdict: Verdict(method: "fallback", chosen: only.index, rationale: why, judgeModel: nil),
                    nowMs: nowMs))]
            }
            let sheet = CandidateSheet(contents: contents, seed: plan.id)
            return [.send([startJudge(plan.mode == .merge ? .merge(sheet: sheet) : .pick(sheet: sheet, reason: .bestOf), nowMs: nowMs)])]
        }
    }

    private mutating func startRound(_ round: Int, members: [Int], nowMs: Int64) -> [ModelCall] {
        phase = .collecting(round: round)
        phaseDeadlineMs = nowMs + phaseTimeoutMs
        var calls: [ModelCall] = []
        for index in members {
            let own = answers[index]!.content!
            let others = members.filter { $0 != index }.map { answers[$0]!.content! }
            let (id, provider) = Self.splitReference(plan.pool[index])
            let call = ModelCall(
                callID: ModelCall.id(request: plan.id, role: .debate, round: round, index: index), requestID: plan.id,
                project: plan.project, role: .debate, round: round, index: index, model: id, provider: provider,
                messages: JudgePrompts.revise(messages: plan.messages, own: own, others: others),
                maxTokens: plan.options.maxTokens, temperature: plan.options.temperature, deadlineMs: phaseDeadlineMs)
            calls.append(call)
        }
        awaiting = Set(calls.map(\.callID))
        return calls
    }

    private mutating func startJudge(_ task: JudgeTask, nowMs: Int64) -> ModelCall {
        phase = .judging(task)
        phaseDeadlineMs = nowMs + phaseTimeoutMs
        let messages: [ChatMessage]
        switch task {
        case .pick(let sheet, _): messages = JudgePrompts.bestOf(messages: plan.messages, sheet: sheet)
        case .merge(let sheet): messages = JudgePrompts.merge(messages: plan.messages, sheet: sheet)
        }
        let (id, provider) = Self.splitReference(plan.judge!)
        let call = ModelCall(
            callID: ModelCall.id(request: plan.id, role: .judge, round: 0, index: 0), requestID: plan.id,
            project: plan.project, role: .judge, round: 0, index: 0, model: id, provider: provider,
            messages: messages,
            // A verdict is short; a merged answer is as long as an answer.
            maxTokens: { if case .merge = task { return plan.options.maxTokens } else { return 96 } }(),
            temperature: 0, deadlineMs: phaseDeadlineMs)
        awaiting = [call.callID]
        return call
    }

    private mutating func conclude(_ task: JudgeTask, nowMs: Int64) -> FusionOutcome {
        let judgeModel = plan.judge
        let reply = judgeResponse.flatMap { $0.error == nil ? $0.content : nil }
        let judgeFailure = judgeResponse?.error.map { "the judge call failed (\($0.code))" }
            ?? (judgeResponse == nil ? "the judge did not answer before the deadline" : nil)
        switch task {
        case .merge(let sheet):
            if let reply, !reply.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return outcome(
                    answer: reply, verdict: Verdict(method: "judge", chosen: nil, rationale: "merged by the judge", judgeModel: judgeModel),
                    nowMs: nowMs, rawVerdict: reply)
            }
            let why = judgeFailure ?? "the judge returned an empty merge"
            return fallback(sheet: sheet, why: why, judgeModel: judgeModel, nowMs: nowMs, rawVerdict: reply)
        case .pick(let sheet, let reason):
            guard let reply else {
                return fallback(sheet: sheet, why: judgeFailure ?? "the judge gave no verdict", judgeModel: judgeModel, nowMs: nowMs, rawVerdict: nil)
            }
            switch VerdictParser.parse(reply, labels: sheet.labels) {
            case .success(let verdict):
                let chosen = sheet.candidateIndex(for: verdict.winner)!
                var rationale = verdict.reason ?? "chosen by the judge"
                if case .voteTie(let votes) = reason { rationale = "tie at \(votes) votes broken by the judge: \(rationale)" }
                return outcome(
                    answer: answers[chosen]!.content!,
                    verdict: Verdict(method: "judge", chosen: chosen, rationale: rationale, judgeModel: judgeModel),
                    nowMs: nowMs, rawVerdict: reply)
            case .failure(let failure):
                return fallback(
                    sheet: sheet, why: "the judge's verdict was unusable: \(failure.description)", judgeModel: judgeModel,
                    nowMs: nowMs, rawVerdict: reply)
            }
        }
    }

    private mutating func fallback(
        sheet: CandidateSheet, why: String, judgeModel: String?, nowMs: Int64, rawVerdict: String?
    ) -> FusionOutcome {
        // Pool order, not sheet order: the fallback must not inherit the shuffle's position effects.
        let ordered = sheet.entries.sorted { $0.candidateIndex < $1.candidateIndex }
        let choice = Consensus.fallbackChoice(ordered.map { answers[$0.candidateIndex]!.content! })
        let chosen = ordered[choice.position].candidateIndex
        return outcome(
            answer: answers[chosen]!.content!,
            verdict: Verdict(method: "fallback", chosen: chosen, rationale: "\(why); \(choice.rule)", judgeModel: judgeModel),
            nowMs: nowMs, rawVerdict: rawVerdict)
    }

    /// What the request has cost so far.
    private var spent: Money { allResponses.values.reduce(Money.zero) { $0 + price($1) } }

    // MARK: - Outcomes

    private mutating func outcome(answer: String, verdict: Verdict, nowMs: Int64, rawVerdict: String? = nil) -> FusionOutcome {
        phase = .done
        let partial = !failures.isEmpty
        return FusionOutcome(
            status: partial ? .partial : .ok, answer: answer, candidates: candidates(), verdict: verdict,
            rawVerdict: rawVerdict, responses: allResponses.values.sorted { $0.callID < $1.callID },
            error: partial ? missingError() : nil, latencyMs: nowMs - plan.acceptedAtMs)
    }

    private mutating func failedOutcome(nowMs: Int64, usable: Int) -> FusionOutcome {
        phase = .done
        let needed = min(plan.options.quorum, plan.pool.count)
        let detail = failures.keys.sorted().map { "\(plan.pool[$0]): \(failures[$0]!.error?.message ?? "no answer")" }
            .joined(separator: "; ")
        let message = usable == 0
            ? "no pool model answered (\(detail))"
            : "only \(usable) of \(plan.pool.count) pool models answered, quorum is \(needed) (\(detail))"
        return FusionOutcome(
            status: .failed, answer: nil, candidates: candidates(), verdict: nil, rawVerdict: nil,
            responses: allResponses.values.sorted { $0.callID < $1.callID },
            error: ErrorInfo(code: usable == 0 ? "all_models_failed" : "quorum_not_met", message: message),
            latencyMs: nowMs - plan.acceptedAtMs)
    }

    /// Pool members in pool order: the latest answer, or the failure.
    private func candidates() -> [Candidate] {
        plan.pool.indices.map { index in
            let (model, pinned) = Self.splitReference(plan.pool[index])
            if let answer = answers[index] {
                let usage = allResponses.values.filter { $0.index == index && $0.role != .judge }.reduce(TokenUsage.zero) { $0 + $1.usage }
                return Candidate(
                    model: model, provider: answer.provider ?? pinned, content: answer.content, error: nil,
                    latencyMs: answer.latencyMs, usage: usage)
            }
            let failure = failures[index]
            return Candidate(
                model: model, provider: failure?.provider ?? pinned, content: nil,
                error: failure?.error ?? ErrorInfo(code: "no_answer", message: "\(model) gave no answer"),
                latencyMs: failure?.latencyMs ?? 0, usage: failure?.usage ?? .zero)
        }
    }

    private func missingError() -> ErrorInfo {
        let names = failures.keys.sorted().map { index in
            "\(plan.pool[index]) (\(failures[index]!.error?.code ?? "no_answer"))"
        }
        return ErrorInfo(code: "partial_pool", message: "answered without \(names.joined(separator: ", "))")
    }

    private func timeoutResponse(index: Int, role: CallRole, round: Int) -> ModelResponse {
        let model = plan.pool[index]
        return ModelResponse(
            callID: ModelCall.id(request: plan.id, role: role, round: round, index: index), requestID: plan.id, role: role,
            round: round, index: index, model: model, provider: nil, content: nil,
            error: ErrorInfo(code: "timeout", message: "\(model) did not answer within \(plan.options.timeoutMs) ms"),
            finishReason: nil, latencyMs: Int64(plan.options.timeoutMs), usage: .zero)
    }

    static func index(of callID: String) -> Int {
        Int(callID.split(separator: "/").last ?? "") ?? 0
    }

    static func splitReference(_ reference: String) -> (String, String?) {
        ModelCall.splitReference(reference)
    }
}

/// A finished fusion: everything the judge records and publishes.
public struct FusionOutcome: Sendable, Equatable {
    public var status: AnswerStatus
    public var answer: String?
    /// Pool members in pool order.
    public var candidates: [Candidate]
    public var verdict: Verdict?
    /// The judge's reply as received, for the judgments table.
    public var rawVerdict: String?
    /// Every response of the request (pool, debate, judge), for usage and cost totals.
    public var responses: [ModelResponse]
    public var error: ErrorInfo?
    public var latencyMs: Int64

    /// Tokens of every call.
    public var usage: TokenUsage { responses.reduce(.zero) { $0 + $1.usage } }
}
