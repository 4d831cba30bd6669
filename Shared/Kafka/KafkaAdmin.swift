import CRdKafka
import Foundation
import Logging
import Synchronization

/// A topic to create: its name, partition count and replication factor.
public struct KafkaTopicSpecification: Hashable, Sendable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int

    public init(name: String, partitions: Int = 4, replicationFactor: Int = 1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// Start-up checks and topic administration.
///
/// Each call opens a short-lived librdkafka client on a dedicated thread (its calls block), and closes
/// it before returning.
public struct KafkaAdmin: Sendable {
    public let configuration: KafkaClientConfiguration
    private let logger: Logger

    public init(configuration: KafkaClientConfiguration, logger: Logger) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: KafkaLogKey.client] = "\(configuration.clientID)"
        self.logger = logger
    }

    /// Fails with one line naming the broker setting and the problem unless a broker answers a
    /// metadata request within the configuration's `reachabilityTimeout`, e.g.
    /// `CHORUS_KAFKA_BROKERS=127.0.0.1:9999: no broker answered within 5s (connection refused)`.
    public func checkReachability() async throws {
        let configuration = configuration
        try await withAdminClient { handle, context in
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let timeout = configuration.reachabilityTimeout
            let error = rd_kafka_metadata(handle, 0, nil, &metadata, timeout.timeoutMilliseconds)
            if let metadata {
                let brokers = metadata.pointee.broker_cnt
                rd_kafka_metadata_destroy(metadata)
                if error == RD_KAFKA_RESP_ERR_NO_ERROR && brokers > 0 { return }
            }
            // Serves the error callbacks of the failed connection attempts, to say why.
            rd_kafka_poll(handle, 0)
            let cause = context.lastTransportProblem ?? String(cString: rd_kafka_err2str(error)).lowercased()
            throw KafkaError(
                code: .brokersUnreachable, rdKafkaCode: Int(error.rawValue), isRetriable: true,
                message: "\(configuration.bootstrapBrokersSettingName)=\(configuration.bootstrapBrokers): "
                    + "no broker answered within \(timeout.shortDescription) (\(cause))")
        }
    }

    /// Creates topics that do not exist yet; one that already exists counts as created (its partition
    /// count is left as it is).
    public func createTopics(_ topics: [KafkaTopicSpecification], timeout: Duration = .seconds(30)) async throws {
        guard !topics.isEmpty else { return }
        try await withAdminClient { handle, _ in
            try Self.createTopics(topics, timeout: timeout, handle: handle)
        }
        logger.debug("topics ensured", metadata: [KafkaLogKey.topic: "\(topics.map(\.name))"])
    }

    /// The number of partitions of `topic`, or nil if the broker does not know it.
    ///
    /// Does not create the topic, even where the broker auto-creates topics on use.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws -> Int? {
        try await withAdminClient { handle, _ in
            // Owned here; destroyed before the handle.
            let topicHandle = rd_kafka_topic_new(handle, topic, nil)
            defer { rd_kafka_topic_destroy(topicHandle) }
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let error = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeout.timeoutMilliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError(
                    code: .topicAdministrationFailed, rdKafkaError: error,
                    context: "reading metadata of topic '\(topic)' failed")
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            guard metadata.pointee.topic_cnt > 0, let topics = metadata.pointee.topics else { return nil }
            let description = topics[0]
            if description.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { return nil }
            guard description.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(
                    code: .topicAdministrationFailed, rdKafkaError: description.err,
                    context: "reading metadata of topic '\(topic)' failed")
            }
            return Int(description.partition_cnt)
        }
    }

    /// The offsets `group` has committed for the partitions of `topic`: partition → the next offset
    /// the group will read. Partitions without a committed offset are absent.
    ///
    /// Asks the group coordinator without joining the group, so members see no rebalance.
    public func committedOffsets(group: String, topic: String, timeout: Duration = .seconds(10)) async throws -> [Int: Int64] {
        guard let partitions = try await partitionCount(topic: topic, timeout: timeout) else { return [:] }
        return try await withAdminClient(type: RD_KAFKA_CONSUMER, extraSettings: ["group.id": group]) { handle, _ in
            let offsets = (0..<partitions).map { (TopicPartition(topic: topic, partition: $0), Int64?.none) }
            return try RDKafkaClient.withTopicPartitionList(offsets) { list in
                let error = rd_kafka_committed(handle, list, timeout.timeoutMilliseconds)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(
                        code: .topicAdministrationFailed, rdKafkaError: error,
                        context: "reading the offsets group '\(group)' committed for '\(topic)' failed")
                }
                var committed: [Int: Int64] = [:]
                for index in 0..<Int(list.pointee.cnt) {
                    let element = list.pointee.elems[index]
                    if element.offset >= 0 { committed[Int(element.partition)] = element.offset }
                }
                return committed
            }
        }
    }

    /// The high watermark of each partition of `topic` (partition → the offset the next message will
    /// get); empty when the broker does not know the topic.
    public func highWatermarks(topic: String, timeout: Duration = .seconds(10)) async throws -> [Int: Int64] {
        guard let partitions = try await partitionCount(topic: topic, timeout: timeout) else { return [:] }
        return try await withAdminClient { handle, _ in
            var watermarks: [Int: Int64] = [:]
            for partition in 0..<partitions {
                var low: Int64 = 0
                var high: Int64 = 0
                let error = rd_kafka_query_watermark_offsets(handle, topic, Int32(partition), &low, &high, timeout.timeoutMilliseconds)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(
                        code: .topicAdministrationFailed, rdKafkaError: error,
                        context: "reading the end offsets of '\(topic)' failed")
                }
                watermarks[partition] = high
            }
            return watermarks
        }
    }

    // MARK: - Implementation

    private static func createTopics(
        _ topics: [KafkaTopicSpecification], timeout: Duration, handle: OpaquePointer
    ) throws {
        var errorText = [CChar](repeating: 0, count: 512)
        // Each NewTopic is ours to destroy.
        var newTopics: [OpaquePointer?] = []
        defer { for newTopic in newTopics { rd_kafka_NewTopic_destroy(newTopic) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(
                topic.name, Int32(clamping: topic.partitions), Int32(clamping: topic.replicationFactor),
                &errorText, errorText.count)
            else {
                throw KafkaError(
                    code: .topicAdministrationFailed,
                    message: "topic '\(topic.name)' is invalid: \(String(cText: errorText))")
            }
            newTopics.append(newTopic)
        }

        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.timeoutMilliseconds, &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.timeoutMilliseconds, &errorText, errorText.count)

        let resultQueue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(resultQueue) }
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, resultQueue)
        }
        // The request timeout bounds the answer; a little more so that librdkafka times out first.
        guard let event = rd_kafka_queue_poll(resultQueue, (timeout + .seconds(1)).timeoutMilliseconds) else {
            throw KafkaError(
                code: .timedOut, isRetriable: true,
                message: "creating topics \(topics.map(\.name)) got no answer within \(timeout.shortDescription)")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(
                code: .topicAdministrationFailed, rdKafkaCode: Int(eventError.rawValue),
                isRetriable: KafkaError.isTransient(eventError),
                message: "creating topics \(topics.map(\.name)) failed: \(String(cString: rd_kafka_event_error_string(event)))")
        }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
            let results = rd_kafka_CreateTopics_result_topics(result, &count)
        else { return }
        for index in 0..<count {
            let topicResult = results[index]
            let error = rd_kafka_topic_result_error(topicResult)
            guard error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
                continue
            }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
            throw KafkaError(
                code: .topicAdministrationFailed, rdKafkaCode: Int(error.rawValue),
                isRetriable: KafkaError.isTransient(error),
                message: "creating topic '\(name)' failed: \(text.isEmpty ? String(cString: rd_kafka_err2str(error)) : text)")
        }
    }

    /// Runs `body` on a new thread with a fresh handle (a producer unless `type` says otherwise),
    /// destroyed afterwards.
    private func withAdminClient<Result: Sendable>(
        type: rd_kafka_type_t = RD_KAFKA_PRODUCER, extraSettings: [String: String] = [:],
        _ body: @escaping @Sendable (OpaquePointer, AdminContext) throws -> Result
    ) async throws -> Result {
        let context = AdminContext(logger: logger)
        var settings = configuration.librdkafkaSettings
        // Metadata requests must not create the topics they ask about.
        settings["allow.auto.create.topics"] = "false"
        settings.merge(extraSettings) { _, extra in extra }
        settings.merge(configuration.rawSettings) { _, raw in raw }
        let handle = try RDKafkaClient.makeHandle(type: type, settings: settings, context: context)
        let client = AdminHandle(handle)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let result = Swift.Result { try body(client.handle, context) }
                // Serves remaining logs, then closes the connections.
                rd_kafka_poll(client.handle, 0)
                rd_kafka_destroy(client.handle)
                continuation.resume(with: result)
            }
            thread.name = "kafka-admin"
            thread.start()
        }
    }
}

