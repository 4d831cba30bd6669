import Foundation
import Logging
import Synchronization
import Testing

@testable import Kafka

extension Logger {
    /// Warnings and errors only, unless CHORUS_TEST_LOG_LEVEL says otherwise.
    static let kafkaTests: Logger = {
        var logger = Logger(label: "KafkaTests")
        let level = ProcessInfo.processInfo.environment["CHORUS_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .warning
        return logger
    }()
}

/// The embedded broker (Tansu) unless CHORUS_KAFKA_BROKERS points elsewhere.
let testBrokers = ProcessInfo.processInfo.environment["CHORUS_KAFKA_BROKERS"] ?? "127.0.0.1:9092"

/// A name no other test (or earlier run) uses.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
}

func clientConfiguration() -> KafkaClientConfiguration {
    KafkaClientConfiguration(
        bootstrapBrokers: testBrokers, bootstrapBrokersSettingName: "CHORUS_KAFKA_BROKERS", clientID: "kafka-tests")
}

func consumerConfiguration(group: String, topic: String) -> KafkaConsumerConfiguration {
    KafkaConsumerConfiguration(client: clientConfiguration(), groupID: group, topics: [topic])
}

/// Creates a topic on the test broker and returns its name.
func makeTopic(_ prefix: String, partitions: Int = 4) async throws -> String {
    let name = uniqueName(prefix)
    try await KafkaAdmin(configuration: clientConfiguration(), logger: .kafkaTests)
        .createTopics([KafkaTopicSpecification(name: name, partitions: partitions)])
    return name
}

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing after `seconds`: a guard against hangs, not a timing assertion.
@discardableResult
func withTimeout<Result: Sendable>(
    _ seconds: Int = 60, _ what: String, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw TestTimeout(what: what) }
        return result
    }
}

/// Polls `condition` until it holds; fails after `seconds`.
func waitUntil(_ seconds: Int = 60, _ what: String, _ condition: @escaping @Sendable () -> Bool) async throws {
    try await withTimeout(seconds, what) {
        while !condition() { try await Task.sleep(for: .milliseconds(50)) }
        return true
    }
}

extension KafkaConsumer {
    /// Takes the next `count` messages.
    func take(_ count: Int, seconds: Int = 60) async throws -> [KafkaMessage] {
        try await withTimeout(seconds, "\(count) messages") {
            var taken: [KafkaMessage] = []
            for try await message in self.messages {
                taken.append(message)
                if taken.count == count { break }
            }
            return taken
        }
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

/// State shared between the tasks of a test.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
