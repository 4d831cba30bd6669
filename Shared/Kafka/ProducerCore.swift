import CRdKafka
import Foundation
import Logging
import Synchronization

// MARK: - Callback context

/// The producer's lock-guarded state and logger; librdkafka's callbacks reach it through the opaque.
final class ProducerContext: RDKafkaContext {
    let logger: Logger
    let state = Mutex(ProducerStateMachine())

    init(logger: Logger) {
        self.logger = logger
    }

    func clientError(_ error: rd_kafka_resp_err_t, reason: String, handle: OpaquePointer) {
        if error == RD_KAFKA_RESP_ERR__FATAL {
            // An idempotent producer's fatal error (e.g. a broken sequence): every later send fails.
            var text = [CChar](repeating: 0, count: 512)
            let cause = rd_kafka_fatal_error(handle, &text, text.count)
            logger.critical(
                "producer failed fatally; messages can no longer be sent: \(String(cText: text))",
                metadata: [KafkaLogKey.error: "\(String(cString: rd_kafka_err2name(cause)))"])
        } else {
            logger.warning(
                "\(reason)", metadata: [KafkaLogKey.error: "\(String(cString: rd_kafka_err2name(error)))"])
        }
    }

    /// Called by librdkafka on the poll thread, once per message.
    func deliveryReport(_ message: UnsafePointer<rd_kafka_message_t>) {
        let ticket = UInt64(UInt(bitPattern: message.pointee._private))
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
        let result: Result<KafkaDeliveryReport, KafkaError>
        if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            result = .success(
                KafkaDeliveryReport(
                    topic: topic, partition: Int(message.pointee.partition), offset: message.pointee.offset))
        } else {
            result = .failure(
                KafkaError(
                    code: .deliveryFailed, rdKafkaError: message.pointee.err,
                    context: "delivery to topic '\(topic)' failed"))
        }
        let (pending, spaceWaiters) = state.withLock { $0.delivered(ticket) }
        if let pending { pending.batch.complete(pending.index, with: result) }
        for waiter in spaceWaiters { waiter.resume() }
    }
}

private let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let opaque else { return }
    Unmanaged<ProducerContext>.fromOpaque(opaque).takeUnretainedValue().deliveryReport(message)
}

// MARK: - Core

/// Owns the producer's `rd_kafka_t` and its poll thread.
///
/// `@unchecked Sendable`: the handle is a C pointer. librdkafka's produce calls are thread-safe; the
/// handle is used only while the state machine says it is alive (checked under the lock), and only
/// the poll thread destroys it, after marking the state shut down under that lock.
final class ProducerCore: @unchecked Sendable {
    private let handle: OpaquePointer
    private let context: ProducerContext
    private let configuration: KafkaProducerConfiguration
    private var logger: Logger { context.logger }

    init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        var logger = logger
        logger[metadataKey: KafkaLogKey.client] = "\(configuration.client.clientID)"
        let context = ProducerContext(logger: logger)
        self.handle = try RDKafkaClient.makeHandle(
            type: RD_KAFKA_PRODUCER, settings: configuration.librdkafkaSettings, context: context
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        self.context = context
        self.configuration = configuration
    }

    func startPollThread() {
        let thread = Thread { [self] in pollLoop() }
        thread.name = "kafka-producer-poll"
        thread.start()
    }

    // MARK: Sending

    private enum EnqueueOutcome {
        case enqueued
        case queueFull(epoch: UInt64)
        case failed(KafkaError)
    }

