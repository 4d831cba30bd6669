import Testing

@testable import ProviderWorker

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresAndProbesAfterTheWindow() {
        var breaker = CircuitBreaker(failureThreshold: 3, openDuration: .seconds(10))
        for _ in 0..<2 { breaker.recordFailure(nowMs: 0) }
        #expect(breaker.allow(nowMs: 0))
        breaker.recordSuccess()  // a success resets the count
        for _ in 0..<2 { breaker.recordFailure(nowMs: 0) }
        #expect(breaker.state == .closed(consecutiveFailures: 2))
        breaker.recordFailure(nowMs: 1000)
        #expect(breaker.state == .open(untilMs: 11_000))
        #expect(!breaker.allow(nowMs: 10_999))
        #expect(breaker.allow(nowMs: 11_000))  // the probe
        #expect(!breaker.allow(nowMs: 11_001))  // only one probe at a time
        breaker.recordFailure(nowMs: 12_000)
        #expect(breaker.state == .open(untilMs: 22_000))
        #expect(breaker.allow(nowMs: 22_000))
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(breaker.allow(nowMs: 22_001))
    }
}
