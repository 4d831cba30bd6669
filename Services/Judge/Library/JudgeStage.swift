import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import Trail

/// judge: a request's plan and responses from `chorus.fusion` → judge and debate calls → one answer,
/// recorded and published on `chorus.answers`.
///
/// A request's messages are held (not marked processed) until its answer is committed, so a crash
/// replays them and the fusion is rebuilt; a request that already has an answer is skipped.
public final class JudgeStage: Service, Sendable {
    private struct Entry {
        var state: FusionState?
        /// Responses that arrived before the plan (not expected: they share a partition, but cheap to allow).
        var early: [ModelResponse] = []
        var messages: [KafkaMessage] = []
        /// The request's trace, for what deadline ticks send outside any message handler.
        var context: MessageContext?
        /// When the first message arrived: an entry that never gets its plan is dropped once answered.
        var openedAt = ContinuousClock.now
    }

    private let catalog: ModelCatalog
    private let infrastructure: StageInfrastructure
    private let consumer: KafkaConsumer
    private let entries = Mutex<[String: Entry]>([:])
    private let tickInterval: Duration
    private var logger: Logger { infrastructure.logger }

    /// How long an entry may wait for its plan before the judge checks whether the request was
    /// answered without it (the reconciler gave up on it) and lets its messages go.
    private let orphanAfter: Duration
    /// The answer lookups and answer records of all requests in flight, batched (group commit).
    private let answerLookups: Batcher<String, String?>
    private let answerRecords: Batcher<(answer: Answer, rawVerdict: String?), Bool>

    public init(
        catalog: ModelCatalog, infrastructure: StageInfrastructure, consumer: KafkaConsumer, tickInterval: Duration = .milliseconds(50),
        orphanAfter: Duration = .seconds(30)
    ) {
        self.catalog = catalog
        self.infrastructure = infrastructure
        self.consumer = consumer
        self.tickInterval = tickInterval
        self.orphanAfter = orphanAfter
        let store = TrailStore(database: infrastructure.database)
        answerLookups = Batcher(maxBatch: 256) { ids in
            let found = try await store.storedAnswers(requestIDs: ids)
            return ids.map { found[$0] }
        }
        answerRecords = Batcher(maxBatch: 256) { try await store.recordAnswers($0) }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let event = try JSONCoding.decode(FusionEvent.self, from: message.value)
        let id = event.requestID
        let known = entries.withLock { $0[id] != nil }
        if !known, let stored = try await answerLookups.submit(id) {
            // Answered before (a replay after a crash, a resume, or a straggler). On the plan, publish
            // the answer again: a crash between recording and publishing it, or a lost broker, must
            // not keep it off `chorus.answers` (consumers drop repeats by id).
            if case .plan = event {
                _ = try await infrastructure.producer.send(topic: Topics.answers, key: Array(id.utf8), value: Array(stored.utf8))
            }
            return .done
        }
        let now = Self.now()
        let actions = entries.withLock { entries -> [FusionState.Action] in
            var entry = entries[id] ?? Entry()
            entry.messages.append(message)
            entry.context = entry.context ?? MessageContext.current
            var actions: [FusionState.Action] = []
            switch event {
            case .plan(let plan):
                if entry.state == nil {
                    let catalog = self.catalog
                    var state = FusionState(
                        plan: plan, phaseTimeout: .milliseconds(plan.options.timeoutMs), nowMs: now, price: { catalog.cost(of: $0) })
                    for response in entry.early { actions += state.receive(response, nowMs: now) }
                    entry.early = []
                    entry.state = state
                }
            case .response(let response):
                if var state = entry.state {
                    actions = state.receive(response, nowMs: now)
                    entry.state = state
                } else {
                    entry.early.append(response)
                }
            }
            entries[id] = entry
            return actions
        }
        await perform(actions, requestID: id)
        return .deferred
    }

