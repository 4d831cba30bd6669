import Contracts
import Foundation
import Kafka
import Logging
import Postgres

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
        let fetchWait = try kafka.fetchWait(reader)
        try await kafka.prepare(topics: Topics.all, logger: logger)
        let database = try await DatabaseSettings(reader: reader).connectedPool(applicationName: name, logger: logger)
        let producer = try KafkaProducer(configuration: kafka.producer(id: name), logger: logger)
        return StageInfrastructure(
            name: name, reader: reader, kafka: kafka, producer: producer, database: database, logger: logger, fetchWait: fetchWait)
    }

    /// A consumer in group `<namespace>-<group>` (one group per stage: instances share its partitions).
    public func consumer(group: String, topics: [String]) throws -> KafkaConsumer {
        let id = "\(name)-\(ProcessInfo.processInfo.processIdentifier)"
        return try KafkaConsumer(
            configuration: kafka.consumer(id: id, group: Topics.current.group(group), topics: topics, fetchWait: fetchWait), logger: logger)
    }

    /// Publishes a value as JSON, keyed by request id.
    public func publish<T: Encodable>(_ value: T, to topic: String, key: String, headers: [KafkaHeader] = []) async throws {
        _ = try await producer.send(topic: topic, key: Array(key.utf8), value: try JSONCoding.encode(value), headers: headers)
    }

    /// ``publish(_:to:key:headers:)`` as a plain function value (for ``Trail/TrailStore/serve(_:publish:run:)``).
    @Sendable public func publish(_ value: any Encodable & Sendable, _ topic: String, _ key: String) async throws {
        _ = try await producer.send(topic: topic, key: Array(key.utf8), value: try JSONCoding.encode(value))
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
