/// The pool's bookkeeping: which connections are idle, who waits for one, and closing.
///
/// A value type with no side effects: ``PostgresPool`` keeps it behind a lock, calls one method per
/// event and performs the returned action (resume a waiter, stop the workers) outside the lock.
/// Waiters are served first come, first served: a released connection goes straight to the oldest
/// waiter, so a newcomer never overtakes it.
struct PostgresPoolStateMachine<Waiter, CloseWaiter> {
    enum LeaseFailure: Equatable {
        case poolClosed
        case cancelled
    }

    enum LeaseAction {
        /// Use this connection now.
        case use(connection: Int)
        /// All connections are leased; the waiter was queued.
        case wait
        /// Resume the waiter with this failure.
        case fail(LeaseFailure)
    }

    enum ReleaseAction {
        case none
        /// Resume this waiter with the connection.
        case handOver(Waiter, connection: Int)
        /// The pool is closing and the last lease ended: stop the workers.
        case stopWorkers
    }

    enum CloseAction {
        /// Fail these waiters, then stop the workers.
        case stopWorkers(failing: [Waiter])
        /// Fail these waiters; the workers stop when the last lease ends.
        case waitForLeases(failing: [Waiter])
        /// Already closing: the close waiter was queued.
        case wait
        /// Already closed: resume the close waiter now.
        case alreadyClosed
    }

    private enum State {
        case running
        /// Waiting for leases to end.
        case closing
        /// Waiting for the workers to stop.
        case stopping
        case closed
    }

    private var state = State.running
    /// Idle connections; the most recently released is reused first.
    private var idle: [Int]
    private var waiters: [(id: Int, waiter: Waiter)] = []
    /// Index of the oldest waiter in `waiters` (entries before it are served).
    private var waitersHead = 0
    private var closeWaiters: [CloseWaiter] = []
    private(set) var leasedCount = 0

    init(connectionCount: Int) {
        self.idle = Array((0..<connectionCount).reversed())
    }

    var waitingCount: Int {
        self.waiters.count - self.waitersHead
    }

    /// A lease without waiting, when a connection is idle and nobody waits.
    mutating func leaseIfIdle() -> Int? {
        guard case .running = self.state, self.waitingCount == 0, let connection = self.idle.popLast() else {
            return nil
        }
        self.leasedCount += 1
        return connection
    }

    mutating func lease(id: Int, waiter: Waiter, isCancelled: Bool) -> LeaseAction {
        guard case .running = self.state else {
            return .fail(.poolClosed)
        }
        // Checked under the lock: a cancellation handler that ran before this call found no waiter
        // to remove, but the task's cancelled flag was already set.
        if isCancelled {
            return .fail(.cancelled)
        }
        if self.waitingCount == 0, let connection = self.idle.popLast() {
            self.leasedCount += 1
            return .use(connection: connection)
        }
        self.waiters.append((id, waiter))
        return .wait
    }

    /// Removes a waiting lease whose task was cancelled; nil when it was already served.
    mutating func cancelLease(id: Int) -> Waiter? {
        guard let position = self.waiters[self.waitersHead...].firstIndex(where: { $0.id == id }) else {
            return nil
        }
        return self.waiters.remove(at: position).waiter
    }

    mutating func release(connection: Int) -> ReleaseAction {
        if let next = self.popWaiter() {
            return .handOver(next, connection: connection)
        }
        self.leasedCount -= 1
        self.idle.append(connection)
        if case .closing = self.state, self.leasedCount == 0 {
            self.state = .stopping
            return .stopWorkers
        }
        return .none
    }

    mutating func close(waiter: CloseWaiter) -> CloseAction {
        switch self.state {
        case .running:
            var failing: [Waiter] = []
            while let waiter = self.popWaiter() {
                failing.append(waiter)
            }
            self.closeWaiters.append(waiter)
            if self.leasedCount == 0 {
                self.state = .stopping
                return .stopWorkers(failing: failing)
            }
            self.state = .closing
            return .waitForLeases(failing: failing)
        case .closing, .stopping:
            self.closeWaiters.append(waiter)
            return .wait
        case .closed:
            return .alreadyClosed
        }
    }

    /// All workers stopped: the pool is closed; resume these close waiters.
    mutating func workersStopped() -> [CloseWaiter] {
        self.state = .closed
        defer { self.closeWaiters = [] }
        return self.closeWaiters
    }

    var isClosed: Bool {
        if case .closed = self.state { true } else { false }
    }

    var isRunning: Bool {
        if case .running = self.state { true } else { false }
    }

    private mutating func popWaiter() -> Waiter? {
        guard self.waitersHead < self.waiters.count else {
            return nil
        }
        let waiter = self.waiters[self.waitersHead].waiter
        self.waitersHead += 1
        // Drop served entries once they are the larger part, keeping pops O(1) amortized.
        if self.waitersHead >= 32 && self.waitersHead * 2 >= self.waiters.count {
            self.waiters.removeFirst(self.waitersHead)
            self.waitersHead = 0
        } else if self.waitersHead == self.waiters.count {
            self.waiters.removeAll(keepingCapacity: true)
            self.waitersHead = 0
        }
        return waiter
    }
}
