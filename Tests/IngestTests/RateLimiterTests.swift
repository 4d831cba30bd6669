import Testing

@testable import Ingest

@Suite struct RateLimiterTests {
    @Test func burstThenSteadyRateWithRetryAfter() {
        var limiter = RateLimiter(rate: 2, burst: 3)
        let t0: UInt64 = 1_000_000_000
        for _ in 0..<3 { #expect(limiter.admit("k", nowNanos: t0) == nil) }  // the burst
        let refused = limiter.admit("k", nowNanos: t0)
        #expect(refused == 1)  // one token needs half a second: Retry-After rounds up to 1 s
        let later = limiter.admit("k", nowNanos: t0 + 500_000_000)
        #expect(later == nil)  // half a second at 2/s refilled one token
        let other = limiter.admit("other", nowNanos: t0)
        #expect(other == nil)  // buckets are per key
    }

    @Test func idleKeysArePruned() {
        var limiter = RateLimiter(rate: 10, burst: 5)
        _ = limiter.admit("a", nowNanos: 0)
        _ = limiter.admit("b", nowNanos: 0)
        limiter.prune(nowNanos: 0)
        #expect(limiter.trackedKeys == 2)
        limiter.prune(nowNanos: 10_000_000_000)
        #expect(limiter.trackedKeys == 0)
    }
}

@Suite struct RequestCounterTests {
    @Test func routesAreTheFrontDoorsOwnAndEverythingElseIsOther() {
        #expect(RequestCounter.route(of: "/v1/chat/completions") == "/v1/chat/completions")
        #expect(RequestCounter.route(of: "/v1/requests/req-123") == "/v1/requests/{id}")
        #expect(RequestCounter.route(of: "/metrics") == "/metrics")
        // A scan of random paths must not create a metric per path.
        #expect(RequestCounter.route(of: "/wp-admin/\(UInt64.random(in: 0...UInt64.max))") == "other")
        #expect(RequestCounter.route(of: "/v1/chat/completions/x") == "other")
    }
}

