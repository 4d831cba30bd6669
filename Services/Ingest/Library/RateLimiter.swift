/// Per-key token buckets: `rate` requests per second on average, bursts up to `burst`.
///
/// A pure value type (the clock is injected): ``admit(_:nowNanos:)`` either takes a token or says
/// how long until one is free, which the front door sends as `Retry-After`.
public struct RateLimiter: Sendable {
    public let rate: Double
    public let burst: Double
    private var buckets: [String: (tokens: Double, atNanos: UInt64)] = [:]

    public init(rate: Double, burst: Int) {
        precondition(rate > 0 && burst >= 1, "a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = Double(burst)
    }

    /// nil when the request may go ahead; else whole seconds until a token is free (at least 1).
    public mutating func admit(_ key: String, nowNanos: UInt64) -> Int? {
        var bucket = buckets[key] ?? (burst, nowNanos)
        let elapsed = Double(nowNanos &- bucket.atNanos) / 1e9
        bucket.tokens = min(burst, bucket.tokens + max(0, elapsed) * rate)
        bucket.atNanos = nowNanos
        defer { buckets[key] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        let wait = (1 - bucket.tokens) / rate
        return max(1, Int(wait.rounded(.up)))
    }

    /// Forgets buckets that are full again (idle keys), so memory follows active keys only.
    public mutating func prune(nowNanos: UInt64) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + Double(nowNanos &- bucket.atNanos) / 1e9 * rate < burst
        }
    }

    var trackedKeys: Int { buckets.count }
}
