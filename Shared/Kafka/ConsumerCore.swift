import CRdKafka
import Foundation
import Logging
import Synchronization

// MARK: - Callback context

/// The consumer's lock-guarded state and logger; librdkafka's callbacks reach it through the opaque.
final class ConsumerContext: RDKafkaContext {
    let logger: Logger
    let state: Mutex<ConsumerStateMachine>
    let onStatistics: (@Sendable (KafkaConsumerStatistics) -> Void)?

    init(logger: Logger, state: ConsumerStateMachine, onStatistics: (@Sendable (KafkaConsumerStatistics) -> Void)? = nil) {
        self.logger = logger
        self.state = Mutex(state)
        self.onStatistics = onStatistics
    }

    /// librdkafka's statistics callback, on the poll thread: parse, hand over, return.
    func statistics(json: UnsafeBufferPointer<UInt8>) {
        guard let onStatistics, let report = KafkaConsumerStatistics(json: json) else { return }
        onStatistics(report)
    }

    func clientError(_ error: rd_kafka_resp_err_t, reason: String, handle: OpaquePointer) {
        if error == RD_KAFKA_RESP_ERR__FATAL {
            var text = [CChar](repeating: 0, count: 512)
            let cause = rd_kafka_fatal_error(handle, &text, text.count)
            let failure = KafkaError(
                code: .fatal, rdKafkaError: cause, context: "consumer failed fatally: \(String(cText: text))")
            logger.critical("\(failure.message)")
            state.withLock { $0.fail(failure) }
        } else {
            logger.warning("\(reason)", metadata: [KafkaLogKey.error: "\(String(cString: rd_kafka_err2name(error)))"])
        }
    }

    /// librdkafka's rebalance callback, on the poll thread (inside consumer_poll or consumer_close).
    ///
    /// Eager protocols (librdkafka's default `range,roundrobin`) revoke everything, then assign anew;
    /// cooperative-sticky (which Tansu supports too) adds and removes partitions incrementally.
    func rebalance(
        handle: OpaquePointer, event: rd_kafka_resp_err_t, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        let partitions = RDKafkaClient.topicPartitions(list)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        switch event {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let paused = state.withLock { $0.assigned(partitions) }
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, list) {
                    logger.error("\(KafkaError(code: .fatal, consuming: error, context: "incremental assign failed").message)")
                }
            } else {
                let error = rd_kafka_assign(handle, list)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.error("assign failed: \(String(cString: rd_kafka_err2str(error)))")
                }
            }
            // A partition's pause flag survives revocation and re-assignment (librdkafka #1849), so set
            // it either way. Both calls wait until the flag is applied (RD_SYNC), so a later resume
            // from this thread cannot find the pause still in flight and be dropped (librdkafka #5591).
            _ = paused ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
            logger.info(
                "partitions assigned",
                metadata: [KafkaLogKey.partitions: "\(RDKafkaClient.describe(partitions))"])

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            revoke(handle: handle, list: list, partitions: partitions, cooperative: cooperative)
            logger.info(
                "partitions revoked",
                metadata: [KafkaLogKey.partitions: "\(RDKafkaClient.describe(partitions))"])

        default:
            logger.error("rebalance failed: \(String(cString: rd_kafka_err2str(event)))")
            revoke(handle: handle, list: list, partitions: partitions, cooperative: cooperative)
        }
    }

    private func revoke(
        handle: OpaquePointer, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        partitions: [TopicPartition], cooperative: Bool
    ) {
        let stores = state.withLock { $0.revoking(cooperative ? partitions : nil) }
        // Stored while still assigned, so that the commit on unassign (auto commit) includes them.
        Self.store(stores, handle: handle, logger: logger)
        if cooperative {
            if let error = rd_kafka_incremental_unassign(handle, list) {
                logger.error("\(KafkaError(code: .fatal, consuming: error, context: "incremental unassign failed").message)")
            }
        } else {
            _ = rd_kafka_assign(handle, nil)
        }
    }

    static func store(_ offsets: [(TopicPartition, Int64)], handle: OpaquePointer, logger: Logger) {
        guard !offsets.isEmpty else { return }
        let error = RDKafkaClient.withTopicPartitionList(offsets.map { ($0.0, $0.1) }) { list in
            rd_kafka_offsets_store(handle, list)
        }
        // _STATE: none of the partitions is assigned any more (revoked meanwhile): nothing to keep.
        if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__STATE {
            logger.warning("storing offsets failed: \(String(cString: rd_kafka_err2str(error)))")
        }
    }
}

/// Returns 0: librdkafka frees the JSON text after the call.
private let statisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let json, let opaque else { return 0 }
    json.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
            .statistics(json: UnsafeBufferPointer(start: bytes, count: length))
    }
    return 0
}

private let rebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { handle, event, list, opaque in
    guard let handle, let list, let opaque else { return }
    Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue().rebalance(handle: handle, event: event, list: list)
}

