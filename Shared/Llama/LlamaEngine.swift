import Dispatch
import Foundation
import Synchronization

/// Runs many generations on one model at once with continuous batching: every decode step carries the
/// next token of each generating sequence plus chunks of newly arrived prompts, so concurrent calls
/// share the cost of reading the weights instead of queueing one after another, and a new call joins
/// the running batch at the next step.
///
/// A dedicated thread owns the ``LlamaContext``; callers only await. Up to ``slots`` generations run
/// together; more wait in arrival order. An optional *prefix* (a common system prompt, a chat
/// template's preamble) is decoded once into a reserved sequence and shared by every prompt that
/// starts with it: its cells are tagged with the new sequence rather than computed again.
///
/// Each generation's ``GenerationTimings`` carries its queue wait and its ``GenerationTimings/deviceTime``:
/// the compute of each step it took part in, split among that step's sequences by rows.
///
/// ```swift
/// let engine = try await LlamaEngine(model: model, slots: 8)
/// let generation = try await engine.generate(prompt: prompt, parameters: .init(maxTokens: 64))
/// await engine.shutdown()
/// ```
///
/// - Important: Sequences sharing a step are computed independently, but their cells interleave in the
///   KV cache, which changes the summation order of attention in this libllama build: a generation's
///   logits can differ in the last bits from the same generation run alone (see `BatchingTests`).
public final class LlamaEngine: Sendable {
    /// The model the engine runs.
    public let model: LlamaModel
    /// How many generations decode together.
    public let slots: Int
    /// The context's actual size in tokens (shared by all sequences and the prefix).
    public let contextSize: Int
    /// The prefix every matching prompt shares (empty when none).
    public let prefix: [LlamaToken]
    /// The prefix's KV state, to seed a later engine of the same model (a snapshot), or `nil`.
    public let prefixState: LlamaSequenceState?
    /// How long creating the context and seeding the prefix took.
    public let startDuration: Duration

    private let shared: Shared

    /// What callers and the engine thread share.
    private final class Shared: Sendable {
        let inbox = Mutex(Inbox())
        let wakeUps = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
        let statistics = Mutex(LlamaEngineStatistics())
    }

    /// Submitted requests not yet taken by the engine thread.
    struct Inbox {
        var requests: [Request] = []
        var controls: [Control] = []
        var isClosed = false
    }

    /// Work on the engine thread between steps.
    enum Control: Sendable {
        /// Empty the KV cache (prefix included) and stop serving the prefix until resumed.
        case park(@Sendable (Result<Void, LlamaError>) -> Void)
        /// Restore the prefix from its saved state.
        case resume(@Sendable (Result<Void, LlamaError>) -> Void)
    }

    /// One submitted generation.
    struct Request: Sendable {
        var tokens: [LlamaToken]
        var parameters: GenerationParameters
        var submittedAt: ContinuousClock.Instant
        var cancellation: CancellationFlag
        var onChunk: (@Sendable (GenerationChunk) -> Void)?
        var complete: @Sendable (Result<Generation, LlamaError>) -> Void
    }

    /// How to seed the reserved prefix sequence.
    public enum PrefixSeed: Sendable {
        /// Decode these tokens.
        case tokens([LlamaToken])
        /// Restore a saved state of these tokens (from ``prefixState`` of an earlier engine).
        case snapshot([LlamaToken], LlamaSequenceState)
    }

