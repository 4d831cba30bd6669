/// Where a model starts from when a call needs it.
public enum StartTier: String, Sendable, Hashable, CaseIterable {
    /// Loaded and serving: no cold start.
    case warm
    /// Unloaded, but its weights are still mapped and resident and its prefix's KV state is kept: only
    /// the context is created and the prefix restored.
    case snapshot
    /// Nothing in memory: the GGUF file is mapped and parsed, the context created, the prefix decoded.
    case disk
}

/// The lifecycle of a host's local models as a value-type state machine, with memory accounting and
/// eviction: unloaded → loading → warm → draining → unloaded.
///
/// The host actor asks it what to do and carries out the returned actions (loading, unloading,
/// dropping snapshots); every decision is testable here with an injected clock.
///
/// Rules:
/// - A call for an unloaded model starts its load (from the snapshot tier when one is kept) if memory
///   allows, after evicting what must go: snapshots first, then idle warm models, least recently used
///   first. A busy model (a call in flight or a load under way) is never evicted; when only busy models
///   stand in the way the call waits for memory.
/// - A warm model idle for its idle window is drained and unloaded, unless it must stay warm
///   (`minWarm`); its snapshot is kept while the budget allows.
struct ModelFleet {
    /// A model's fixed facts.
    struct Spec: Equatable {
        var idleWindow: Duration
        var minWarm: Int
        /// Bytes the model holds when warm (weights, KV cache, buffers): an estimate until it has loaded.
        var warmBytes: Int64
        /// Bytes a kept snapshot holds (resident weights and the prefix state).
        var snapshotBytes: Int64
    }

    enum Phase: Equatable {
        case unloaded
        case loading(StartTier)
        case warm
        case draining
    }

    struct Model: Equatable {
        var spec: Spec
        var phase: Phase = .unloaded
        /// Whether a snapshot is kept (meaningful while unloaded or loading from it).
        var hasSnapshot = false
        /// Calls holding the model (in flight or waiting for its load).
        var holders = 0
        var lastUsed: ContinuousClock.Instant
    }

    /// What a call must do to get its model.
    enum Acquisition: Equatable {
        /// Warm: run now.
        case ready
        /// A load is under way: wait for it.
        case awaitLoad
        /// Start a load from `tier`, after unloading the idle warm models in `unload` and dropping the
        /// snapshots in `dropSnapshots`.
        case load(StartTier, unload: [String], dropSnapshots: [String])
        /// The model is being unloaded: wait for that, then ask again.
        case awaitDrain
        /// Busy models fill the budget: wait until a call finishes, then ask again.
        case awaitMemory
        /// Not a model of this host.
        case unknown
    }

    private(set) var models: [String: Model]
    /// The most bytes the models may hold together; `nil` means no limit.
    let budget: Int64?

    init(specs: [String: Spec], budget: Int64?, now: ContinuousClock.Instant) {
        models = specs.mapValues { Model(spec: $0, lastUsed: now) }
        self.budget = budget
    }

    /// Bytes held now: warm, loading and draining models at their warm size, kept snapshots at theirs.
    var residentBytes: Int64 {
        models.values.reduce(0) { total, model in
            switch model.phase {
            case .warm, .loading, .draining: total + model.spec.warmBytes
            case .unloaded: total + (model.hasSnapshot ? model.spec.snapshotBytes : 0)
            }
        }
    }

    // MARK: - Calls

