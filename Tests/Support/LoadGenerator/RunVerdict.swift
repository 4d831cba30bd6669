/// Whether a run's offered rate was sustained: (nearly) every request answered, and latency at the
/// end of the run no worse than at its start by more than a margin. A queue that grows without bound
/// (consumer lag) shows as latency rising through the run; a system that keeps up shows a flat one.
public struct RunVerdict: Sendable, Equatable, Codable {
    /// Answers received over requests sent.
    public let answeredFraction: Double
    /// Median latency of the first and the last quarter of the requests (by due time), in ms.
    public let firstQuarterP50: Double
    public let lastQuarterP50: Double
    public let sustained: Bool

    /// Judges a run from each request's latency in due order (`nil`: no answer or a failed one).
    ///
    /// Sustained when at least 99% were answered and the last quarter's median latency is at most
    /// 1.5 × the first quarter's plus `slack` (queueing noise on a shared machine).
    public init(latenciesInDueOrder latencies: [Double?], slackMilliseconds slack: Double = 20) {
        let answered = latencies.compactMap { $0 }
        answeredFraction = latencies.isEmpty ? 0 : Double(answered.count) / Double(latencies.count)
        let quarter = Swift.max(1, latencies.count / 4)
        // An unanswered request in the last quarter counts as infinitely late.
        func median(_ slice: ArraySlice<Double?>) -> Double {
            LatencySummary.percentile(slice.map { $0 ?? .infinity }.sorted(), 0.5)
        }
        firstQuarterP50 = median(latencies.prefix(quarter))
        lastQuarterP50 = median(latencies.suffix(quarter))
        sustained = !latencies.isEmpty && answeredFraction >= 0.99 && lastQuarterP50 <= firstQuarterP50 * 1.5 + slack
    }
}
