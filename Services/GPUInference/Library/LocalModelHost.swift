import Catalog
import ChorusRuntime
import Contracts
import Foundation
import HTTP
import Llama
import Logging

/// How the host runs its models.
public struct LocalHostSettings: Sendable, Hashable {
    /// CPU threads per model.
    public var threads: Int
    /// The most bytes the models may hold together (warm models and kept snapshots); `nil` is no limit.
    public var memoryBudget: Int64?
    /// How often idle models are looked for and metrics refreshed.
    public var maintenanceInterval: Duration
    /// The longest a call waits for its model (a load, or memory held by busy models), when its own
    /// deadline is later or absent.
    public var coldStartTimeout: Duration

    public init(
        threads: Int = 2, memoryBudget: Int64? = nil, maintenanceInterval: Duration = .seconds(1),
        coldStartTimeout: Duration = .seconds(120)
    ) {
        self.threads = threads
        self.memoryBudget = memoryBudget
        self.maintenanceInterval = maintenanceInterval
        self.coldStartTimeout = coldStartTimeout
    }
}

/// What a local call used, for its usage event.
public struct LocalMetering: Sendable, Hashable {
    /// Compute time apportioned to the call (its share of every decode step it was part of).
    public var deviceNanos: Int64
    /// From arrival to the start of its prompt evaluation: model start-up plus waiting for a slot.
    public var queueWaitNanos: Int64
    /// From arrival to the end.
    public var wallNanos: Int64
    /// Where the model started from for this call (`warm` when it was already loaded).
    public var tier: StartTier

    /// Whether the call waited for its model to load.
    public var coldStart: Bool { tier != .warm }
}

