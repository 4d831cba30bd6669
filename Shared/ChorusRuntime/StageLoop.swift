import Contracts
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// A failure that says what to do with the message that caused it.
public struct StageFailure: Error, Sendable, CustomStringConvertible {
    /// `poison`: the message can never be processed (bad bytes, an impossible request): dead-letter it now.
    /// `transient`: the world is unwell (database restarting, broker away): try again, without limit.
    /// `unknown`: anything else: a bounded number of attempts, then dead-letter.
    public enum Kind: Sendable { case poison, transient, unknown }

    public var kind: Kind
    public var code: String
    public var reason: String

    public static func poison(_ code: String, _ reason: String) -> StageFailure {
        StageFailure(kind: .poison, code: code, reason: reason)
    }

    public static func transient(_ code: String, _ reason: String) -> StageFailure {
        StageFailure(kind: .transient, code: code, reason: reason)
    }

    public var description: String { "\(code): \(reason)" }
}

/// Errors from the infrastructure that say whether they will pass on their own.
public protocol TransientError: Error {
    var isTransient: Bool { get }
}

extension KafkaError: TransientError {
    public var isTransient: Bool { isRetriable || code == .timedOut }
}

/// One stage's consume → process → mark-processed loop.
///
/// - Messages with the same key are processed one at a time, in offset order (a request's plan and
///   responses share its id as key, so the plan is handled first; model calls are keyed by call id,
///   so a request's calls run side by side); messages with different keys run concurrently, at most
///   `maxInFlight` at once.
/// - A message is marked processed only after its handler returned (its effects are committed) or
///   it was dead-lettered, so a crash redelivers it: handlers must be idempotent.
/// - Transient failures are retried with backoff for as long as it takes; other failures get
///   `maxAttempts`, then the message goes to `chorus.deadletters` with its origin and the reason, and
///   its partition keeps flowing.
/// - On graceful shutdown it stops taking messages and finishes those in flight.
public final class StageLoop: Service, Sendable {
    /// What became of a message once its handler returned.
    public enum Completion: Sendable {
        /// Its effects are committed: mark it processed now.
        case done
        /// Its effects are not final yet (the judge holds a request's messages until the request is
        /// answered): the handler will call ``markProcessed(_:)`` itself.
        case deferred
    }

    public typealias Handler = @Sendable (KafkaMessage) async throws -> Completion

    private let name: String
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let handler: Handler
    private let slots: AsyncSemaphore
    private let maxAttempts: Int
    private let logger: Logger
    private let queues = Mutex(KeyedQueues())
    private let processed: Counter
    private let consumed: MetricFamily<Counter>
    private let failures: MetricFamily<Counter>
    private let deadLettered: Counter
    private let transientRetries: Counter
    private let processing: Timer

