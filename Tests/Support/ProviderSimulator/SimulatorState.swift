/// The simulator's mutable state: model behaviours, script queues, the custom responder, counters
/// and the seeded random generator.
///
/// A value type behind one `Mutex`: every method is a short synchronous step that returns what to
/// do; sleeping, calling the responder and writing the response happen outside the lock.
struct SimulatorState {
    /// What the next request for a model does, decided under the lock in one step.
    struct Admission: Sendable {
        enum Decision: Sendable, Hashable {
            case answer
            case fail(status: Int, retryAfter: Duration?)
            case hang
            case malformed
            case cutStream
        }

        var decision: Decision
        /// The script step consumed, if any (its fields override the others).
        var step: ScriptStep?
        var behavior: ModelBehavior
        var responder: ProviderSimulator.Responder?
        /// Uniform in -1...1: where the latency falls within `latency ± jitter`.
        var jitterUnit: Double
        /// A number unique to this request, for response ids.
        var sequence: UInt64
    }

    private(set) var behaviors: [String: ModelBehavior] = [:]
    private(set) var scripts: [String: [ScriptStep]] = [:]
    private(set) var responder: ProviderSimulator.Responder?
    private var counters: [String: ModelStats] = [:]
    private var inFlight = 0
    private var peakConcurrency = 0
    private var sequence: UInt64 = 0
    private var random: SplitMix64

    init(seed: UInt64, responder: ProviderSimulator.Responder?) {
        self.random = SplitMix64(seed: seed)
        self.responder = responder
    }

    // MARK: - Requests

    /// A request arrived (before its body is read).
    mutating func enter() {
        inFlight += 1
        peakConcurrency = max(peakConcurrency, inFlight)
    }

    /// A request's answer has been written (or abandoned).
    mutating func leave() {
        inFlight -= 1
    }

    /// A request refused before reaching its model (bad key, bad body).
    mutating func reject(model: String, status: Int) {
        counters[model, default: ModelStats()].requests += 1
        counters[model, default: ModelStats()].responses[status, default: 0] += 1
    }

    /// Takes the model's next script step (or draws an injected error) and counts the outcome.
    mutating func admit(model: String) -> Admission {
        let behavior = behaviors[model] ?? ModelBehavior()
        var step: ScriptStep?
        if var queue = scripts[model], !queue.isEmpty {
            step = queue.removeFirst()
            scripts[model] = queue.isEmpty ? nil : queue
        }
        let decision: Admission.Decision
        switch step?.action {
        case .answer?: decision = .answer
        case .fail(let status, let retryAfter)?: decision = .fail(status: status, retryAfter: retryAfter)
        case .hang?: decision = .hang
        case .malformed?: decision = .malformed
        case .cutStream?: decision = .cutStream
        case nil:
            let injected = behavior.errorRate > 0 && random.nextUnit() < behavior.errorRate
            decision = injected ? .fail(status: behavior.errorStatus, retryAfter: nil) : .answer
        }

        var stats = counters[model] ?? ModelStats()
        stats.requests += 1
        switch decision {
        case .answer: stats.responses[200, default: 0] += 1
        case .fail(let status, _): stats.responses[status, default: 0] += 1
        case .hang: stats.hangs += 1
        case .malformed:
            stats.malformed += 1
            stats.responses[200, default: 0] += 1
        case .cutStream:
            stats.streamsCut += 1
            stats.responses[200, default: 0] += 1
        }
        counters[model] = stats

        sequence &+= 1
        return Admission(
            decision: decision, step: step, behavior: behavior, responder: responder,
            jitterUnit: random.nextUnit() * 2 - 1, sequence: sequence)
    }

    // MARK: - Control

    mutating func setBehavior(_ behavior: ModelBehavior?, for model: String) {
        behaviors[model] = behavior
    }

    /// Appends `steps` to the model's queue; returns the queue's new length.
    mutating func enqueue(_ steps: [ScriptStep], for model: String) -> Int {
        scripts[model, default: []].append(contentsOf: steps)
        return scripts[model]?.count ?? 0
    }

    mutating func clearScript(for model: String) {
        scripts[model] = nil
    }

    mutating func setResponder(_ responder: ProviderSimulator.Responder?) {
        self.responder = responder
    }

    var stats: SimulatorStats {
        SimulatorStats(models: counters, inFlight: inFlight, peakConcurrency: peakConcurrency)
    }

    /// Zeroes the counters; the peak restarts from the requests in flight now.
    mutating func resetStats() {
        counters = [:]
        peakConcurrency = inFlight
    }

    /// Forgets behaviours, scripts and counters (the responder stays).
    mutating func reset() {
        behaviors = [:]
        scripts = [:]
        resetStats()
    }
}

/// A small, fast, seedable generator (Steele, Lea & Flood's SplitMix64), so a run with the same seed
/// and the same request order injects the same errors and jitter.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<1.
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