    /// Starts the engine thread, creates the context there (with one extra sequence for the prefix) and
    /// seeds the prefix.
    ///
    /// - Parameters:
    ///   - slots: Generations decoded together (the context's sequences, less the prefix's).
    ///   - contextParameters: The context's settings; `maxSequences` is replaced by `slots + 1`.
    ///   - prefix: The shared prefix, if any. A snapshot that does not fit is ignored and its tokens are
    ///     decoded instead (a snapshot of another build or model must never stop a model from serving).
    /// - Throws: Context creation errors; decode errors of the prefix.
    public init(
        model: LlamaModel, slots: Int, contextParameters: LlamaContextParameters = LlamaContextParameters(),
        prefix: PrefixSeed? = nil, name: String = "llama-engine"
    ) async throws {
        guard slots > 0 else {
            throw LlamaError(code: .invalidArgument, detail: "an engine needs at least one slot, got \(slots)", path: model.path)
        }
        let parameters = {
            var parameters = contextParameters
            parameters.maxSequences = slots + 1
            return parameters
        }()
        let shared = Shared()
        let started = ContinuousClock.now
        let (size, seededPrefix, state) = try await withCheckedThrowingContinuation {
            (ready: CheckedContinuation<(Int, [LlamaToken], LlamaSequenceState?), Error>) in
            let thread = Thread {
                defer { shared.exited.signal() }
                let context: LlamaContext
                let prefixTokens: [LlamaToken]
                let prefixState: LlamaSequenceState?
                do {
                    context = try LlamaContext(model: model, parameters: parameters)
                    (prefixTokens, prefixState) = try Self.seed(prefix, into: context, sequence: slots)
                } catch {
                    shared.inbox.withLock { $0.isClosed = true }
                    ready.resume(throwing: error)
                    return
                }
                ready.resume(returning: (context.contextSize, prefixTokens, prefixState))
                var loop = EngineLoop(
                    context: context, slots: slots, prefix: prefixTokens, prefixState: prefixState, shared: shared)
                loop.run()
            }
            thread.name = name
            thread.stackSize = DedicatedThread.stackSize
            thread.start()
        }
        self.model = model
        self.slots = slots
        self.contextSize = size
        self.prefix = seededPrefix
        self.prefixState = state
        self.startDuration = ContinuousClock.now - started
        self.shared = shared
    }

    deinit {
        close()
    }

    private static func seed(
        _ prefix: PrefixSeed?, into context: LlamaContext, sequence: Int
    ) throws -> ([LlamaToken], LlamaSequenceState?) {
        guard let prefix else { return ([], nil) }
        switch prefix {
        case .snapshot(let tokens, let state) where state.nextPosition == tokens.count && !tokens.isEmpty:
            if (try? context.restoreState(state, into: sequence)) != nil { return (tokens, state) }
            return try seed(.tokens(tokens), into: context, sequence: sequence)
        case .snapshot(let tokens, _), .tokens(let tokens):
            // The last prompt token is always decoded for its logits, so a prefix shorter than 2 is useless,
            // and one that leaves no room for answers is refused.
            guard tokens.count >= 2, tokens.count < context.contextSize / 2 else { return ([], nil) }
            var batch = LlamaBatch(capacity: context.batchSize)
            var position = 0
            while position < tokens.count {
                batch.removeAll()
                let end = min(tokens.count, position + context.batchSize)
                for index in position..<end {
                    batch.append(token: tokens[index], position: index, sequence: sequence, wantsLogits: false)
                }
                try context.decode(batch)
                position = end
            }
            return (tokens, try context.saveState(of: sequence))
        }
    }

    // MARK: - Generating

    /// Generates a completion of `prompt` (tokenized with special tokens added and parsed, as chat
    /// templates need), sharing decode steps with the engine's other generations.
    ///
    /// Task cancellation ends the generation at the next step with finish reason ``FinishReason/cancelled``.
    /// - Parameter onChunk: Receives streamed text on the engine thread; it must return quickly.
    /// - Throws: ``LlamaError/Code/promptTooLong``, ``LlamaError/Code/contextFull`` (retriable: the shared
    ///   cache filled up), ``LlamaError/Code/workerClosed``, decode errors.
    public func generate(
        prompt: String, parameters: GenerationParameters = GenerationParameters(),
        onChunk: (@Sendable (GenerationChunk) -> Void)? = nil
    ) async throws -> Generation {
        let submittedAt = ContinuousClock.now
        let tokens = try model.tokenize(prompt)
        return try await generate(tokens: tokens, parameters: parameters, submittedAt: submittedAt, onChunk: onChunk)
    }

    /// Generates a completion of a tokenized prompt (see ``generate(prompt:parameters:onChunk:)``).
    public func generate(
        tokens: [LlamaToken], parameters: GenerationParameters = GenerationParameters(),
        onChunk: (@Sendable (GenerationChunk) -> Void)? = nil
    ) async throws -> Generation {
        try await generate(tokens: tokens, parameters: parameters, submittedAt: .now, onChunk: onChunk)
    }