    public init(
        name: String, consumer: KafkaConsumer, producer: KafkaProducer, maxInFlight: Int = 256, maxAttempts: Int = 3,
        logger: Logger, handler: @escaping Handler
    ) {
        self.name = name
        self.consumer = consumer
        self.producer = producer
        self.handler = handler
        self.slots = AsyncSemaphore(limit: maxInFlight)
        self.maxAttempts = maxAttempts
        self.logger = logger
        processed = Counter(label: "chorus_messages_processed_total", dimensions: [("stage", name)])
        consumed = MetricFamily(counter: "chorus_messages_consumed_total", labels: ["stage", "topic"])
        failures = MetricFamily(counter: "chorus_errors_total", labels: ["stage", "kind", "code"])
        deadLettered = Counter(label: "chorus_messages_dead_lettered_total", dimensions: [("stage", name)])
        transientRetries = Counter(label: "chorus_transient_retries_total", dimensions: [("stage", name)])
        processing = Timer(label: "chorus_processing_seconds", dimensions: [("stage", name)], preferredDisplayUnit: .seconds)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for try await message in consumer.messages.cancelOnGracefulShutdown() {
                consumed(name, message.topic).increment()
                try await slots.acquire()
                let start = queues.withLock { $0.enqueue(message) }
                guard start else { continue }
                group.addTask {
                    var next: KafkaMessage? = message
                    while let current = next {
                        await self.process(current)
                        self.slots.release()
                        next = self.queues.withLock { $0.finish(current) }
                    }
                }
            }
        }
    }

    /// Marks a message whose handler returned ``Completion/deferred``.
    public func markProcessed(_ message: KafkaMessage) {
        consumer.markProcessed(message)
    }

    /// Handles one message inside its ``MessageContext``: its logs carry its request and trace ids, and
    /// what it publishes continues its trace.
    private func process(_ message: KafkaMessage) async {
        await MessageContext.$current.withValue(MessageContext(message: message)) {
            await handleWithRetries(message)
        }
    }

    private func handleWithRetries(_ message: KafkaMessage) async {
        let started = ContinuousClock.now
        defer { processing.record(duration: ContinuousClock.now - started) }
        var attempt = 1
        var transientWaits = 0
        while true {
            do {
                if try await handler(message) == .done { consumer.markProcessed(message) }
                processed.increment()
                return
            } catch {
                // Cancelled (a shutdown outlasted its grace period): not a failure of the message.
                // Left unmarked, it is redelivered after the restart.
                if Task.isCancelled { return }
                let failure = classify(error)
                failures(name, "\(failure.kind)", failure.code).increment()
                if failure.kind == .transient && !Task.isCancelled {
                    transientWaits += 1
                    transientRetries.increment()
                    // Capped backoff: a database restart should delay, never drop.
                    let wait = RetryPolicy(maxAttempts: Int.max, baseDelay: .milliseconds(50), maxDelay: .seconds(2))
                        .delay(afterAttempt: min(transientWaits, 10), random: Double.random(in: 0.5..<1))!
                    if transientWaits == 1 || transientWaits % 20 == 0 {
                        logger.warning("transient failure; retrying", metadata: metadata(message, failure))
                    }
                    try? await Task.sleep(for: wait)
                    continue
                }
                if failure.kind == .poison || attempt >= maxAttempts {
                    guard await deadLetter(message, failure) else { return }
                    deadLettered.increment()
                    consumer.markProcessed(message)
                    return
                }
                attempt += 1
                try? await Task.sleep(for: .milliseconds(20 * attempt))
            }
        }
    }

    private func classify(_ error: any Error) -> StageFailure {
        if let failure = error as? StageFailure { return failure }
        if let transient = error as? TransientError, transient.isTransient {
            return .transient("transient", ServiceMain.describe(error))
        }
        return StageFailure(kind: .unknown, code: "processing_failed", reason: ServiceMain.describe(error))
    }

    /// Publishes the original bytes with their origin and the reason; retries until delivered, or
    /// until the stage is cancelled or its producer shut down: then false, and the message stays
    /// unmarked (redelivered after the restart) rather than lost.
    private func deadLetter(_ message: KafkaMessage, _ failure: StageFailure) async -> Bool {
        logger.error("dead-lettered", metadata: metadata(message, failure))
        let headers = [
            KafkaHeader(name: Headers.originTopic, value: Array(message.topic.utf8)),
            KafkaHeader(name: Headers.originPartition, value: Array(String(message.partition).utf8)),
            KafkaHeader(name: Headers.originOffset, value: Array(String(message.offset).utf8)),
            KafkaHeader(name: Headers.errorCode, value: Array(failure.code.utf8)),
            KafkaHeader(name: Headers.errorReason, value: Array(String(failure.reason.prefix(1000)).utf8)),
            KafkaHeader(name: Headers.failedService, value: Array(name.utf8)),
        ]
        var waits = 0
        while true {
            do {
                _ = try await producer.send(
                    topic: Topics.deadLetters, key: message.key, value: message.value, headers: headers.withTraceParent())
                ChorusMetrics.produced(name, Topics.deadLetters).increment()
                return true
            } catch {
                // Retrying would spin: Task.sleep returns at once once cancelled, and a shut-down producer never recovers.
                if Task.isCancelled || (error as? KafkaError)?.code == .shutDown {
                    logger.warning(
                        "dead letter not published before shutdown; the message will be redelivered",
                        metadata: metadata(message, failure))
                    return false
                }
                waits += 1
                if waits == 1 || waits % 20 == 0 {
                    logger.warning("cannot publish a dead letter yet; retrying", metadata: [LogKey.error: "\(ServiceMain.describe(error))"])
                }
                try? await Task.sleep(for: .milliseconds(min(2000, 50 * waits)))
            }
        }
    }

    private func metadata(_ message: KafkaMessage, _ failure: StageFailure) -> Logger.Metadata {
        [
            LogKey.kafkaTopic: "\(message.topic)", LogKey.kafkaPartition: "\(message.partition)",
            LogKey.kafkaOffset: "\(message.offset)", LogKey.error: "\(failure.description)",
        ]
    }
}


/// Per-key FIFO queues: which message may run now, and which runs next when one finishes.
struct KeyedQueues: Sendable {
    private var pending: [[UInt8]: [KafkaMessage]] = [:]

    /// Whether `message` may start now; if not, it runs after the messages of its key before it.
    mutating func enqueue(_ message: KafkaMessage) -> Bool {
        guard let key = message.key else { return true }  // no key, no order to keep
        if var queue = pending[key] {
            queue.append(message)
            pending[key] = queue
            return false
        }
        pending[key] = []
        return true
    }

    /// `message` finished: the next message of its key, if any.
    mutating func finish(_ message: KafkaMessage) -> KafkaMessage? {
        guard let key = message.key, var queue = pending[key] else { return nil }
        guard !queue.isEmpty else {
            pending[key] = nil
            return nil
        }
        let next = queue.removeFirst()
        pending[key] = queue
        return next
    }

    var keysInProgress: Int { pending.count }
}