    /// Ticks every request whose phase deadline passed.
    public func run() async throws {
        var lastOrphanCheck = ContinuousClock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: tickInterval)
            if ContinuousClock.now - lastOrphanCheck > orphanAfter / 2 {
                lastOrphanCheck = ContinuousClock.now
                await releaseAnsweredOrphans()
            }
            let now = Self.now()
            let due = entries.withLock { entries -> [(String, [FusionState.Action])] in
                var due: [(String, [FusionState.Action])] = []
                for (id, entry) in entries {
                    guard var state = entry.state, let deadline = state.deadlineMs, deadline <= now else { continue }
                    let actions = state.tick(nowMs: now)
                    entries[id]!.state = state
                    if !actions.isEmpty { due.append((id, actions)) }
                }
                return due
            }
            for (id, actions) in due {
                let context = entries.withLock { $0[id]?.context }
                await MessageContext.$current.withValue(context) { await perform(actions, requestID: id) }
            }
        }
    }

    /// Lets go of entries whose plan never came (it was lost with the broker, say) once their
    /// request has an answer, so their held messages stop holding back the partition's offsets.
    private func releaseAnsweredOrphans() async {
        let cutoff = ContinuousClock.now - orphanAfter
        let orphans = entries.withLock { $0.filter { $0.value.state == nil && $0.value.openedAt < cutoff }.map(\.key) }
        for id in orphans {
            guard (try? await TrailStore(database: infrastructure.database).storedAnswer(requestID: id)) != nil else { continue }
            let held = entries.withLock { entries -> [KafkaMessage] in
                guard entries[id]?.state == nil else { return [] }  // its plan came meanwhile
                return entries.removeValue(forKey: id)?.messages ?? []
            }
            for message in held { consumer.markProcessed(message) }
        }
    }

    // MARK: - Effects

    private func perform(_ actions: [FusionState.Action], requestID: String) async {
        for action in actions {
            switch action {
            case .send(let calls):
                let placed = calls.map { call in
                    (call: call, target: (catalog.models[call.model]?.isLocal ?? false) ? CallTarget.local : .remote)
                }
                await persist("recording judge calls", requestID) {
                    try await TrailStore(database: self.infrastructure.database).recordCalls(placed)
                    for (call, target) in placed {
                        try await self.infrastructure.publish(call, to: target.topic, key: call.callID)
                    }
                }
            case .finish(let outcome):
                guard let plan = entries.withLock({ $0[requestID]?.state?.plan }) else { continue }
                let answer = Answer(
                    id: plan.id, project: plan.project, status: outcome.status, mode: plan.mode, answer: outcome.answer,
                    candidates: outcome.candidates, verdict: outcome.verdict, usage: outcome.usage,
                    costUSD: outcome.responses.reduce(Money.zero) { $0 + catalog.cost(of: $1) },
                    latencyMs: outcome.latencyMs, error: outcome.error)
                await persist("recording the answer", requestID) {
                    let store = TrailStore(database: self.infrastructure.database)
                    if try await !self.answerRecords.submit((answer, outcome.rawVerdict)),
                        let stored = try await store.storedAnswer(requestID: answer.id)
                    {
                        // Answered meanwhile (the reconciler gave up on it): publish the recorded answer,
                        // never a second, different one.
                        _ = try await self.infrastructure.producer.send(
                            topic: Topics.answers, key: Array(answer.id.utf8), value: Array(stored.utf8))
                        return
                    }
                    try await self.infrastructure.publish(answer, to: Topics.answers, key: answer.id)
                }
                let held = entries.withLock { $0.removeValue(forKey: requestID)?.messages ?? [] }
                for message in held { consumer.markProcessed(message) }
                logger.info(
                    "answered",
                    metadata: [LogKey.requestID: "\(requestID)", "status": "\(answer.status.rawValue)", "latency_ms": "\(answer.latencyMs)"])
            }
        }
    }

    /// Retries an effect until it lands: the state machine has moved on and must not lose it.
    private func persist(_ what: String, _ requestID: String, _ effect: () async throws -> Void) async {
        var waits = 0
        while true {
            do {
                try await effect()
                return
            } catch {
                waits += 1
                if waits == 1 || waits % 20 == 0 {
                    logger.warning(
                        "\(what) failed; retrying",
                        metadata: [LogKey.requestID: "\(requestID)", LogKey.error: "\(ServiceMain.describe(error))"])
                }
                if Task.isCancelled { return }
                try? await Task.sleep(for: .milliseconds(min(2000, 50 * waits)))
            }
        }
    }
}