    private func generate(
        tokens: [LlamaToken], parameters: GenerationParameters, submittedAt: ContinuousClock.Instant,
        onChunk: (@Sendable (GenerationChunk) -> Void)?
    ) async throws -> Generation {
        guard !tokens.isEmpty else {
            throw LlamaError(code: .invalidArgument, detail: "the prompt is empty")
        }
        guard parameters.maxTokens >= 0 else {
            throw LlamaError(code: .invalidArgument, detail: "maxTokens \(parameters.maxTokens) is negative")
        }
        guard tokens.count < contextSize else {
            throw LlamaError(
                code: .promptTooLong,
                detail: "the prompt has \(tokens.count) tokens; the context holds \(contextSize) including the answer")
        }
        let cancellation = CancellationFlag()
        let shared = self.shared
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Generation, Error>) in
                let request = Request(
                    tokens: tokens, parameters: parameters, submittedAt: submittedAt, cancellation: cancellation,
                    onChunk: onChunk, complete: { continuation.resume(with: $0.mapError { $0 as Error }) })
                let accepted = shared.inbox.withLock { inbox in
                    guard !inbox.isClosed else { return false }
                    inbox.requests.append(request)
                    return true
                }
                if accepted {
                    shared.wakeUps.signal()
                } else {
                    request.complete(.failure(LlamaError(code: .workerClosed, detail: "the engine is closed")))
                }
            }
        } onCancel: {
            cancellation.cancel()
            shared.wakeUps.signal()
        }
    }

    /// Counters since the engine started (steps, rows, tokens, occupancy).
    public var statistics: LlamaEngineStatistics {
        shared.statistics.withLock { $0 }
    }

    // MARK: - Parking

    /// Parks an idle engine: empties its KV cache, prefix included, and leaves its thread asleep with the
    /// context still allocated — the snapshot tier's "pre-allocated context". ``resume()`` makes it serve
    /// again in about the time of restoring the prefix state.
    ///
    /// - Throws: ``LlamaError/Code/invalidArgument`` when generations are running or queued.
    public func park() async throws {
        try await control { .park($0) }
    }

    /// Restores the prefix of a parked engine from its saved state, so it serves as before.
    public func resume() async throws {
        try await control { .resume($0) }
    }

    private func control(_ make: (@escaping @Sendable (Result<Void, LlamaError>) -> Void) -> Control) async throws {
        let shared = self.shared
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let done: @Sendable (Result<Void, LlamaError>) -> Void = { continuation.resume(with: $0.mapError { $0 as Error }) }
            let accepted = shared.inbox.withLock { inbox in
                guard !inbox.isClosed else { return false }
                inbox.controls.append(make(done))
                return true
            }
            if accepted {
                shared.wakeUps.signal()
            } else {
                done(.failure(LlamaError(code: .workerClosed, detail: "the engine is closed")))
            }
        }
    }

    // MARK: - Closing

    /// Stops accepting generations; queued and running ones fail with ``LlamaError/Code/workerClosed``,
    /// then the thread frees the context and ends. Returns at once.
    public func close() {
        shared.inbox.withLock { $0.isClosed = true }
        shared.wakeUps.signal()
    }

    /// Closes the engine and waits (off the cooperative pool) until its thread has freed the context.
    public func shutdown() async {
        close()
        await DedicatedThread.awaitExit(of: shared.exited, name: "llama-engine-shutdown")
    }

    // MARK: - The engine thread

    /// The step loop, owned by the engine thread.
    private struct EngineLoop {
        /// A generation holding a slot.
        struct Running {
            var request: Request
            var slot: Int
            /// Prompt tokens already in the cache (shared prefix included).
            var promptCursor: Int
            var cachedPrefix: Int
            var sampler: LlamaSampler
            var text: GeneratedText
            var generated: [LlamaToken] = []
            /// The batch entry whose logits sample this sequence's next token, after the last decode.
            var logitIndex: Int?
            /// The sampled token to decode next, at position `nextPosition`.
            var pendingToken: LlamaToken?
            var nextPosition: Int
            var admittedAt: ContinuousClock.Instant
            /// KV cells set aside for this generation at admission.
            var reservedCells: Int
            var promptDoneAt: ContinuousClock.Instant?
            var firstTokenAt: ContinuousClock.Instant?
            var deviceNanos: Int64 = 0
        }

        let context: LlamaContext
        let slots: Int
        let prefix: [LlamaToken]
        let prefixState: LlamaSequenceState?
        /// Whether the prefix sequence holds the prefix (not while parked).
        var prefixPresent = true
        let shared: Shared
        var waiting: [Request] = []
        var running: [Int: Running] = [:]
        /// Slots in admission order (fair prompt filling and stable batch composition).
        var order: [Int] = []
        var batch: LlamaBatch
        var pieceBuffer: [UInt8] = []

        init(context: LlamaContext, slots: Int, prefix: [LlamaToken], prefixState: LlamaSequenceState?, shared: Shared) {
            self.context = context
            self.slots = slots
            self.prefix = prefix
            self.prefixState = prefixState
            self.shared = shared
            self.batch = LlamaBatch(capacity: context.batchSize)
        }

        mutating func run() {
            while true {
                let (arrived, controls, closed) = shared.inbox.withLock { inbox in
                    defer {
                        inbox.requests.removeAll(keepingCapacity: true)
                        inbox.controls.removeAll(keepingCapacity: true)
                    }
                    return (inbox.requests, inbox.controls, inbox.isClosed)
                }
                waiting.append(contentsOf: arrived)
                if closed {
                    let error = LlamaError(code: .workerClosed, detail: "the engine closed before the generation finished")
                    failEverything(error)
                    for control in controls { control.fail(error) }
                    return
                }
                for control in controls { perform(control) }
                dropCancelled()
                admit()
                if running.isEmpty {
                    shared.wakeUps.wait()
                    continue
                }
                step()
            }
        }

        private mutating func perform(_ control: Control) {
            switch control {
            case .park(let done):
                guard running.isEmpty, waiting.isEmpty else {
                    done(.failure(LlamaError(code: .invalidArgument, detail: "an engine with generations cannot be parked")))
                    return
                }
                context.removeAllSequences()
                prefixPresent = false
                done(.success(()))
            case .resume(let done):
                guard !prefixPresent else { return done(.success(())) }
                if let prefixState {
                    do {
                        try context.restoreState(prefixState, into: slots)
                    } catch let error as LlamaError {
                        return done(.failure(error))
                    } catch {
                        return done(.failure(LlamaError(code: .stateFailed, detail: "\(error)")))
                    }
                }
                prefixPresent = true
                done(.success(()))
            }
        }

        private mutating func failEverything(_ error: LlamaError) {
            for request in waiting { request.complete(.failure(error)) }
            waiting.removeAll()
            for slot in order { finish(slot, with: .failure(error)) }
        }

        private mutating func dropCancelled() {
            waiting.removeAll { request in
                guard request.cancellation.isCancelled else { return false }
                request.complete(.failure(LlamaError(code: .cancelled, detail: "the generation was cancelled while queued")))
                return true
            }
            for slot in order where running[slot]?.request.cancellation.isCancelled == true {
                finish(slot, reason: .cancelled)
            }
        }

        /// Gives free slots to waiting requests, first come first served, reusing the shared prefix.
        ///
        /// A request is admitted only when the KV cells it may need (its uncached prompt plus `maxTokens`)
        /// fit beside the running ones' reservations, so a running generation never finds the cache full.
        /// The queue is not reordered: a large request waits at the head rather than being overtaken
        /// forever. A request larger than the whole cache runs alone and ends at its edge.
        private mutating func admit() {
            guard !waiting.isEmpty, running.count < slots else { return }
            let now = ContinuousClock.now
            let capacity = context.contextSize - prefix.count
            var reserved = running.values.reduce(0) { $0 + $1.reservedCells }
            for slot in 0..<slots where running[slot] == nil && !waiting.isEmpty {
                let request = waiting[0]
                // The last prompt token is always decoded, for its logits.
                var shared = 0
                let limit = prefixPresent ? min(prefix.count, request.tokens.count - 1) : 0
                while shared < limit && prefix[shared] == request.tokens[shared] { shared += 1 }
                let cells = min(request.tokens.count - shared + request.parameters.maxTokens, capacity)
                guard running.isEmpty || reserved + cells <= capacity else { return }
                waiting.removeFirst()
                reserved += cells
                context.removeSequence(slot)
                if shared > 0 {
                    try? context.copySequence(slots, to: slot, positions: 0..<shared)
                }
                running[slot] = Running(
                    request: request, slot: slot, promptCursor: shared, cachedPrefix: shared,
                    sampler: LlamaSampler(request.parameters), text: GeneratedText(stop: request.parameters.stop),
                    nextPosition: shared, admittedAt: now, reservedCells: cells)
                order.append(slot)
            }
        }

        /// One decode step: compose, decode, apportion, sample.
        private mutating func step() {
            let generating = order.filter { running[$0]?.pendingToken != nil }
            let prefilling = order.compactMap { slot -> (slot: Int, remaining: Int)? in
                guard let sequence = running[slot], sequence.pendingToken == nil, sequence.logitIndex == nil else { return nil }
                return (slot, sequence.request.tokens.count - sequence.promptCursor)
            }
            let plan = StepPlan(generating: generating, prefilling: prefilling, batchSize: context.batchSize)
            batch.removeAll()
            for entry in plan.entries {
                guard var sequence = running[entry.slot] else { continue }
                if let token = sequence.pendingToken {
                    sequence.logitIndex = batch.append(
                        token: token, position: sequence.nextPosition, sequence: entry.slot, wantsLogits: true)
                    sequence.pendingToken = nil
                    sequence.nextPosition += 1
                } else {
                    let tokens = sequence.request.tokens
                    for index in sequence.promptCursor..<(sequence.promptCursor + entry.rows) {
                        let last = index == tokens.count - 1
                        let batchIndex = batch.append(token: tokens[index], position: index, sequence: entry.slot, wantsLogits: last)
                        if last { sequence.logitIndex = batchIndex }
                    }
                    sequence.promptCursor += entry.rows
                    sequence.nextPosition = sequence.promptCursor
                }
                running[entry.slot] = sequence
            }
            guard !batch.isEmpty else { return }
            let started = ContinuousClock.now
            do {
                try context.decode(batch)
            } catch let error as LlamaError where error.code == .contextFull {
                // The shared cache is full: give up the youngest generation (its caller may retry) and let
                // the others go on.
                if let youngest = order.last { finish(youngest, with: .failure(error)) }
                for slot in order { running[slot]?.logitIndex = nil }
                rewindAfterFailedStep(plan)
                return
            } catch {
                let failure = error as? LlamaError ?? LlamaError(code: .decodeFailed, detail: "\(error)")
                for slot in order { finish(slot, with: .failure(failure)) }
                return
            }
            let decoded = ContinuousClock.now
            // Sampling is part of the step's compute.
            var finished: [(Int, FinishReason)] = []
            for entry in plan.entries {
                guard var sequence = running[entry.slot], let logitIndex = sequence.logitIndex else { continue }
                if sequence.promptDoneAt == nil { sequence.promptDoneAt = decoded }
                sequence.logitIndex = nil
                if let reason = sample(&sequence, logitIndex: logitIndex) {
                    finished.append((entry.slot, reason))
                }
                running[entry.slot] = sequence
            }
            let stepNanos = (ContinuousClock.now - started).wholeNanoseconds
            for (entry, share) in zip(plan.entries, plan.apportion(stepNanos)) {
                running[entry.slot]?.deviceNanos += share
            }
            shared.statistics.withLock { statistics in
                statistics.steps += 1
                statistics.rows += plan.rowCount
                statistics.sequenceSteps += plan.entries.count
                statistics.deviceNanos += stepNanos
            }
            for (slot, reason) in finished { finish(slot, reason: reason) }
        }

        /// After a step failed for lack of room, the survivors' prompt cursors and pending tokens are put
        /// back so the same work is planned again.
        private mutating func rewindAfterFailedStep(_ plan: StepPlan) {
            for entry in plan.entries {
                guard var sequence = running[entry.slot] else { continue }
                if sequence.promptCursor < sequence.request.tokens.count || sequence.generated.isEmpty {
                    sequence.promptCursor -= entry.rows
                    context.removeTokens(of: entry.slot, at: sequence.promptCursor...)
                    sequence.nextPosition = sequence.promptCursor
                } else {
                    sequence.nextPosition -= 1
                    sequence.pendingToken = sequence.generated.last
                    context.removeTokens(of: entry.slot, at: sequence.nextPosition...)
                }
                running[entry.slot] = sequence
            }
        }

        /// Samples the next token; returns why the generation ends, or `nil` to go on.
        private mutating func sample(_ sequence: inout Running, logitIndex: Int) -> FinishReason? {
            let token: LlamaToken
            do {
                token = try context.sample(batchIndex: logitIndex, using: &sequence.sampler)
            } catch {
                return .length
            }
            if sequence.firstTokenAt == nil { sequence.firstTokenAt = .now }
            let parameters = sequence.request.parameters
            if context.model.isEndOfGeneration(token) && !parameters.ignoresEndOfText { return .endOfText }
            sequence.generated.append(token)
            pieceBuffer.removeAll(keepingCapacity: true)
            context.model.appendPiece(of: token, renderSpecial: false, to: &pieceBuffer)
            let delta = sequence.text.append(pieceBuffer)
            sequence.request.onChunk?(GenerationChunk(token: token, text: delta))
            if sequence.text.isStopped { return .stop }
            if sequence.generated.count >= parameters.maxTokens { return .length }
            if sequence.nextPosition >= context.contextSize { return .length }
            sequence.pendingToken = token
            return nil
        }

        private mutating func finish(_ slot: Int, reason: FinishReason) {
            guard var sequence = running[slot] else { return }
            let rest = sequence.text.finish()
            if !rest.isEmpty, reason != .cancelled {
                sequence.request.onChunk?(GenerationChunk(token: nil, text: rest))
            }
            let end = ContinuousClock.now
            let promptDone = sequence.promptDoneAt ?? end
            let generation = Generation(
                text: sequence.text.text, tokens: sequence.generated, promptTokens: sequence.request.tokens.count,
                cachedPromptTokens: sequence.cachedPrefix, finishReason: reason,
                timings: GenerationTimings(
                    promptEvaluation: promptDone - sequence.admittedAt, decoding: end - promptDone,
                    timeToFirstToken: (sequence.firstTokenAt ?? end) - sequence.request.submittedAt,
                    queueWait: sequence.admittedAt - sequence.request.submittedAt,
                    deviceTime: .nanoseconds(sequence.deviceNanos)))
            running[slot] = sequence
            finish(slot, with: .success(generation))
        }

        private mutating func finish(_ slot: Int, with result: Result<Generation, LlamaError>) {
            guard let sequence = running.removeValue(forKey: slot) else { return }
            order.removeAll { $0 == slot }
            context.removeSequence(slot)
            sequence.request.complete(result)
        }

    }
}

extension LlamaEngine.Control {
    func fail(_ error: LlamaError) {
        switch self {
        case .park(let done), .resume(let done): done(.failure(error))
        }
    }
}

extension Duration {
    /// Whole nanoseconds, rounded down: device time is apportioned and summed in exact integers.
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Counters of a ``LlamaEngine`` since it started.
public struct LlamaEngineStatistics: Sendable, Hashable {
    /// Decode steps run.
    public var steps = 0
    /// Batch rows decoded (prompt tokens plus generated tokens).
    public var rows = 0
    /// Sum over steps of the sequences in the step: `sequenceSteps / steps` is the mean batch occupancy.
    public var sequenceSteps = 0
    /// Compute time of all steps.
    public var deviceNanos: Int64 = 0

    public init() {}

    /// Mean sequences per step.
    public var meanOccupancy: Double { steps == 0 ? 0 : Double(sequenceSteps) / Double(steps) }
}
