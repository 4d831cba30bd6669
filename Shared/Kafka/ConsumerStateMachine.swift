/// The consumer's shared state: the hand-over buffer and the tasks waiting on it, fetch back-pressure,
/// per-partition progress, and requests for the poll thread. A pure value guarded by the consumer's
/// lock; methods return what to do, and the caller does it outside the lock.
///
/// Back-pressure: the poll thread never stops polling (librdkafka would otherwise leave the group
/// after `max.poll.interval.ms`). When more than `highWatermark` received messages wait in the
/// buffer, it pauses fetching for the whole assignment; once the buffer drained to `lowWatermark`
/// it resumes. Memory is so bounded by the high watermark plus what librdkafka had already fetched.
struct ConsumerStateMachine: Sendable {
    typealias MessageContinuation = CheckedContinuation<KafkaMessage?, any Error>

    enum Lifecycle: Sendable, Equatable {
        /// Handing out messages.
        case running
        /// Close began: no more messages are handed out; stored offsets are still accepted.
        case closing
        /// The librdkafka handle is destroyed.
        case closed
    }

    let consumerID: UInt64
    let highWatermark: Int
    let lowWatermark: Int

    private(set) var lifecycle = Lifecycle.running
    private var buffer = MessageBuffer()
    private var waiters: [(id: UInt64, continuation: MessageContinuation)] = []
    /// Whether fetching is paused because the buffer passed the high watermark.
    private(set) var isPaused = false
    private var resumeRequested = false
    private(set) var tracker = OffsetTracker()
    private var pendingStores: [TopicPartition: Int64] = [:]
    private var commitRequests: [CheckedContinuation<Void, any Error>] = []
    private var closeRequested = false
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private(set) var failure: KafkaError?

    init(consumerID: UInt64, highWatermark: Int, lowWatermark: Int) {
        self.consumerID = consumerID
        self.highWatermark = max(1, highWatermark)
        self.lowWatermark = min(max(0, lowWatermark), self.highWatermark - 1)
    }

    var bufferedCount: Int { buffer.count }

    // MARK: Poll thread: messages

    enum ReceiveAction {
        /// Resume a waiting task with the message.
        case handOver(MessageContinuation, KafkaMessage)
        /// The message waits in the buffer.
        case buffered
        /// The message waits in the buffer, which just reached the high watermark: pause fetching.
        case bufferedPauseFetching
        /// Drop the message: its partition is no longer assigned, or the consumer is closing.
        case discard
    }

    mutating func receive(_ message: KafkaMessage) -> ReceiveAction {
        guard lifecycle == .running else { return .discard }
        let topicPartition = TopicPartition(topic: message.topic, partition: message.partition)
        guard let generation = tracker.handOut(topicPartition, offset: message.offset) else { return .discard }
        var message = message
        message.receipt = KafkaMessage.Receipt(consumerID: consumerID, generation: generation)
        if !waiters.isEmpty {
            return .handOver(waiters.removeFirst().continuation, message)
        }
        buffer.append(message)
        if !isPaused && buffer.count >= highWatermark {
            isPaused = true
            return .bufferedPauseFetching
        }
        return .buffered
    }

    // MARK: Tasks taking messages

    enum NextAction {
        /// Return this message. If `wakePoller`, the buffer fell to the low watermark while paused:
        /// wake the poll thread so that it resumes fetching.
        case message(KafkaMessage, wakePoller: Bool)
        /// The sequence ended: the consumer is closing or closed.
        case finished
        /// The consumer failed.
        case failed(KafkaError)
        /// Nothing available: wait.
        case wait
    }

    mutating func next() -> NextAction {
        if let message = buffer.popFirst() {
            var wakePoller = false
            if isPaused && !resumeRequested && buffer.count <= lowWatermark {
                resumeRequested = true
                wakePoller = true
            }
            return .message(message, wakePoller: wakePoller)
        }
        if let failure { return .failed(failure) }
        return lifecycle == .running ? .wait : .finished
    }

    /// Same as ``next()``, but a `.wait` parks `continuation` under `id` instead of returning.
    /// Returns nil when it parked.
    mutating func next(parking continuation: MessageContinuation, id: UInt64) -> NextAction? {
        let action = next()
        guard case .wait = action else { return action }
        waiters.append((id, continuation))
        return nil
    }