    mutating func acquire(_ id: String, now: ContinuousClock.Instant) -> Acquisition {
        guard var model = models[id] else { return .unknown }
        switch model.phase {
        case .warm:
            model.holders += 1
            model.lastUsed = now
            models[id] = model
            return .ready
        case .loading:
            model.holders += 1
            models[id] = model
            return .awaitLoad
        case .draining:
            return .awaitDrain
        case .unloaded:
            let tier: StartTier = model.hasSnapshot ? .snapshot : .disk
            // Its own snapshot turns into part of the warm model.
            let needed = model.spec.warmBytes - (model.hasSnapshot ? model.spec.snapshotBytes : 0)
            guard let victims = evictions(toFree: needed, sparing: id) else { return .awaitMemory }
            for victim in victims.dropSnapshots { models[victim]?.hasSnapshot = false }
            for victim in victims.unload { models[victim]?.phase = .draining }
            model.phase = .loading(tier)
            model.holders += 1
            model.lastUsed = now
            models[id] = model
            return .load(tier, unload: victims.unload, dropSnapshots: victims.dropSnapshots)
        }
    }

    /// What to evict so that `needed` more bytes fit, or `nil` when busy models stand in the way.
    private func evictions(toFree needed: Int64, sparing id: String) -> (unload: [String], dropSnapshots: [String])? {
        guard let budget else { return ([], []) }
        var excess = residentBytes + needed - budget
        guard excess > 0 else { return ([], []) }
        var dropSnapshots: [String] = []
        var unload: [String] = []
        let byAge = models.filter { $0.key != id }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        for (other, model) in byAge where excess > 0 && model.phase == .unloaded && model.hasSnapshot {
            dropSnapshots.append(other)
            excess -= model.spec.snapshotBytes
        }
        for (other, model) in byAge where excess > 0 && model.phase == .warm && model.holders == 0 {
            unload.append(other)
            excess -= model.spec.warmBytes
        }
        return excess > 0 ? nil : (unload, dropSnapshots)
    }

    /// A load finished; `warmBytes` and `snapshotBytes` are what the loaded model actually holds.
    mutating func loaded(_ id: String, warmBytes: Int64, snapshotBytes: Int64) {
        guard var model = models[id] else { return }
        model.phase = .warm
        model.hasSnapshot = false
        model.spec.warmBytes = warmBytes
        model.spec.snapshotBytes = snapshotBytes
        models[id] = model
    }

    /// A load failed: its waiting calls fail with it; the next call tries again from disk.
    mutating func loadFailed(_ id: String) {
        guard var model = models[id] else { return }
        model.phase = .unloaded
        model.hasSnapshot = false
        model.holders = 0
        models[id] = model
    }

    /// A call (or a call that waited for a failed load) is done with its model.
    mutating func release(_ id: String, now: ContinuousClock.Instant) {
        guard var model = models[id] else { return }
        model.holders = max(0, model.holders - 1)
        model.lastUsed = now
        models[id] = model
    }

    // MARK: - Idle lifecycle

    /// Models to drain now: warm, unheld, idle for their window, and not required warm.
    mutating func expired(now: ContinuousClock.Instant) -> [String] {
        var expired: [String] = []
        for (id, model) in models
        where model.phase == .warm && model.holders == 0 && model.spec.minWarm == 0
            && now - model.lastUsed >= model.spec.idleWindow
        {
            models[id]?.phase = .draining
            expired.append(id)
        }
        return expired.sorted()
    }

    /// Models that must be warm but are not (to load at start and after failures).
    var belowMinimum: [String] {
        models.filter { $0.value.spec.minWarm > 0 && $0.value.phase == .unloaded }.keys.sorted()
    }

    /// A drained model is unloaded. Its snapshot is kept when `snapshotAvailable` and the budget has room.
    /// - Returns: Whether the snapshot is kept.
    mutating func drained(_ id: String, snapshotAvailable: Bool) -> Bool {
        guard var model = models[id] else { return false }
        model.phase = .unloaded
        model.hasSnapshot = false
        models[id] = model
        guard snapshotAvailable else { return false }
        if let budget, residentBytes + model.spec.snapshotBytes > budget { return false }
        models[id]?.hasSnapshot = true
        return true
    }

    /// Forgets a snapshot (for example when its memory is wanted by the operating system).
    mutating func dropSnapshot(_ id: String) {
        models[id]?.hasSnapshot = false
    }
}
