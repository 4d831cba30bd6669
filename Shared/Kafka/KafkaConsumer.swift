import Logging
import ServiceLifecycle

/// A consumer-group member that hands messages out as an `AsyncSequence` and commits, at least once,
/// only what the application marked processed.
///
/// A dedicated thread polls librdkafka continuously and hands each message to a task iterating
/// ``messages``. Messages may be processed concurrently; call ``markProcessed(_:)`` once a message's
/// effects are committed. Per partition, the offset stored for commit never passes a message that is
/// not processed yet; stored offsets are committed every `autoCommitInterval`, by ``commit()``, on
/// rebalance and on close.
///
/// If the application falls behind, received messages wait in a bounded buffer: above the
/// configuration's `bufferHighWatermark` the consumer pauses fetching, and resumes once the buffer
/// drained to `bufferLowWatermark`. Polling never stops, so slow processing does not make the
/// consumer leave its group.
///
/// Run it as a `Service` in a `ServiceGroup`, listed before the service that processes its messages:
/// graceful shutdown runs in reverse order, so processing stops first and the consumer then commits
/// what was marked and leaves the group. Or call ``close()`` yourself.
///
/// - Important: The consumer holds a thread and broker connections until closed; dropping the last
///   reference also closes it.
public final class KafkaConsumer: Service, Sendable {
    private let core: ConsumerCore

    /// Creates the consumer, subscribes, and starts its poll thread (joining the group takes about
    /// half the session timeout). Fails on invalid settings or an old librdkafka.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        core = try ConsumerCore(configuration: configuration, logger: logger)
        core.startPollThread()
    }

    deinit {
        core.requestClose(continuation: nil)
    }

    /// The messages of the assigned partitions, in order per partition.
    ///
    /// Ends when the consumer closes; throws if librdkafka fails fatally. Several tasks may iterate
    /// it at once; each message goes to one of them. Messages of partitions revoked by a rebalance
    /// are dropped from the buffer (their new owner gets them).
    public var messages: KafkaMessageSequence { KafkaMessageSequence(core: core) }

    /// Marks a message processed: its offset becomes committable once every earlier message of its
    /// partition (since the partition was assigned) is processed too.
    ///
    /// Call it only after the message's effects are durable. Messages of partitions revoked since they
    /// were handed out, of another consumer, or made by hand are ignored.
    public func markProcessed(_ message: KafkaMessage) {
        core.markProcessed(message)
    }

    /// Commits the offsets stored so far, and waits for the broker to confirm.
    public func commit() async throws {
        try await core.commit()
    }

    /// Stops handing out messages, commits stored offsets, leaves the group and destroys the handle.
    ///
    /// Messages marked processed before this call are committed. Safe to call more than once.
    /// - Throws: the fatal error that closed the consumer, if one did.
    public func close() async throws {
        await core.close()
        if let failure = core.failure { throw failure }
    }

    /// Runs until graceful shutdown or cancellation, then closes the consumer.
    ///
    /// - Throws: the fatal error that closed the consumer, if one did.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await core.close(requesting: false)
        } onCancelOrGracefulShutdown: { [core] in
            core.requestClose(continuation: nil)
        }
        try await close()
    }

    /// The partitions currently assigned to this member.
    var assignment: Set<TopicPartition> { core.assignment }

    /// Whether fetching is paused because the application is behind.
    var isFetchPaused: Bool { core.isFetchPaused }
}

/// The messages of a ``KafkaConsumer``.
public struct KafkaMessageSequence: AsyncSequence, Sendable {
    public typealias Element = KafkaMessage
    let core: ConsumerCore

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(core: core)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: ConsumerCore

        /// The next message; nil once the consumer closed or the calling task is cancelled.
        public mutating func next() async throws -> KafkaMessage? {
            try await core.nextMessage()
        }
    }
}
