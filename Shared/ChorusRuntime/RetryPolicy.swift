/// When to try again, shared by every stage: provider calls, database writes, Kafka produces.
///
/// Exponential backoff with full jitter (the delay is uniform in [0, min(cap, base × 2^attempt)]),
/// a server's Retry-After taking precedence when longer, and never a wait that would end past the
/// caller's deadline.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5)) {
        precondition(maxAttempts >= 1, "a retry policy makes at least one attempt")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed, or nil to stop.
    ///
    /// - Parameters:
    ///   - retryAfter: what the server asked for, if anything.
    ///   - remaining: time left before the caller's deadline; nil for none.
    ///   - random: a number in [0, 1) (injected for tests).
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil, remaining: Duration? = nil, random: Double)
        -> Duration?
    {
        guard attempt < maxAttempts else { return nil }
        let exponent = min(attempt - 1, 30)
        let ceiling = min(maxDelay, baseDelay * (1 << exponent))
        var wait = ceiling * max(0, min(random, 1))
        if let retryAfter, retryAfter > wait { wait = retryAfter }
        if let remaining, wait >= remaining { return nil }
        return wait
    }

    /// Runs `operation` until it succeeds, `isRetriable` says no, attempts run out or the deadline
    /// would pass. Rethrows the last error.
    public func run<T>(
        deadline: ContinuousClock.Instant? = nil,
        isRetriable: (any Error) -> Bool,
        retryAfter: (any Error) -> Duration? = { _ in nil },
        _ operation: (_ attempt: Int) async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation(attempt)
            } catch {
                let remaining = deadline.map { $0 - ContinuousClock.now }
                guard isRetriable(error), !(error is CancellationError),
                    let wait = delay(afterAttempt: attempt, retryAfter: retryAfter(error), remaining: remaining,
                                     random: Double.random(in: 0..<1))
                else { throw error }
                try await Task.sleep(for: wait)
                attempt += 1
            }
        }
    }
}
