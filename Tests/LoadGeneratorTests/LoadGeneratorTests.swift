import LoadGenerator
import Testing

@Suite struct LoadGeneratorTests {
    @Test func scheduleIsEvenlySpacedAndBounded() {
        let schedule = ArrivalSchedule(rate: 200, duration: .seconds(2), maxRequests: 10_000)
        #expect(schedule.count == 400)
        #expect(schedule.offset(of: 0) == .zero)
        #expect(schedule.offset(of: 1) == .milliseconds(5))
        #expect(schedule.offset(of: 399) == .milliseconds(1995))
        #expect(ArrivalSchedule(rate: 200, duration: .seconds(2), maxRequests: 50).count == 50)
        #expect(ArrivalSchedule(rate: 3, duration: .milliseconds(999), maxRequests: 10).count == 2)
    }

    @Test func percentilesAreNearestRank() {
        let summary = LatencySummary(milliseconds: (1...100).map(Double.init).reversed())
        #expect(summary.p50 == 50)
        #expect(summary.p90 == 90)
        #expect(summary.p99 == 99)
        #expect(summary.max == 100)
        #expect(LatencySummary.percentile([7], 0.99) == 7)
        #expect(LatencySummary(milliseconds: []).p99 == 0)
    }

    @Test func risingLatencyOrLostAnswersAreNotSustained() {
        let flat = RunVerdict(latenciesInDueOrder: Array(repeating: 100, count: 100))
        #expect(flat.sustained)
        let rising = RunVerdict(latenciesInDueOrder: (0..<100).map { Double(100 + 10 * $0) })
        #expect(!rising.sustained)
        let lossy = RunVerdict(latenciesInDueOrder: Array(repeating: 100, count: 98) + [nil, nil])
        #expect(lossy.answeredFraction == 0.98)
        #expect(!lossy.sustained)
    }
}
