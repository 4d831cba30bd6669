/// A per-provider circuit breaker, as a pure state machine with an injected clock.
///
/// Closed: calls flow; `failureThreshold` consecutive retriable failures open it. Open: calls fail
/// fast (the worker fails over to the next provider without waiting on a dead one) for
/// `openDuration`. Then half-open: one probe call is let through; its success closes the breaker,
/// its failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(untilMs: Int64)
        case halfOpen(probeInFlight: Bool)
    }

    public let failureThreshold: Int
    public let openDurationMs: Int64
    public private(set) var state: State = .closed(consecutiveFailures: 0)

    public init(failureThreshold: Int = 5, openDuration: Duration = .seconds(10)) {
        self.failureThreshold = failureThreshold
        let (seconds, attoseconds) = openDuration.components
        self.openDurationMs = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whether a call may go to the provider now. In half-open, only the first caller gets through.
    public mutating func allow(nowMs: Int64) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard nowMs >= until else { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        case .halfOpen(let probeInFlight):
            if probeInFlight { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed(consecutiveFailures: 0)
    }

    /// Only failures that say the provider is unwell count (5xx, timeouts, 429); a 400 does not.
    public mutating func recordFailure(nowMs: Int64) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(untilMs: nowMs + openDurationMs) : .closed(consecutiveFailures: failures + 1)
        case .halfOpen, .open:
            state = .open(untilMs: nowMs + openDurationMs)
        }
    }
}
