import CRdKafka
import Logging

/// What librdkafka's callbacks reach through the handle's opaque pointer: a logger and a place for
/// client-level errors. Producers, consumers and admin clients each have one.
protocol RDKafkaContext: AnyObject, Sendable {
    var logger: Logger { get }
    /// A client-level error from librdkafka's `error_cb`, served on the thread that polls the handle.
    func clientError(_ error: rd_kafka_resp_err_t, reason: String, handle: OpaquePointer)
    /// A log line from librdkafka's `log_cb`, served on the thread that polls the handle.
    func librdkafkaLog(level: Logger.Level, facility: String, text: String)
}

extension RDKafkaContext {
    func librdkafkaLog(level: Logger.Level, facility: String, text: String) {
        logger.log(level: level, "\(text)", metadata: [KafkaLogKey.facility: "\(facility)"])
    }
}

/// Keys of the logger metadata this module writes.
enum KafkaLogKey {
    static let client = "kafka.client"
    static let group = "kafka.group"
    static let topic = "kafka.topic"
    static let partitions = "kafka.partitions"
    static let facility = "kafka.facility"
    static let error = "kafka.error"
    static let buffered = "kafka.buffered"
}

/// Creation of librdkafka handles and the callbacks every handle shares.
enum RDKafkaClient {
    /// Creates an `rd_kafka_t` from `settings`; `context` must outlive the handle.
    ///
    /// `configure` installs role-specific callbacks (delivery reports, rebalances) on the conf.
    /// Log and error callbacks are served by whoever polls the handle's main queue (`log.queue`).
    static func makeHandle(
        type: rd_kafka_type_t,
        settings: [String: String],
        context: some RDKafkaContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) -> OpaquePointer {
        try Kafka.checkRuntimeVersion()
        // Owned by us until rd_kafka_new succeeds, which takes it over.
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .invalidConfiguration, message: "rd_kafka_conf_new failed")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(
                    code: .invalidConfiguration,
                    message: Self.settingRejected(key: key, librdkafkaText: String(cText: errorText)))
            }
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        configure(conf)

        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            // rd_kafka_new frees conf only on success.
            rd_kafka_conf_destroy(conf)
            throw KafkaError(
                code: .invalidConfiguration,
                message: "librdkafka rejected the configuration: \(String(cText: errorText))")
        }
        // With log.queue=true, logs wait on a queue until forwarded; NULL forwards them to the main
        // queue, which rd_kafka_poll (or, once redirected, rd_kafka_consumer_poll) serves.
        rd_kafka_set_log_queue(handle, nil)
        return handle
    }

    /// One line naming a rejected setting; librdkafka's text quotes the value, so secrets get none.
    static func settingRejected(key: String, librdkafkaText: String) -> String {
        let lowercased = key.lowercased()
        let secretMarkers = ["password", "secret", "sasl.jaas", "sasl.oauthbearer", "ssl.key", "ssl_key", "token"]
        if secretMarkers.contains(where: lowercased.contains) {
            return "librdkafka rejected the value of setting '\(key)' (value not shown: it may be a secret)"
        }
        return "librdkafka rejected setting '\(key)': \(librdkafkaText)"
    }

    static func context(of handle: OpaquePointer?) -> (any RDKafkaContext)? {
        guard let handle, let opaque = rd_kafka_opaque(handle) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(opaque).takeUnretainedValue() as? any RDKafkaContext
    }
}

// MARK: - Callbacks shared by every handle

/// Runs on the thread polling the handle (log.queue): log straight into swift-log, never await.
private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, text in
    guard let context = RDKafkaClient.context(of: handle), let text else { return }
    context.librdkafkaLog(
        level: Logger.Level(syslogLevel: level), facility: facility.map { String(cString: $0) } ?? "",
        text: String(cString: text))
}

private let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    handle, error, reason, _ in
    guard let handle, let context = RDKafkaClient.context(of: handle) else { return }
    let reasonText = reason.map { String(cString: $0) } ?? ""
    context.clientError(rd_kafka_resp_err_t(rawValue: error), reason: reasonText, handle: handle)
}

extension Logger.Level {
    /// librdkafka logs with syslog levels (0 emergency ... 7 debug).
    init(syslogLevel: Int32) {
        switch syslogLevel {
        case ...2: self = .critical
        case 3: self = .error
        case 4: self = .warning
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }
}

// MARK: - Topic partition lists

extension RDKafkaClient {
    /// The partitions of an `rd_kafka_topic_partition_list_t` (borrowed, not destroyed).
    static func topicPartitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let list, list.pointee.cnt > 0, let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            TopicPartition(
                topic: String(cString: elements[index].topic), partition: Int(elements[index].partition))
        }
    }

    /// Calls `body` with a new list holding `offsets` (offset -1001, "invalid", where nil); frees it after.
    static func withTopicPartitionList<Result, Failure: Error>(
        _ offsets: [(TopicPartition, Int64?)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: offsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topicPartition, offset) in offsets {
            let element = rd_kafka_topic_partition_list_add(list, topicPartition.topic, Int32(topicPartition.partition))!
            element.pointee.offset = offset ?? Int64(RD_KAFKA_OFFSET_INVALID)
        }
        return try body(list)
    }

    /// A short description of a list for logs: "topic[0], topic[2]".
    static func describe(_ partitions: [TopicPartition]) -> String {
        partitions.isEmpty ? "none" : partitions.map(\.description).joined(separator: ", ")
    }
}

extension String {
    /// The NUL-terminated text in a buffer librdkafka wrote an error message into.
    init(cText buffer: [CChar]) {
        self = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
