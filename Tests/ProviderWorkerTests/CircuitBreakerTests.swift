import Testing

@testable import ProviderWorker

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresAndProbesAfterTheWindow() {
        var breaker = CircuitBreaker(failureThreshold: 3, openDuration: .seconds(10))
        for _ in 0..<2 { breaker.recordFailure(nowMs: 0) }
        let allowed0 = breaker.allow(nowMs: 0)
        #expect(allowed0)
        breaker.recordSuccess()  // a success resets the count
        for _ in 0..<2 { breaker.recordFailure(nowMs: 0) }
        #expect(breaker.state == .closed(consecutiveFailures: 2))
        breaker.recordFailure(nowMs: 1000)
        #expect(breaker.state == .open(untilMs: 11_000))
        let allowed10999 = breaker.allow(nowMs: 10_999)
        #expect(!allowed10999)
        let allowed11000 = breaker.allow(nowMs: 11_000)
        #expect(allowed11000)  // the probe
        let allowed11001 = breaker.allow(nowMs: 11_001)
        #expect(!allowed11001)  // only one probe at a time
        breaker.recordFailure(nowMs: 12_000)
        #expect(breaker.state == .open(untilMs: 22_000))
        let allowed22000 = breaker.allow(nowMs: 22_000)
        #expect(allowed22000)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        let allowed22001 = breaker.allow(nowMs: 22_001)
        #expect(allowed22001)
    }
}