    /// The waiting task `id` was cancelled: returns its continuation if it was still waiting.
    mutating func cancelWaiter(_ id: UInt64) -> MessageContinuation? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).continuation
    }

    // MARK: Offsets

    /// Records that `message` is processed; a grown store offset is kept for the poll thread to store.
    /// Messages of another consumer, of a revoked assignment, or made by hand are ignored.
    mutating func markProcessed(_ message: KafkaMessage) {
        guard lifecycle != .closed, let receipt = message.receipt, receipt.consumerID == consumerID else { return }
        let topicPartition = TopicPartition(topic: message.topic, partition: message.partition)
        if let offset = tracker.markProcessed(topicPartition, offset: message.offset, generation: receipt.generation) {
            pendingStores[topicPartition] = offset
        }
    }

    /// Store offsets grown since the last call, for `rd_kafka_offsets_store`.
    mutating func takePendingStores() -> [(TopicPartition, Int64)] {
        guard !pendingStores.isEmpty else { return [] }
        defer { pendingStores.removeAll(keepingCapacity: true) }
        return pendingStores.map { ($0.key, $0.value) }
    }

    // MARK: Rebalances (poll thread, inside librdkafka's rebalance callback)

    /// Partitions were assigned. Returns whether fetching is paused (the new partitions must be too).
    mutating func assigned(_ partitions: [TopicPartition]) -> Bool {
        tracker.assign(partitions)
        return isPaused
    }

    /// Partitions are being revoked (`nil`: all of them). Returns the store offsets of those partitions
    /// still to be stored before they are given up; drops their buffered messages.
    mutating func revoking(_ partitions: [TopicPartition]?) -> [(TopicPartition, Int64)] {
        let revoked = partitions.map(Set.init) ?? tracker.assignment
        let stores = pendingStores.filter { revoked.contains($0.key) }.map { ($0.key, $0.value) }
        for topicPartition in revoked { pendingStores[topicPartition] = nil }
        tracker.revoke(revoked)
        buffer.removeAll(in: revoked)
        return stores
    }

    // MARK: Poll thread: requests

    struct PollWork {
        var resumeFetching = false
        var stores: [(TopicPartition, Int64)] = []
        var commits: [CheckedContinuation<Void, any Error>] = []
        /// Close now; the waiting tasks listed are to be resumed with the end of the sequence.
        var close: [MessageContinuation]? = nil
    }

    /// What the poll thread should do after each poll.
    mutating func takePollWork() -> PollWork {
        var work = PollWork()
        if isPaused && buffer.count <= lowWatermark {
            isPaused = false
            resumeRequested = false
            work.resumeFetching = true
        }
        work.stores = takePendingStores()
        if lifecycle == .running {
            work.commits = commitRequests
            commitRequests.removeAll()
        }
        if closeRequested && lifecycle == .running {
            lifecycle = .closing
            buffer.removeAll()
            work.close = waiters.map(\.continuation)
            waiters.removeAll()
        }
        return work
    }

    /// Returns false if the consumer is closing or closed.
    mutating func requestCommit(_ continuation: CheckedContinuation<Void, any Error>) -> Bool {
        guard lifecycle == .running, !closeRequested else { return false }
        commitRequests.append(continuation)
        return true
    }

    /// Returns whether the poll thread must be woken; false with the consumer already closed
    /// (resume `continuation` at once).
    mutating func requestClose(_ continuation: CheckedContinuation<Void, Never>?) -> (accepted: Bool, wakePoller: Bool) {
        guard lifecycle != .closed else { return (false, false) }
        if let continuation { closeWaiters.append(continuation) }
        let wake = !closeRequested && lifecycle == .running
        closeRequested = true
        return (true, wake)
    }

    /// Registers a task waiting for the close (by anyone); false if already closed.
    mutating func waitForClose(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard lifecycle != .closed else { return false }
        closeWaiters.append(continuation)
        return true
    }

    /// librdkafka reported a fatal error: the sequence ends with it and the consumer closes.
    mutating func fail(_ error: KafkaError) {
        if failure == nil { failure = error }
        closeRequested = true
    }

    /// The handle is about to be destroyed: hands back everyone still waiting.
    mutating func finishClosing() -> (
        commits: [CheckedContinuation<Void, any Error>], closeWaiters: [CheckedContinuation<Void, Never>],
        messageWaiters: [MessageContinuation]
    ) {
        lifecycle = .closed
        defer {
            commitRequests.removeAll()
            closeWaiters.removeAll()
            waiters.removeAll()
            buffer.removeAll()
        }
        return (commitRequests, closeWaiters, waiters.map(\.continuation))
    }
}
