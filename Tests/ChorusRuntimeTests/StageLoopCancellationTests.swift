import Foundation
import Kafka
import Logging
import Synchronization
import Testing

@testable import ChorusRuntime

/// A stage cancelled mid-message (its shutdown outlasted the grace period) leaves the message for
/// redelivery: no retries, no dead letter, no commit. Against the real broker.
@Suite struct StageLoopCancellationTests {
    static let brokers = ProcessInfo.processInfo.environment["CHORUS_KAFKA_BROKERS"] ?? "127.0.0.1:9092"

    @Test func aCancelledMessageIsNeitherRetriedNorDeadLetteredNorCommitted() async throws {
        let logger = Logger(label: "stage-loop-tests")
        let client = KafkaClientConfiguration(bootstrapBrokers: Self.brokers, clientID: "stage-loop-tests")
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let topic = "stage-loop-cancel-\(suffix)"
        let group = "stage-loop-cancel-\(suffix)"
        try await KafkaAdmin(configuration: client, logger: logger).createTopics([KafkaTopicSpecification(name: topic, partitions: 1)])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        _ = try await producer.send(topic: topic, key: Array("req-1".utf8), value: Array("{}".utf8))
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: client, groupID: group, topics: [topic]), logger: logger)

        let calls = Atomic(0)
        let loop = StageLoop(name: "test", consumer: consumer, producer: producer, logger: logger) { _ in
            calls.add(1, ordering: .relaxed)
            try await Task.sleep(for: .seconds(3600))  // throws CancellationError when cancelled
            return .done
        }
        let running = Task { try await loop.run() }
        // Guards against a hang, not a timing assertion.
        let deadline = ContinuousClock.now + .seconds(60)
        while calls.load(ordering: .relaxed) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(calls.load(ordering: .relaxed) == 1)
        running.cancel()
        _ = await running.result

        #expect(calls.load(ordering: .relaxed) == 1)  // not retried
        try await consumer.close()  // commits whatever was marked processed
        let committed = try await KafkaAdmin(configuration: client, logger: logger).committedOffsets(group: group, topic: topic)
        #expect(committed[0] == nil)  // not marked processed: redelivered after a restart
        await producer.shutdown()
    }
}
