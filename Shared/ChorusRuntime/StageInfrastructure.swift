import Contracts
import Foundation
import Kafka
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import Synchronization

/// What a pipeline stage stands on: its producer, its database pool and its consumers, built from
/// one configuration and checked at start-up (a bad setting fails with one line before any work).
public struct StageInfrastructure: Sendable {
    public let name: String
    public let reader: ConfigurationReader
    public let kafka: KafkaSettings
    public let producer: KafkaProducer
    public let database: PostgresPool
    public let logger: Logger
    private let fetchWait: Duration

    public static func connect(name: String, reader: ConfigurationReader, logger: Logger) async throws -> StageInfrastructure {
        let kafka = try KafkaSettings(reader: reader)
        let fetchWait = try kafka.fetchWait(reader, stage: name)
        try await kafka.prepare(topics: Topics.all, logger: logger)
        let database = try await DatabaseSettings(reader: reader).connectedPool(applicationName: name, logger: logger)
        let producer = try KafkaProducer(configuration: kafka.producer(id: name), logger: logger)
        return StageInfrastructure(
            name: name, reader: reader, kafka: kafka, producer: producer, database: database, logger: logger, fetchWait: fetchWait)
    }

    /// A consumer in group `<namespace>-<group>` (one group per stage: instances share its partitions).
    ///
    /// Its lag per partition is the gauge `chorus_consumer_lag{group,topic,partition}`, from
    /// librdkafka's statistics every 5 s.
    public func consumer(group: String, topics: [String]) throws -> KafkaConsumer {
        let id = "\(name)-\(ProcessInfo.processInfo.processIdentifier)"
        let groupID = Topics.current.group(group)
        var configuration = kafka.consumer(id: id, group: groupID, topics: topics, fetchWait: fetchWait)
        configuration.statisticsInterval = .seconds(5)
        configuration.onStatistics = LagGauges(group: groupID).record
        return try KafkaConsumer(configuration: configuration, logger: logger)
    }

    /// The stage's operator endpoints (`/metrics` and `/healthz` on `metrics.port`) and its heartbeat
    /// for `chorus status`. List them last in the ServiceGroup: they stop first, and the heartbeat
    /// deletes its row while the database pool is still open.
    public func operations() throws -> [any Service] {
        let settings = try OperationsServer.Settings(reader: reader, service: name)
        let heartbeat = ServiceHeartbeat(
            service: name, host: ServiceHeartbeat.advertisedHost(for: settings.host), database: database, logger: logger)
        return [heartbeat, OperationsServer(service: name, settings: settings, heartbeat: heartbeat, logger: logger)]
    }

    /// Publishes a value as JSON under `key` (a request id; a call id for model calls), with the current trace's `traceparent`
    /// (``MessageContext``) unless `headers` carry one.
    public func publish<T: Encodable>(_ value: T, to topic: String, key: String, headers: [KafkaHeader] = []) async throws {
        try await publish([try message(value, to: topic, key: key, headers: headers)])
    }

    /// A value as JSON under `key`, with the current trace's `traceparent` unless `headers` carry one:
    /// one message of a batch for ``publish(_:)``.
    public func message<T: Encodable>(_ value: T, to topic: String, key: String, headers: [KafkaHeader] = []) throws -> KafkaOutgoingMessage {
        KafkaOutgoingMessage(topic: topic, key: Array(key.utf8), value: try JSONCoding.encode(value), headers: headers.withTraceParent())
    }

    /// Publishes messages together and waits until the broker acknowledged all of them: one wait for
    /// the slowest acknowledgement instead of one after another. Messages of one partition keep their order.
    public func publish(_ messages: [KafkaOutgoingMessage]) async throws {
        _ = try await producer.send(messages)
        for message in messages { ChorusMetrics.produced(name, message.topic).increment() }
    }

    /// Values as JSON, each under its key, published together (for ``Trail/TrailStore/serve(_:publish:run:)``).
    @Sendable public func publish(values: [(value: any Encodable & Sendable, topic: String, key: String)]) async throws {
        var messages: [KafkaOutgoingMessage] = []
        for (value, topic, key) in values { messages.append(try message(value, to: topic, key: key)) }
        try await publish(messages)
    }
}

/// The JSON coding every stage uses for messages.
public enum JSONCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    /// Decodes a message value; a failure is poison (the bytes will never decode).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw StageFailure.poison("undecodable", "the message is not a valid \(T.self)")
        }
    }
}

/// `chorus_consumer_lag{group,topic,partition}` of one consumer: partitions no longer reported (given
/// to another member) drop to 0, so the sum over instances stays the group's lag.
final class LagGauges: Sendable {
    private let group: String
    private let gauges = MetricFamily<Gauge>(gauge: "chorus_consumer_lag", labels: ["group", "topic", "partition"])
    private let reported = Mutex<Set<[String]>>([])

    init(group: String) {
        self.group = group
    }

    @Sendable func record(_ statistics: KafkaConsumerStatistics) {
        var now = Set<[String]>()
        for partition in statistics.partitions {
            let labels = [partition.topic, String(partition.partition)]
            now.insert(labels)
            gauges(group, labels[0], labels[1]).record(partition.lag)
        }
        let gone = reported.withLock { reported in
            defer { reported = now }
            return reported.subtracting(now)
        }
        for labels in gone { gauges(group, labels[0], labels[1]).record(0) }
    }
}