/// Unique ids of consumers in this process, so that a message marked on the wrong consumer is ignored.
private let consumerIDs = Atomic<UInt64>(1)

// MARK: - Core

/// Owns the consumer's `rd_kafka_t`, its consumer queue, and its poll thread.
///
/// `@unchecked Sendable`: the handles are C pointers. Outside the poll thread they are used only
/// under the state lock while the state machine says the consumer is not closed; only the poll
/// thread destroys them, after marking the state closed under that lock.
final class ConsumerCore: @unchecked Sendable {
    private let handle: OpaquePointer
    /// The queue `rd_kafka_consumer_poll` waits on; `rd_kafka_queue_yield` on it wakes the poll thread.
    private let consumerQueue: OpaquePointer
    private let context: ConsumerContext
    private let configuration: KafkaConsumerConfiguration
    private let waiterIDs = Atomic<UInt64>(1)
    private var logger: Logger { context.logger }

    init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        var logger = logger
        logger[metadataKey: KafkaLogKey.client] = "\(configuration.client.clientID)"
        logger[metadataKey: KafkaLogKey.group] = "\(configuration.groupID)"
        let state = ConsumerStateMachine(
            consumerID: consumerIDs.wrappingAdd(1, ordering: .relaxed).oldValue,
            highWatermark: configuration.bufferHighWatermark, lowWatermark: configuration.bufferLowWatermark)
        let context = ConsumerContext(logger: logger, state: state, onStatistics: configuration.onStatistics)
        let handle = try RDKafkaClient.makeHandle(
            type: RD_KAFKA_CONSUMER, settings: configuration.librdkafkaSettings, context: context
        ) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
            if configuration.onStatistics != nil && configuration.statisticsInterval != nil {
                rd_kafka_conf_set_stats_cb(conf, statisticsCallback)
            }
        }
        // One queue for everything: messages, rebalances, logs and errors are all served by
        // rd_kafka_consumer_poll on the poll thread.
        rd_kafka_poll_set_consumer(handle)
        let subscribeError = RDKafkaClient.withTopicPartitionList(
            configuration.topics.map { (TopicPartition(topic: $0, partition: Int(RD_KAFKA_PARTITION_UA)), nil) }
        ) { list in
            rd_kafka_subscribe(handle, list)
        }
        guard subscribeError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw KafkaError(
                code: .invalidConfiguration, rdKafkaError: subscribeError,
                context: "subscribing to \(configuration.topics) failed")
        }
        self.handle = handle
        self.consumerQueue = rd_kafka_queue_get_consumer(handle)
        self.context = context
        self.configuration = configuration
    }

    func startPollThread() {
        let thread = Thread { [self] in pollLoop() }
        thread.name = "kafka-consumer-poll"
        thread.start()
    }

    var assignment: Set<TopicPartition> {
        context.state.withLock { $0.tracker.assignment }
    }

    var isFetchPaused: Bool {
        context.state.withLock { $0.isPaused }
    }

    var failure: KafkaError? {
        context.state.withLock { $0.failure }
    }

    // MARK: Messages

    func nextMessage() async throws -> KafkaMessage? {
        // Fast path: a message is waiting.
        switch takeNext(parking: nil) {
        case .message(let message, _): return message
        case .finished: return nil
        case .failed(let error): throw error
        case .wait, nil: break
        }
        let id = waiterIDs.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: ConsumerStateMachine.MessageContinuation) in
                switch takeNext(parking: (continuation, id)) {
                case .message(let message, _): continuation.resume(returning: message)
                case .finished: continuation.resume(returning: nil)
                case .failed(let error): continuation.resume(throwing: error)
                case .wait, nil: break
                }
            }
        } onCancel: {
            context.state.withLock { $0.cancelWaiter(id) }?.resume(returning: nil)
        }
    }

    /// Takes the next message under the lock, parking `parking`'s continuation if there is none (nil
    /// result). If the message brings a paused buffer down to the low watermark, wakes the poll thread,
    /// still under the lock, where the queue handle is known to be alive.
    private func takeNext(
        parking: (continuation: ConsumerStateMachine.MessageContinuation, id: UInt64)?
    ) -> ConsumerStateMachine.NextAction? {
        context.state.withLock { state in
            let action: ConsumerStateMachine.NextAction?
            if let parking {
                // Checked under the lock: a cancellation handler that ran before we parked found
                // nothing to resume, so the cancellation must be seen here.
                if Task.isCancelled { return .finished }
                action = state.next(parking: parking.continuation, id: parking.id)
            } else {
                action = state.next()
            }
            if case .message(_, wakePoller: true)? = action {
                rd_kafka_queue_yield(consumerQueue)
            }
            return action
        }
    }

    func markProcessed(_ message: KafkaMessage) {
        context.state.withLock { $0.markProcessed(message) }
    }

    // MARK: Commands

    func commit() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = context.state.withLock { state in
                guard state.requestCommit(continuation) else { return false }
                rd_kafka_queue_yield(consumerQueue)
                return true
            }
            if !accepted {
                continuation.resume(throwing: KafkaError(code: .shutDown, message: "the consumer is closed"))
            }
        }
    }

    func requestClose(continuation: CheckedContinuation<Void, Never>?) {
        let accepted = context.state.withLock { state in
            let (accepted, wake) = state.requestClose(continuation)
            if wake { rd_kafka_queue_yield(consumerQueue) }
            return accepted
        }
        if !accepted { continuation?.resume() }
    }

    /// Waits until the consumer is closed; asks for the close first unless `requesting` is false.
    func close(requesting: Bool = true) async {
        await withCheckedContinuation { continuation in
            if requesting {
                requestClose(continuation: continuation)
            } else {
                // Only register as a waiter: the close itself comes from elsewhere.
                let registered = context.state.withLock { $0.waitForClose(continuation) }
                if !registered { continuation.resume() }
            }
        }
    }

    // MARK: Poll thread

    private func pollLoop() {
        logger.debug("consumer poll thread started")
        while true {
            // Returns at once when a message (or rebalance, log, error) is ready; otherwise after
            // 100 ms or when woken by rd_kafka_queue_yield.
            if let message = rd_kafka_consumer_poll(handle, 100) {
                receive(message)
                rd_kafka_message_destroy(message)
            }
            let work = context.state.withLock { $0.takePollWork() }
            ConsumerContext.store(work.stores, handle: handle, logger: logger)
            if work.resumeFetching { resumeFetching() }
            if !work.commits.isEmpty {
                let result = commitStoredOffsets()
                for continuation in work.commits { continuation.resume(with: result.mapError { $0 }) }
            }
            if let waiters = work.close {
                for waiter in waiters { waiter.resume(returning: nil) }
                closeAndDestroy()
                return
            }
        }
    }

    private func receive(_ rawMessage: UnsafeMutablePointer<rd_kafka_message_t>) {
        let error = rawMessage.pointee.err
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if error != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                let topic = rawMessage.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
                logger.warning(
                    "consumer error: \(String(cString: rd_kafka_message_errstr(rawMessage)))",
                    metadata: [
                        KafkaLogKey.topic: "\(topic)",
                        KafkaLogKey.error: "\(String(cString: rd_kafka_err2name(error)))",
                    ])
            }
            return
        }
        let message = KafkaMessage(copying: rawMessage)
        switch context.state.withLock({ $0.receive(message) }) {
        case .handOver(let continuation, let message):
            continuation.resume(returning: message)
        case .buffered, .discard:
            break
        case .bufferedPauseFetching:
            pauseFetching()
        }
    }

    private func pauseFetching() {
        withAssignment { list in
            _ = rd_kafka_pause_partitions(handle, list)
        }
        // Debug, not info: under sustained load this flips every time the buffer drains.
        logger.debug(
            "fetching paused: the application is behind",
            metadata: [KafkaLogKey.buffered: "\(configuration.bufferHighWatermark)"])
    }

    private func resumeFetching() {
        withAssignment { list in
            _ = rd_kafka_resume_partitions(handle, list)
        }
        logger.debug("fetching resumed")
    }

    private func withAssignment(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void) {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        guard rd_kafka_assignment(handle, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        body(list)
    }

    /// A synchronous commit of the stored offsets; blocks this (the poll) thread for one round trip.
    private func commitStoredOffsets() -> Result<Void, KafkaError> {
        let error = rd_kafka_commit(handle, nil, 0)
        // _NO_OFFSET: nothing new was stored since the last commit.
        guard error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET else {
            return .success(())
        }
        return .failure(KafkaError(code: .commitFailed, rdKafkaError: error, context: "committing offsets failed"))
    }

    private func closeAndDestroy() {
        ConsumerContext.store(context.state.withLock { $0.takePendingStores() }, handle: handle, logger: logger)
        let commitResult = commitStoredOffsets()
        if case .failure(let error) = commitResult {
            logger.warning("\(error.message) while closing")
        }
        // Leaves the group; serves the final revoke through our rebalance callback on this thread.
        let closeError = rd_kafka_consumer_close(handle)
        if closeError != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("closing the consumer failed: \(String(cString: rd_kafka_err2str(closeError)))")
        }
        let (commits, closeWaiters, messageWaiters) = context.state.withLock { $0.finishClosing() }
        rd_kafka_queue_destroy(consumerQueue)
        rd_kafka_destroy(handle)
        for continuation in commits { continuation.resume(with: commitResult.mapError { $0 }) }
        for waiter in messageWaiters { waiter.resume(returning: nil) }
        for waiter in closeWaiters { waiter.resume() }
        logger.debug("consumer closed")
    }
}
