import Synchronization

/// One lease of one connection: whether it is still valid, and what its statements left behind.
final class ConnectionLease: Sendable {
    private let active = Atomic<Bool>(true)
    private let started = Atomic<Bool>(false)
    private let transactionOpen = Atomic<Bool>(false)

    var isActive: Bool {
        self.active.load(ordering: .acquiring)
    }

    /// True exactly once: for the lease's first statement.
    func takeStart() -> Bool {
        !self.started.exchange(true, ordering: .acquiringAndReleasing)
    }

    func recordTransaction(open: Bool) {
        self.transactionOpen.store(open, ordering: .releasing)
    }

    /// Ends the lease; returns whether its last statement left a transaction open.
    func end() -> Bool {
        self.active.store(false, ordering: .releasing)
        return self.transactionOpen.load(ordering: .acquiring)
    }
}
