import Logging
import ServiceLifecycle

/// An idempotent Kafka producer whose `send` returns once the broker has acknowledged the message.
///
/// A dedicated thread polls librdkafka for delivery reports, blocking in `rd_kafka_poll` so that it
/// wakes as soon as one arrives; each report resumes the task that sent the message. Idempotence
/// (`enable.idempotence=true`, which implies `acks=all`) keeps librdkafka's retries from writing
/// duplicates or reordering messages of one partition.
///
/// Run it as a `Service` in a `ServiceGroup` (graceful shutdown flushes, then destroys), or call
/// ``shutdown()`` yourself.
///
/// - Important: The producer holds a thread and broker connections until it is shut down; dropping the
///   last reference also starts a shutdown.
public final class KafkaProducer: Service, Sendable {
    private let core: ProducerCore

    /// Creates the producer and starts its poll thread. Fails on invalid settings or an old librdkafka;
    /// does not wait for a broker (see ``KafkaAdmin/checkReachability()``).
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        core = try ProducerCore(configuration: configuration, logger: logger)
        core.startPollThread()
    }

    deinit {
        core.requestShutdown(continuation: nil)
    }

    /// Sends one message and waits until the broker acknowledged it.
    ///
    /// When librdkafka's local queue is full, waits for space instead of failing.
    /// - Important: Cancelling the calling task does not withdraw the message: it may still be
    ///   delivered, and the call returns only when its delivery report arrives (within the
    ///   configuration's `deliveryTimeout`).
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/deliveryFailed`` if the broker did not take
    ///   it, ``KafkaError/Code/shutDown`` if the producer shut down first.
    public func send(
        topic: String, key: [UInt8]? = nil, value: [UInt8], headers: [KafkaHeader] = []
    ) async throws -> KafkaDeliveryReport {
        let message = KafkaOutgoingMessage(topic: topic, key: key, value: value, headers: headers)
        let batch = DeliveryBatch(count: 1)
        await core.enqueue(message, into: batch, at: 0)
        return try await batch.wait()[0]
    }

    /// Sends several messages and waits until the broker acknowledged all of them.
    ///
    /// Messages are enqueued in order, so those with the same key stay in order. Returns the reports in
    /// message order.
    /// - Important: If one message fails, the call throws its error, but the others may have been
    ///   delivered: retrying the whole batch can duplicate them (fine for at-least-once consumers).
    public func send(_ messages: [KafkaOutgoingMessage]) async throws -> [KafkaDeliveryReport] {
        guard !messages.isEmpty else { return [] }
        let batch = DeliveryBatch(count: messages.count)
        for (index, message) in messages.enumerated() {
            await core.enqueue(message, into: batch, at: index)
        }
        return try await batch.wait()
    }

    /// Waits until every message sent so far has its delivery report, or `timeout` passed.
    ///
    /// - Throws: ``KafkaError/Code/timedOut`` if messages were still outstanding at the timeout.
    public func flush(timeout: Duration) async throws {
        try await core.flush(timeout: timeout)
    }

    /// Flushes outstanding messages (bounded by the configuration's `shutdownFlushTimeout`), fails those
    /// still outstanding after it, and destroys the librdkafka handle. Safe to call more than once.
    public func shutdown() async {
        await core.shutdown()
    }

    /// Runs until graceful shutdown or cancellation, then shuts the producer down.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await core.waitUntilShutDown()
        } onCancelOrGracefulShutdown: { [core] in
            core.requestShutdown(continuation: nil)
        }
        await core.shutdown()
    }
}
