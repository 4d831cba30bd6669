import Synchronization

/// A bound on the requests a front door holds at once: past it, a request is refused at once (503)
/// instead of waiting, so an overload costs the caller a retry, never the service its memory.
public final class InFlightGate: Sendable {
    public let limit: Int
    private let count = Atomic<Int>(0)

    public init(limit: Int) {
        precondition(limit > 0, "an in-flight limit must be positive")
        self.limit = limit
    }

    /// Takes a place if one is free; the caller must ``leave()`` when done.
    public func enter() -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    public func leave() {
        count.subtract(1, ordering: .acquiringAndReleasing)
    }

    /// Requests held now.
    public var inFlight: Int { count.load(ordering: .relaxed) }
}