    /// Enqueues one message in librdkafka, waiting for queue space if needed; failures complete the
    /// message's slot in `batch` instead of throwing.
    func enqueue(_ message: KafkaOutgoingMessage, into batch: DeliveryBatch, at index: Int) async {
        while true {
            let outcome = context.state.withLock { state -> EnqueueOutcome in
                guard let ticket = state.register(batch, index: index) else {
                    return .failed(KafkaError(code: .shutDown, message: "the producer is shut down"))
                }
                // Under the lock so that the handle cannot be destroyed meanwhile; produceva only
                // enqueues (no RD_KAFKA_MSG_F_BLOCK) and never calls back into us.
                let error = Self.produce(message, ticket: ticket, handle: handle)
                guard error != RD_KAFKA_RESP_ERR_NO_ERROR else { return .enqueued }
                state.unregister(ticket)
                if error == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    return .queueFull(epoch: state.deliveryEpoch)
                }
                return .failed(
                    KafkaError(
                        code: .deliveryFailed, rdKafkaError: error,
                        context: "enqueueing a message for topic '\(message.topic)' failed"))
            }
            switch outcome {
            case .enqueued:
                return
            case .failed(let error):
                batch.complete(index, with: .failure(error))
                return
            case .queueFull(let epoch):
                await withCheckedContinuation { continuation in
                    let waiting = context.state.withLock { $0.waitForSpace(after: epoch, continuation) }
                    if !waiting { continuation.resume() }
                }
            }
        }
    }

    /// `rd_kafka_produceva` with copies of key, value and headers; `ticket` is the message opaque.
    private static func produce(_ message: KafkaOutgoingMessage, ticket: UInt64, handle: OpaquePointer) -> rd_kafka_resp_err_t {
        // Owned by the message once produceva succeeds; ours to destroy if it fails.
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress ?? emptyBytes, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let error = message.topic.withCString { topic in
            message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { key in
                    var arguments: [rd_kafka_vu_t] = []
                    arguments.reserveCapacity(6)
                    var argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_TOPIC
                    argument.u.cstr = topic
                    arguments.append(argument)

                    argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_VALUE
                    // A NULL pointer would make a null (tombstone) value; an empty value needs a pointer.
                    argument.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress ?? emptyBytes)
                    argument.u.mem.size = value.count
                    arguments.append(argument)

                    if let key {
                        argument = rd_kafka_vu_t()
                        argument.vtype = RD_KAFKA_VTYPE_KEY
                        argument.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress ?? emptyBytes)
                        argument.u.mem.size = key.count
                        arguments.append(argument)
                    }

                    if let headers {
                        argument = rd_kafka_vu_t()
                        argument.vtype = RD_KAFKA_VTYPE_HEADERS
                        argument.u.headers = headers
                        arguments.append(argument)
                    }

                    argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    argument.u.i = RD_KAFKA_MSG_F_COPY
                    arguments.append(argument)

                    argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_OPAQUE
                    argument.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(ticket))
                    arguments.append(argument)

                    guard let error = rd_kafka_produceva(handle, arguments, arguments.count) else {
                        return RD_KAFKA_RESP_ERR_NO_ERROR
                    }
                    defer { rd_kafka_error_destroy(error) }
                    return rd_kafka_error_code(error)
                }
            }
        }
        if error != RD_KAFKA_RESP_ERR_NO_ERROR, let headers {
            rd_kafka_headers_destroy(headers)
        }
        return error
    }

    // MARK: Commands

    func flush(timeout: Duration) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = context.state.withLock { state in
                guard state.requestFlush(.init(timeout: timeout, continuation: continuation)) else { return false }
                rd_kafka_yield(handle)  // wakes the poll thread; the handle is alive while running
                return true
            }
            if !accepted {
                continuation.resume(throwing: KafkaError(code: .shutDown, message: "the producer is shut down"))
            }
        }
    }

    /// Asks the poll thread to shut down; `continuation` (if any) resumes once the handle is destroyed.
    func requestShutdown(continuation: CheckedContinuation<Void, Never>?) {
        let requested = context.state.withLock { state in
            guard state.requestShutdown(continuation) else { return false }
            if state.lifecycle == .running { rd_kafka_yield(handle) }
            return true
        }
        if !requested { continuation?.resume() }
    }

    func shutdown() async {
        await withCheckedContinuation { continuation in
            requestShutdown(continuation: continuation)
        }
    }

    /// Waits until the producer is shut down, by anyone, without asking for it.
    func waitUntilShutDown() async {
        await withCheckedContinuation { continuation in
            let waiting = context.state.withLock { $0.waitForShutdown(continuation) }
            if !waiting { continuation.resume() }
        }
    }

    // MARK: Poll thread

    private func pollLoop() {
        logger.debug("producer poll thread started")
        while true {
            // Blocks until an event (delivery report, log, error) arrives or 100 ms pass; commands
            // wake it early through rd_kafka_yield. 100 ms bounds how long an unnoticed command waits.
            rd_kafka_poll(handle, 100)
            let (flushes, shutdown) = context.state.withLock { $0.takeCommands() }
            for flush in flushes {
                let error = rd_kafka_flush(handle, flush.timeout.timeoutMilliseconds)
                if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                    flush.continuation.resume()
                } else {
                    flush.continuation.resume(
                        throwing: KafkaError(
                            code: .timedOut, rdKafkaError: error,
                            context: "flush left \(rd_kafka_outq_len(handle)) messages outstanding after \(flush.timeout.shortDescription)"))
                }
            }
            if shutdown {
                shutDownAndDestroy()
                return
            }
        }
    }

    private func shutDownAndDestroy() {
        for waiter in context.state.withLock({ $0.beginShutdown() }) { waiter.resume() }
        let timeout = configuration.shutdownFlushTimeout
        if rd_kafka_flush(handle, timeout.timeoutMilliseconds) != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning(
                "purging \(rd_kafka_outq_len(handle)) messages still outstanding after \(timeout.shortDescription)")
            rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            // Serves the purged messages' delivery reports, which fail their senders.
            _ = rd_kafka_flush(handle, 1000)
        }
        let (pending, flushes, shutdownWaiters) = context.state.withLock { $0.finishShutdown() }
        rd_kafka_destroy(handle)
        let shutDown = KafkaError(code: .shutDown, message: "the producer shut down before the message was acknowledged")
        for delivery in pending { delivery.batch.complete(delivery.index, with: .failure(shutDown)) }
        for flush in flushes { flush.continuation.resume() }
        for waiter in shutdownWaiters { waiter.resume() }
        logger.debug("producer shut down")
    }
}

/// A valid pointer for empty buffers, whose `baseAddress` may be nil. Never written to.
nonisolated(unsafe) private let emptyBytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))

private func withOptionalBytes<Result>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> Result) -> Result {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
