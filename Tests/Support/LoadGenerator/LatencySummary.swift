/// Percentiles of a set of latencies in milliseconds (nearest rank: every reported value was observed).
public struct LatencySummary: Sendable, Equatable, Codable {
    public let count: Int
    public let p50: Double
    public let p90: Double
    public let p99: Double
    public let max: Double

    /// The summary of `milliseconds` (zeros when empty).
    public init(milliseconds: [Double]) {
        let sorted = milliseconds.sorted()
        count = sorted.count
        p50 = Self.percentile(sorted, 0.50)
        p90 = Self.percentile(sorted, 0.90)
        p99 = Self.percentile(sorted, 0.99)
        max = sorted.last ?? 0
    }

    /// The nearest-rank percentile `q` (0...1) of ascending `sorted` values: the smallest value with at
    /// least `q` of the values at or below it. Zero for no values.
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(sorted.count, Swift.max(1, rank)) - 1]
    }
}