/// A handle passed to the admin thread, which alone uses and destroys it.
private struct AdminHandle: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
}

/// Logs of a short-lived admin client, and the last connection problem it reported.
final class AdminContext: RDKafkaContext {
    let logger: Logger
    private let problem = Mutex<String?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    /// The last transport problem, short and lower-case: "connection refused".
    var lastTransportProblem: String? { problem.withLock { $0 } }

    /// Connection failures are summed up in the error the admin call throws: log them at debug only.
    func librdkafkaLog(level: Logger.Level, facility: String, text: String) {
        logger.debug("\(text)", metadata: [KafkaLogKey.facility: "\(facility)"])
    }

    func clientError(_ error: rd_kafka_resp_err_t, reason: String, handle: OpaquePointer) {
        logger.debug("\(reason)", metadata: [KafkaLogKey.error: "\(String(cString: rd_kafka_err2name(error)))"])
        guard error == RD_KAFKA_RESP_ERR__TRANSPORT || error == RD_KAFKA_RESP_ERR__RESOLVE else { return }
        problem.withLock { $0 = Self.shortCause(reason) }
    }

    /// "127.0.0.1:9999/bootstrap: Connect to ipv4#127.0.0.1:9999 failed: Connection refused (after 0ms
    /// in state CONNECT)" → "connection refused".
    static func shortCause(_ reason: String) -> String {
        var cause = Substring(reason)
        if let separator = cause.range(of: ": ", options: .backwards) {
            cause = cause[separator.upperBound...]
        }
        if let detail = cause.range(of: " (after") {
            cause = cause[..<detail.lowerBound]
        }
        return cause.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