/// Serves the catalog's local models like a serverless GPU host: a model loads on its first call (a
/// cold start, from disk or from the warm snapshot tier), serves concurrent calls with continuous
/// batching, unloads after its idle window (keeping a snapshot while memory allows) and, when the memory
/// budget is tight, gives way to other models least recently used first — never while busy.
///
/// A model whose GGUF is missing or corrupt fails its own calls with a clear error; the host and its
/// other models keep serving.
public actor LocalModelHost {
    /// A loaded model: its batching engine (which holds the weights), or the external server that serves it.
    enum Instance: Sendable {
        case engine(LlamaEngine)
        case server(ModelServerProcess)

        func stop() async {
            switch self {
            case .engine(let engine): await engine.shutdown()
            case .server(let server): await server.stop()
            }
        }
    }

    private let models: [String: LocalModel]
    private let settings: LocalHostSettings
    private let logger: Logger
    private let metrics = InferenceMetrics()
    /// For managed model servers; started with the first one.
    private let http = HTTPClient()
    private var fleet: ModelFleet
    private var instances: [String: Instance] = [:]
    /// The snapshot tier: parked engines (weights mapped, context allocated with its KV cache emptied,
    /// thread asleep, the prefix's KV state kept to restore).
    private var snapshots: [String: LlamaEngine] = [:]
    private var loads: [String: (tier: StartTier, task: Task<Instance, any Error>)] = [:]
    private var drains: [String: Task<Void, Never>] = [:]
    private var warmUps: [String: Task<Void, Never>] = [:]
    /// Parked engines being shut down after their snapshot was dropped.
    private var closing: [Task<Void, Never>] = []
    private var memoryWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    private var lastStatistics: [String: (at: ContinuousClock.Instant, statistics: LlamaEngineStatistics, tokens: Int)] = [:]
    private var completionTokens: [String: Int] = [:]

    public init(catalog: ModelCatalog, settings: LocalHostSettings, logger: Logger) {
        var models: [String: LocalModel] = [:]
        for (id, model) in catalog.models {
            if case .local(let local) = model.placement { models[id] = local }
        }
        self.models = models
        self.settings = settings
        self.logger = logger
        self.fleet = ModelFleet(
            specs: models.mapValues { local in
                let fileBytes = Self.fileSize(local.ggufPath)
                return ModelFleet.Spec(
                    idleWindow: local.idleWindow, minWarm: local.minWarm,
                    warmBytes: fileBytes + Int64(local.contextSize) * Self.estimatedKVBytesPerToken,
                    snapshotBytes: fileBytes)
            },
            budget: settings.memoryBudget, now: .now)
        LlamaBackend.bootstrap(logger: logger)
    }

    /// Before a model has loaded, its KV cache is estimated at this many bytes a token (SmolLM2-135M
    /// needs 23 KB, Gemma 3 270M 18 KB); after loading the host uses the measured size.
    static let estimatedKVBytesPerToken: Int64 = 32 << 10

    /// Problems visible without loading anything (a missing file), by model id.
    public nonisolated func missingFiles() -> [(model: String, path: String)] {
        models.compactMap { id, local in
            local.server != nil || FileManager.default.fileExists(atPath: local.ggufPath) ? nil : (id, local.ggufPath)
        }.sorted { $0.model < $1.model }
    }

    public nonisolated var modelIDs: [String] { models.keys.sorted() }

    /// Each model's lifecycle phase (`unloaded`, `snapshot`, `loading`, `warm`, `draining`), for tests and status.
    public func phases() -> [String: String] {
        fleet.models.mapValues { model in
            switch model.phase {
            case .unloaded: model.hasSnapshot ? "snapshot" : "unloaded"
            case .loading: "loading"
            case .warm: "warm"
            case .draining: "draining"
            }
        }
    }

    /// Bytes the models hold now, by the host's accounting.
    public func residentBytes() -> Int64 { fleet.residentBytes }

    // MARK: - Calls

    /// Runs one call. Never throws: failures become the response's error.
    public func generate(_ call: ModelCall) async -> (response: ModelResponse, metering: LocalMetering?) {
        let arrived = ContinuousClock.now
        func failure(_ code: String, _ message: String) -> (ModelResponse, LocalMetering?) {
            (ModelResponse(
                callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                model: call.model, provider: "local", content: nil, error: ErrorInfo(code: code, message: message),
                finishReason: nil, latencyMs: (ContinuousClock.now - arrived).wholeMilliseconds, usage: .zero), nil)
        }
        guard let local = models[call.model] else {
            return failure("unknown_model", "\(call.model) is not a local model of this host")
        }
        let deadline = deadline(of: call, from: arrived)
        let instance: Instance
        let tier: StartTier
        switch await acquire(call.model, local, deadline: deadline) {
        case .success(let acquired): (instance, tier) = acquired
        case .failure(let error): return failure(error.code, "\(call.model): \(error.message)")
        }
        defer {
            fleet.release(call.model, now: .now)
            wakeMemoryWaiters()
        }
        let engine: LlamaEngine
        switch instance {
        case .engine(let running): engine = running
        case .server(let server):
            return await complete(call, on: server, tier: tier, arrived: arrived, deadline: deadline)
        }
        let model = engine.model

        let prompt: String
        var stop: [String] = []
        switch local.promptStyle {
        case .chat:
            do {
                prompt = try model.applyChatTemplate(call.messages.map {
                    Llama.ChatMessage(role: .init(rawValue: $0.role.rawValue), content: $0.content)
                })
            } catch {
                return failure("prompt_failed", "\(call.model): \(error)")
            }
        case .completion:
            prompt = CompletionFrame.prompt(for: call.messages)
            stop = CompletionFrame.stopSequences
        }
        // A seed from the call id: a redelivered call at temperature > 0 samples the same text.
        let parameters = GenerationParameters(
            maxTokens: call.maxTokens, temperature: Float(call.temperature), seed: Self.seed(call.callID), stop: stop)
        let generation: Generation
        do {
            generation = try await engine.generate(prompt: prompt, parameters: parameters)
        } catch let error as LlamaError where error.code == .promptTooLong {
            return failure("prompt_too_long", "\(call.model): \(error.detail)")
        } catch {
            return failure("generation_failed", "\(call.model): \(error)")
        }
        let end = ContinuousClock.now
        let deviceNanos = generation.timings.deviceTime.wholeNanoseconds
        // Queue wait counts from arrival: the model's start-up and the wait for a slot.
        let startedAt = end - generation.timings.decoding - generation.timings.promptEvaluation
        let metering = LocalMetering(
            deviceNanos: deviceNanos, queueWaitNanos: (startedAt - arrived).wholeNanoseconds,
            wallNanos: (end - arrived).wholeNanoseconds, tier: tier)
        metrics.record(
            call: call.model, promptTokens: generation.promptTokens, completionTokens: generation.completionTokens,
            metering: metering)
        completionTokens[call.model, default: 0] += generation.completionTokens
        let response = ModelResponse(
            callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
            model: call.model, provider: "local", content: generation.text.trimmingCharacters(in: .whitespacesAndNewlines),
            error: nil, finishReason: generation.finishReason.rawValue, latencyMs: (end - arrived).wholeMilliseconds,
            usage: TokenUsage(
                promptTokens: generation.promptTokens, completionTokens: generation.completionTokens,
                cachedPromptTokens: generation.cachedPromptTokens),
            deviceNanos: deviceNanos, coldStart: metering.coldStart)
        return (response, metering)
    }

    /// Runs a call on a managed model server.
    private func complete(
        _ call: ModelCall, on server: ModelServerProcess, tier: StartTier, arrived: ContinuousClock.Instant,
        deadline: ContinuousClock.Instant
    ) async -> (response: ModelResponse, metering: LocalMetering?) {
        let started = ContinuousClock.now
        do {
            let completion = try await server.complete(call, timeout: max(.seconds(1), deadline - started))
            let end = ContinuousClock.now
            let metering = LocalMetering(
                deviceNanos: completion.deviceNanos, queueWaitNanos: (started - arrived).wholeNanoseconds,
                wallNanos: (end - arrived).wholeNanoseconds, tier: tier)
            completionTokens[call.model, default: 0] += completion.usage.completionTokens
            metrics.record(
                call: call.model, promptTokens: completion.usage.promptTokens,
                completionTokens: completion.usage.completionTokens, metering: metering)
            let response = ModelResponse(
                callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                model: call.model, provider: "local", content: completion.content.trimmingCharacters(in: .whitespacesAndNewlines),
                error: nil, finishReason: completion.finishReason, latencyMs: (end - arrived).wholeMilliseconds,
                usage: completion.usage, deviceNanos: completion.deviceNanos, coldStart: metering.coldStart)
            return (response, metering)
        } catch {
            return (ModelResponse(
                callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                model: call.model, provider: "local", content: nil,
                error: ErrorInfo(code: "generation_failed", message: "\(call.model): \(error)"), finishReason: nil,
                latencyMs: (ContinuousClock.now - arrived).wholeMilliseconds, usage: .zero), nil)
        }
    }

    /// Why a call could not get its model.
    struct AcquireError: Error {
        var code: String
        var message: String
    }

    /// Gets a warm instance of the model for one call, loading it (and evicting others) as needed.
    /// On success the call holds the model until it calls `fleet.release`.
    private func acquire(
        _ id: String, _ local: LocalModel, deadline: ContinuousClock.Instant
    ) async -> Result<(Instance, StartTier), AcquireError> {
        var tier = StartTier.warm
        while true {
            switch fleet.acquire(id, now: .now) {
            case .unknown:
                return .failure(AcquireError(code: "unknown_model", message: "not a local model of this host"))
            case .ready:
                guard let instance = instances[id] else {
                    fleet.release(id, now: .now)
                    return .failure(AcquireError(code: "model_unavailable", message: "the host lost its loaded instance"))
                }
                return .success((instance, tier))
            case .awaitLoad:
                guard let load = loads[id] else { continue }
                return await awaitLoad(load.task, tier: load.tier)
            case .load(let loadTier, let unload, let dropSnapshots):
                for victim in dropSnapshots { dropSnapshot(victim) }
                for victim in unload {
                    logger.info("evicting idle model for memory", metadata: ["model": "\(victim)", "for": "\(id)"])
                    startDrain(victim)
                }
                tier = loadTier
                let task = startLoad(id, local, tier: loadTier)
                return await awaitLoad(task, tier: loadTier)
            case .awaitDrain:
                await drains[id]?.value
            case .awaitMemory:
                guard ContinuousClock.now < deadline else {
                    return .failure(AcquireError(
                        code: "model_unavailable",
                        message: "the memory budget (\(settings.memoryBudget.map(String.init) ?? "none") bytes) stayed full of busy models until the call's deadline"))
                }
                await waitForMemory(until: deadline)
            }
        }
    }

    private func awaitLoad(_ task: Task<Instance, any Error>, tier: StartTier) async -> Result<(Instance, StartTier), AcquireError> {
        do {
            return .success((try await task.value, tier))
        } catch {
            // The load's failure released every holder (fleet.loadFailed).
            return .failure(AcquireError(code: "model_unavailable", message: "\(error)"))
        }
    }

    private func deadline(of call: ModelCall, from arrived: ContinuousClock.Instant) -> ContinuousClock.Instant {
        let bound = arrived + settings.coldStartTimeout
        guard call.deadlineMs > 0 else { return bound }
        let remaining = call.deadlineMs - Int64(Date().timeIntervalSince1970 * 1000)
        return min(bound, arrived + .milliseconds(max(0, remaining)))
    }

    // MARK: - Loading and unloading

    private func startLoad(_ id: String, _ local: LocalModel, tier: StartTier) -> Task<Instance, any Error> {
        let snapshot = tier == .snapshot ? snapshots.removeValue(forKey: id) : nil
        let threads = settings.threads
        let started = ContinuousClock.now
        let http = self.http
        let logger = self.logger
        let task = Task<Instance, any Error> {
            do {
                let instance: Instance
                if let server = local.server {
                    http.start()
                    instance = .server(try await ModelServerProcess.start(
                        id: id, server: server, ggufPath: local.ggufPath, http: http, logger: logger))
                } else if let parked = snapshot {
                    try await parked.resume()
                    instance = .engine(parked)
                } else {
                    instance = try await Self.makeInstance(id, local, threads: threads)
                }
                self.loadSucceeded(id, instance, tier: snapshot == nil ? .disk : .snapshot, duration: .now - started)
                return instance
            } catch {
                self.loadFailedWith(id, error)
                throw error
            }
        }
        loads[id] = (tier, task)
        return task
    }

    private static func makeInstance(_ id: String, _ local: LocalModel, threads: Int) async throws -> Instance {
        let model = try await LlamaModel.load(path: local.ggufPath, parameters: LlamaModelParameters(gpuLayers: local.gpuLayers))
        let prefix = LlamaEngine.PrefixSeed.tokens(try commonPrefix(of: model, style: local.promptStyle))
        let engine = try await LlamaEngine(
            model: model, slots: local.maxSequences,
            contextParameters: LlamaContextParameters(contextSize: local.contextSize, threads: threads),
            prefix: prefix, name: "llama-\(id)")
        return .engine(engine)
    }

    /// The tokens every prompt of this model starts with: the chat template's preamble (with its default
    /// system prompt, if any) or the completion frame's instruction and examples.
    static func commonPrefix(of model: LlamaModel, style: PromptStyle) throws -> [LlamaToken] {
        let marker = "\u{E000}"
        let rendered: String
        switch style {
        case .chat:
            rendered = try model.applyChatTemplate([Llama.ChatMessage(role: .user, content: marker)])
        case .completion:
            rendered = CompletionFrame.prompt(for: [Contracts.ChatMessage(role: .user, content: marker)])
        }
        guard let range = rendered.range(of: marker) else { return [] }
        // The last token may merge with the text that follows in a real prompt; prompts are matched token
        // by token, so dropping it keeps every match exact.
        return Array(try model.tokenize(String(rendered[..<range.lowerBound])).dropLast())
    }

    private func loadSucceeded(_ id: String, _ instance: Instance, tier: StartTier, duration: Duration) {
        loads[id] = nil
        instances[id] = instance
        guard case .engine(let engine) = instance else {
            // An external server's memory is its own: it counts at the catalog's estimate.
            let bytes = fleet.models[id]?.spec.warmBytes ?? 0
            fleet.loaded(id, warmBytes: bytes, snapshotBytes: 0)
            metrics.loaded(id, tier: tier, duration: duration, bytes: bytes)
            logger.info("model server warm", metadata: ["model": "\(id)", "load_ms": "\(duration.wholeMilliseconds)"])
            return
        }
        let kvBytesPerToken = engine.prefixState.map { Int64($0.byteCount / max(1, engine.prefix.count)) }
            ?? Self.estimatedKVBytesPerToken
        let weights = engine.model.fileSize
        let warmBytes = weights + kvBytesPerToken * Int64(engine.contextSize)
        // A snapshot keeps everything but the running sequences: weights, the allocated context, the state.
        fleet.loaded(id, warmBytes: warmBytes, snapshotBytes: warmBytes + Int64(engine.prefixState?.byteCount ?? 0))
        metrics.loaded(id, tier: tier, duration: duration, bytes: warmBytes)
        logger.info(
            "model warm",
            metadata: [
                "model": "\(id)", "tier": "\(tier.rawValue)", "load_ms": "\(duration.wholeMilliseconds)",
                "prefix_tokens": "\(engine.prefix.count)", "resident_mb": "\(warmBytes >> 20)",
            ])
    }

    private func loadFailedWith(_ id: String, _ error: any Error) {
        loads[id] = nil
        fleet.loadFailed(id)
        metrics.resident(id, bytes: 0)
        logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error)"])
        wakeMemoryWaiters()
    }

    /// Unloads a model the fleet has marked draining; its calls have finished.
    private func startDrain(_ id: String) {
        guard let instance = instances.removeValue(forKey: id) else {
            _ = fleet.drained(id, snapshotAvailable: false)
            return
        }
        drains[id] = Task {
            // An engine is parked (a snapshot candidate); a managed server is stopped.
            var parked: LlamaEngine?
            switch instance {
            case .engine(let engine):
                if (try? await engine.park()) != nil { parked = engine } else { await engine.shutdown() }
            case .server(let server):
                await server.stop()
            }
            if let engine = parked, !self.drainFinished(id, keeping: engine) {
                await engine.shutdown()
            }
            if parked == nil { _ = self.drainFinished(id, keeping: nil) }
        }
    }

    /// Records a finished drain; keeps the snapshot if the budget has room for it.
    /// - Returns: Whether the snapshot is kept (otherwise its engine must be shut down).
    private func drainFinished(_ id: String, keeping snapshot: LlamaEngine?) -> Bool {
        drains[id] = nil
        defer { wakeMemoryWaiters() }
        if let snapshot, fleet.drained(id, snapshotAvailable: true) {
            snapshots[id] = snapshot
            metrics.resident(id, bytes: fleet.models[id]?.spec.snapshotBytes ?? 0)
            logger.info("model unloaded to the snapshot tier", metadata: ["model": "\(id)"])
            return true
        }
        if snapshot == nil { _ = fleet.drained(id, snapshotAvailable: false) }
        metrics.resident(id, bytes: 0)
        logger.info("model unloaded", metadata: ["model": "\(id)"])
        return false
    }

    /// Frees a snapshot the fleet gave up for memory.
    private func dropSnapshot(_ id: String) {
        metrics.resident(id, bytes: 0)
        logger.info("snapshot dropped for memory", metadata: ["model": "\(id)"])
        guard let snapshot = snapshots.removeValue(forKey: id) else { return }
        closing.append(Task { await snapshot.shutdown() })
    }

    // MARK: - Memory waiters

    private func waitForMemory(until deadline: ContinuousClock.Instant) async {
        let id = nextWaiter
        nextWaiter += 1
        let timeout = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            await self?.wake(id)
        }
        await withCheckedContinuation { memoryWaiters[id] = $0 }
        timeout.cancel()
    }

    private func wake(_ id: UInt64) {
        memoryWaiters.removeValue(forKey: id)?.resume()
    }

    private func wakeMemoryWaiters() {
        let waiters = memoryWaiters.values
        memoryWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Maintenance

    /// Keeps the fleet in shape until cancelled: loads models that must stay warm, unloads idle ones,
    /// refreshes the metrics.
    public func maintain() async {
        while !Task.isCancelled {
            maintainOnce(now: .now)
            try? await Task.sleep(for: settings.maintenanceInterval)
        }
    }

    /// One maintenance pass (also called by tests).
    public func maintainOnce(now: ContinuousClock.Instant) {
        for id in fleet.expired(now: now) {
            logger.info("model idle past its window, unloading", metadata: ["model": "\(id)"])
            startDrain(id)
        }
        for id in fleet.belowMinimum where loads[id] == nil && warmUps[id] == nil {
            guard let local = models[id], local.server != nil || FileManager.default.fileExists(atPath: local.ggufPath) else { continue }
            warmUps[id] = Task {
                if (try? await self.hold(id)) != nil { self.release(id) }
                self.warmUps[id] = nil
            }
        }
        for (id, instance) in instances {
            guard case .engine(let engine) = instance else { continue }
            let statistics = engine.statistics
            let tokens = completionTokens[id, default: 0]
            if let last = lastStatistics[id] {
                metrics.rates(
                    id, previous: last.statistics, current: statistics, tokens: tokens - last.tokens,
                    over: now - last.at)
            }
            lastStatistics[id] = (now, statistics, tokens)
        }
    }

    /// Holds a model as a call in flight does (loading it first if needed) until ``release(_:)``: a held
    /// model is busy, so it is neither unloaded nor evicted. Used to warm models up, and by tests.
    func hold(_ id: String) async throws {
        guard let local = models[id] else {
            throw AcquireError(code: "unknown_model", message: "\(id) is not a local model of this host")
        }
        if case .failure(let error) = await acquire(id, local, deadline: .now + settings.coldStartTimeout) {
            throw error
        }
    }

    /// Ends a ``hold(_:)``.
    func release(_ id: String) {
        fleet.release(id, now: .now)
        wakeMemoryWaiters()
    }

    /// The batching engine's counters of a warm model.
    public func engineStatistics(_ id: String) -> LlamaEngineStatistics? {
        guard case .engine(let engine)? = instances[id] else { return nil }
        return engine.statistics
    }

    /// Stops every model's engine.
    public func shutdown() async {
        for (_, warmUp) in warmUps { await warmUp.value }
        for (_, load) in loads { _ = try? await load.task.value }
        for (_, drain) in drains { await drain.value }
        for instance in instances.values { await instance.stop() }
        for snapshot in snapshots.values { await snapshot.shutdown() }
        for task in closing { await task.value }
        instances = [:]
        snapshots = [:]
        closing = []
        await http.shutdown()
    }

    // MARK: - Helpers

    static func fileSize(_ path: String) -> Int64 {
        // Resolved first: attributes of a symbolic link are the link's own.
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return ((try? FileManager.default.attributesOfItem(atPath: resolved))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    static func seed(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

}
