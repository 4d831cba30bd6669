import CRdKafka

/// An error from the Kafka wrapper: what failed, librdkafka's code for it, and whether retrying can help.
///
/// Descriptions name the operation, topic or setting that failed; they never contain message keys,
/// values or headers, nor the values of secret settings.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// What kind of operation failed. New codes may be added; switch with a `default` case.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The loaded librdkafka is too old to talk to the brokers.
        public static let unsupportedRuntime = Code("unsupportedRuntime")
        /// A setting was rejected by librdkafka, or the client could not be created.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// No broker of the bootstrap list answered in time.
        public static let brokersUnreachable = Code("brokersUnreachable")
        /// A message could not be enqueued or was not acknowledged by the broker.
        public static let deliveryFailed = Code("deliveryFailed")
        /// Committing consumer offsets failed.
        public static let commitFailed = Code("commitFailed")
        /// Creating or describing topics failed.
        public static let topicAdministrationFailed = Code("topicAdministrationFailed")
        /// An operation did not finish within its timeout.
        public static let timedOut = Code("timedOut")
        /// The producer or consumer was shut down before or during the operation.
        public static let shutDown = Code("shutDown")
        /// librdkafka reported a fatal error; the client cannot be used any more.
        public static let fatal = Code("fatal")
    }

    /// What kind of operation failed.
    public var code: Code
    /// librdkafka's `rd_kafka_resp_err_t` value, where librdkafka reported one.
    public var rdKafkaCode: Int?
    /// Whether the same operation may succeed if tried again (a transient broker or network condition).
    public var isRetriable: Bool
    /// What went wrong, in one line, without payloads or secrets.
    public var message: String

    public init(code: Code, rdKafkaCode: Int? = nil, isRetriable: Bool = false, message: String) {
        self.code = code
        self.rdKafkaCode = rdKafkaCode
        self.isRetriable = isRetriable
        self.message = message
    }

    public var description: String {
        if let rdKafkaCode {
            return "KafkaError.\(code) (librdkafka \(rdKafkaCode)): \(message)"
        }
        return "KafkaError.\(code): \(message)"
    }
}

// MARK: - Translation from librdkafka

extension KafkaError {
    /// Translates an `rd_kafka_resp_err_t`; `context` says what was being done ("delivery to topic 'x'").
    init(code: Code, rdKafkaError error: rd_kafka_resp_err_t, context: String) {
        self.init(
            code: code,
            rdKafkaCode: Int(error.rawValue),
            isRetriable: Self.isTransient(error),
            message: "\(context): \(String(cString: rd_kafka_err2str(error)))")
    }

    /// Translates and destroys an `rd_kafka_error_t` (the caller gives up ownership).
    init(code: Code, consuming error: OpaquePointer, context: String) {
        defer { rd_kafka_error_destroy(error) }
        let errorCode = rd_kafka_error_code(error)
        self.init(
            code: rd_kafka_error_is_fatal(error) != 0 ? .fatal : code,
            rdKafkaCode: Int(errorCode.rawValue),
            isRetriable: rd_kafka_error_is_retriable(error) != 0 || Self.isTransient(errorCode),
            message: "\(context): \(String(cString: rd_kafka_error_string(error)))")
    }

    /// Codes that describe a passing broker or network condition rather than a bad request.
    static func isTransient(_ error: rd_kafka_resp_err_t) -> Bool {
        switch error {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__RESOLVE,
            RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR__IN_PROGRESS,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND,
            RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
            return true
        default:
            return false
        }
    }
}
