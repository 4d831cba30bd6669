/// The producer's shared state: who waits for which delivery report, for queue space, for a flush
/// and for shutdown. A pure value guarded by the producer's lock; methods return what to resume.
struct ProducerStateMachine: Sendable {
    enum Lifecycle: Sendable, Equatable {
        /// Accepting messages.
        case running
        /// Shutdown began: no new messages; outstanding ones are flushed, then purged.
        case shuttingDown
        /// The librdkafka handle is destroyed.
        case shutDown
    }

    /// A message enqueued in librdkafka whose delivery report has not arrived yet.
    struct Pending: Sendable {
        var batch: DeliveryBatch
        var index: Int
    }

    struct FlushRequest: Sendable {
        var timeout: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private(set) var lifecycle = Lifecycle.running
    private var nextTicket: UInt64 = 1
    private var pending: [UInt64: Pending] = [:]
    /// Grows with every delivery report: a sender that found the queue full waits for it to change.
    private(set) var deliveryEpoch: UInt64 = 0
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var flushRequests: [FlushRequest] = []
    private var shutdownRequested = false
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []

    var pendingCount: Int { pending.count }

    // MARK: Sending

    /// Registers a message about to be enqueued; its ticket is the per-message opaque that comes back
    /// with the delivery report. `nil` once shutdown began.
    mutating func register(_ batch: DeliveryBatch, index: Int) -> UInt64? {
        guard lifecycle == .running else { return nil }
        let ticket = nextTicket
        nextTicket += 1
        pending[ticket] = Pending(batch: batch, index: index)
        return ticket
    }

    /// The message of `ticket` was not enqueued after all.
    mutating func unregister(_ ticket: UInt64) {
        pending[ticket] = nil
    }

    /// A delivery report arrived. Returns whom it belongs to and the senders waiting for queue space.
    mutating func delivered(_ ticket: UInt64) -> (Pending?, [CheckedContinuation<Void, Never>]) {
        deliveryEpoch &+= 1
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        return (pending.removeValue(forKey: ticket), waiters)
    }

    /// A sender found librdkafka's queue full at `epoch`. Returns false if a delivery report has
    /// freed space since (retry at once); true if it is now waiting.
    mutating func waitForSpace(after epoch: UInt64, _ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard epoch == deliveryEpoch, lifecycle == .running else { return false }
        spaceWaiters.append(continuation)
        return true
    }

    // MARK: Commands for the poll thread

    /// Returns false if the producer is already shutting down.
    mutating func requestFlush(_ request: FlushRequest) -> Bool {
        guard lifecycle == .running, !shutdownRequested else { return false }
        flushRequests.append(request)
        return true
    }

    /// Returns false if the producer is already shut down (resume `continuation` at once).
    mutating func requestShutdown(_ continuation: CheckedContinuation<Void, Never>?) -> Bool {
        guard lifecycle != .shutDown else { return false }
        shutdownRequested = true
        if let continuation { shutdownWaiters.append(continuation) }
        return true
    }

    /// Registers a task waiting for the shutdown (by anyone); false if already shut down.
    mutating func waitForShutdown(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard lifecycle != .shutDown else { return false }
        shutdownWaiters.append(continuation)
        return true
    }

    /// What the poll thread should do after a poll: flushes to run, and whether to shut down.
    mutating func takeCommands() -> (flushes: [FlushRequest], shutdown: Bool) {
        let flushes = flushRequests
        flushRequests.removeAll()
        return (flushes, shutdownRequested && lifecycle == .running)
    }

    /// Shutdown begins: new sends fail. Returns the senders waiting for space, who then retry and fail.
    mutating func beginShutdown() -> [CheckedContinuation<Void, Never>] {
        lifecycle = .shuttingDown
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        return waiters
    }

    /// The handle is about to be destroyed: hands back everyone still waiting.
    mutating func finishShutdown() -> (
        pending: [Pending], flushes: [FlushRequest], shutdownWaiters: [CheckedContinuation<Void, Never>]
    ) {
        lifecycle = .shutDown
        defer {
            pending.removeAll()
            flushRequests.removeAll()
            shutdownWaiters.removeAll()
        }
        return (Array(pending.values), flushRequests, shutdownWaiters)
    }
}
