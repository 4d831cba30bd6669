import Testing

@testable import ChorusRuntime

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .milliseconds(250))

    @Test func backoffGrowsUpToTheCapWithFullJitter() {
        #expect(policy.delay(afterAttempt: 1, random: 0.999_999)! < .milliseconds(100))
        #expect(policy.delay(afterAttempt: 2, random: 0.5) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 3, random: 0.5) == .milliseconds(125))  // capped at 250 × 0.5
        #expect(policy.delay(afterAttempt: 1, random: 0) == .zero)
        #expect(policy.delay(afterAttempt: 4, random: 0.5) == nil)  // attempts used up
    }

    @Test func retryAfterWinsWhenLongerAndDeadlinesAreRespected() {
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(2), random: 0.5) == .seconds(2))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .milliseconds(1), random: 0.9) == .milliseconds(90))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(2), remaining: .seconds(1), random: 0.5) == nil)
        #expect(policy.delay(afterAttempt: 1, remaining: .milliseconds(80), random: 0.9) == nil)
    }

    struct Flaky: Error { var retriable: Bool }

    @Test func runRetriesOnlyWhatIsRetriable() async throws {
        let quick = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        var attempts: [Int] = []
        let value = try await quick.run(isRetriable: { ($0 as? Flaky)?.retriable == true }) { attempt in
            attempts.append(attempt)
            if attempt < 3 { throw Flaky(retriable: true) }
            return "ok"
        }
        #expect(value == "ok" && attempts == [1, 2, 3])

        attempts = []
        await #expect(throws: Flaky.self) {
            try await quick.run(isRetriable: { ($0 as? Flaky)?.retriable == true }) { attempt in
                attempts.append(attempt)
                throw Flaky(retriable: false)
            }
        }
        #expect(attempts == [1])
    }
}
