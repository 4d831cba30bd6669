/// When each request of an open-loop run is due: evenly spaced at a fixed rate, bounded by a duration
/// and a request count.
///
/// Open loop means a request is sent when it is due whatever happened to the earlier ones, so a slow
/// system under test meets the same offered load as a fast one (no coordinated omission): latency is
/// measured from the due time, not from when the sender got around to it.
public struct ArrivalSchedule: Sendable, Equatable {
    /// Requests per second.
    public let rate: Double
    /// How many requests the run sends.
    public let count: Int

    /// The schedule of `rate` requests per second for `duration`, at most `maxRequests` of them.
    public init(rate: Double, duration: Duration, maxRequests: Int) {
        precondition(rate > 0, "the rate must be positive")
        self.rate = rate
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        self.count = max(0, min(maxRequests, Int((seconds * rate).rounded(.down))))
    }

    /// How long after the start request `index` (from 0) is due.
    public func offset(of index: Int) -> Duration {
        .nanoseconds(Int64((Double(index) / rate * 1e9).rounded()))
    }

    /// The time from the first due request to the last.
    public var span: Duration { count > 0 ? offset(of: count - 1) : .zero }
}
