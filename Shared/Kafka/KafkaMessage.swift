import struct Foundation.Date

/// One Kafka record header. A header may carry no value at all (`nil`), which differs from an empty one.
public struct KafkaHeader: Hashable, Sendable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }
}

/// A message received by a ``KafkaConsumer``.
///
/// Pass it to ``KafkaConsumer/markProcessed(_:)`` once its effects are durable.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var partition: Int
    public var offset: Int64
    /// The record key; `nil` when the producer sent none.
    public var key: [UInt8]?
    /// The record value; empty when the producer sent an empty or null value.
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// When the record was created (or appended, per the topic's timestamp type); `nil` if unknown.
    public var timestamp: Date?

    /// Which consumer and which assignment of the partition handed this message out;
    /// `nil` for messages made by hand, which markProcessed ignores.
    var receipt: Receipt?

    struct Receipt: Hashable, Sendable {
        var consumerID: UInt64
        var generation: UInt64
    }

    /// Makes a message by hand, for tests of code that consumes messages.
    ///
    /// ``KafkaConsumer/markProcessed(_:)`` ignores such messages.
    public init(
        topic: String, partition: Int, offset: Int64, key: [UInt8]? = nil, value: [UInt8],
        headers: [KafkaHeader] = [], timestamp: Date? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.receipt = nil
    }

    /// The value of the first header called `name`, if any has a value.
    public func header(_ name: String) -> [UInt8]? {
        headers.first { $0.name == name }?.value
    }
}

/// A message to hand to ``KafkaProducer/send(_:)``.
public struct KafkaOutgoingMessage: Sendable {
    public var topic: String
    /// Messages with the same key go to the same partition, in order. `nil` spreads messages.
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, key: [UInt8]? = nil, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Where the broker stored a message it acknowledged.
public struct KafkaDeliveryReport: Hashable, Sendable {
    public var topic: String
    public var partition: Int
    public var offset: Int64

    public init(topic: String, partition: Int, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A partition of a topic.
struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    var topic: String
    var partition: Int

    var description: String { "\(topic)[\(partition)]" }
}
