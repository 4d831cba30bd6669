import Foundation
import Logging
import Synchronization
import Testing

@testable import Kafka

/// Producer, consumer and admin against the embedded broker (Tansu on 127.0.0.1:9092).
@Suite("Kafka against the real broker")
struct KafkaBrokerTests {
    @Test func roundTripKeepsKeysValuesAndHeaders() async throws {
        let topic = try await makeTopic("round-trip")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        let headers = [
            KafkaHeader(name: "trace-id", value: bytes("abc-123")),
            KafkaHeader(name: "empty", value: []),
            KafkaHeader(name: "absent", value: nil),
            KafkaHeader(name: "trace-id", value: bytes("repeated")),
        ]
        var sent: [KafkaOutgoingMessage] = (0..<40).map { index in
            KafkaOutgoingMessage(
                topic: topic, key: bytes("key-\(index)"), value: bytes("value-\(index)") + [0, 255],
                headers: index.isMultiple(of: 2) ? headers : [])
        }
        sent.append(KafkaOutgoingMessage(topic: topic, key: bytes("key-empty"), value: []))
        // Half in one batch, the rest one by one.
        let batchReports = try await producer.send(Array(sent[..<20]))
        #expect(batchReports.count == 20)
        #expect(batchReports.allSatisfy { $0.topic == topic && $0.offset >= 0 })
        for message in sent[20...] {
            let report = try await producer.send(
                topic: message.topic, key: message.key, value: message.value, headers: message.headers)
            #expect(report.topic == topic)
        }
        // One message without a key.
        _ = try await producer.send(topic: topic, value: bytes("keyless"))
        await producer.shutdown()

        let consumer = try KafkaConsumer(configuration: consumerConfiguration(group: uniqueName("g"), topic: topic), logger: .kafkaTests)
        let received = try await consumer.take(sent.count + 1)
        try await consumer.close()

        let byKey = Dictionary(uniqueKeysWithValues: received.compactMap { message in message.key.map { (text($0)!, message) } })
        #expect(byKey.count == sent.count)
        for message in sent {
            let got = try #require(byKey[text(message.key)!])
            #expect(got.value == message.value)
            #expect(got.headers == message.headers)
            #expect(got.topic == topic)
            #expect(got.timestamp != nil)
        }
        let keyless = received.filter { $0.key == nil }
        #expect(keyless.count == 1 && keyless.first.map { text($0.value) } == "keyless")
        #expect(received.first { $0.key != nil && !$0.headers.isEmpty }?.header("trace-id") == bytes("abc-123"))
    }

    struct Seen: Sendable {
        var member: Int
        var partition: Int
    }

    @Test(arguments: ["range,roundrobin", "cooperative-sticky"])
    func twoMembersSplitThePartitions(strategy: String) async throws {
        let topic = try await makeTopic("split")
        let group = uniqueName("g")
        var configuration = consumerConfiguration(group: group, topic: topic)
        configuration.rawSettings["partition.assignment.strategy"] = strategy
        let first = try KafkaConsumer(configuration: configuration, logger: .kafkaTests)
        let second = try KafkaConsumer(configuration: configuration, logger: .kafkaTests)
        try await waitUntil(60, "both members to hold disjoint, non-empty shares of 4 partitions") {
            let (a, b) = (first.assignment, second.assignment)
            return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.count + b.count == 4
        }

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        let reports = try await producer.send((0..<40).map { KafkaOutgoingMessage(topic: topic, key: bytes("key-\($0)"), value: bytes("\($0)")) })
        await producer.shutdown()
        try #require(Set(reports.map(\.partition)) == [0, 1, 2, 3], "the keys should cover every partition")

        let seen = Shared<[String: Seen]>([:])
        try await withTimeout(60, "40 messages across both members") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (member, consumer) in [first, second].enumerated() {
                    group.addTask { [seen] in
                        for try await message in consumer.messages {
                            let done = seen.withLock { seen in
                                seen[text(message.value)!] = Seen(member: member, partition: message.partition)
                                return seen.count == 40
                            }
                            consumer.markProcessed(message)
                            if done { return }
                        }
                    }
                }
                // The first member to see the 40th message ends; the other is cancelled.
                try await group.next()
                group.cancelAll()
            }
            return true
        }
        try await first.close()
        try await second.close()

        let received = seen.withLock { $0 }
        #expect(received.count == 40)
        let firstPartitions = Set(received.values.filter { $0.member == 0 }.map(\.partition))
        let secondPartitions = Set(received.values.filter { $0.member == 1 }.map(\.partition))
        #expect(!firstPartitions.isEmpty && !secondPartitions.isEmpty)
        #expect(firstPartitions.isDisjoint(with: secondPartitions))
        #expect(firstPartitions.union(secondPartitions) == [0, 1, 2, 3])
    }

    @Test func committedOffsetsSurviveARestart() async throws {
        let topic = try await makeTopic("restart", partitions: 1)
        let group = uniqueName("g")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        _ = try await producer.send((0..<10).map { KafkaOutgoingMessage(topic: topic, value: bytes("\($0)")) })
        await producer.shutdown()

        let first = try KafkaConsumer(configuration: consumerConfiguration(group: group, topic: topic), logger: .kafkaTests)
        let firstFive = try await first.take(5)
        #expect(firstFive.map(\.offset) == [0, 1, 2, 3, 4])
        // Finish out of order, as concurrent processing would.
        for message in firstFive.reversed() { first.markProcessed(message) }
        try await first.close()

        let second = try KafkaConsumer(configuration: consumerConfiguration(group: group, topic: topic), logger: .kafkaTests)
        let rest = try await second.take(5)
        try await second.close()
        #expect(rest.map(\.offset) == [5, 6, 7, 8, 9])
        #expect(rest.map { text($0.value) } == ["5", "6", "7", "8", "9"])
    }

    @Test func commitStoresOnlyTheProcessedPrefix() async throws {
        let topic = try await makeTopic("commit", partitions: 1)
        let group = uniqueName("g")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        _ = try await producer.send((0..<6).map { KafkaOutgoingMessage(topic: topic, value: bytes("\($0)")) })
        await producer.shutdown()

        var configuration = consumerConfiguration(group: group, topic: topic)
        configuration.autoCommitInterval = .seconds(600)  // only the explicit commit counts here
        let consumer = try KafkaConsumer(configuration: configuration, logger: .kafkaTests)
        let admin = KafkaAdmin(configuration: clientConfiguration(), logger: .kafkaTests)
        let messages = try await consumer.take(6)
        // 0, 1, 2 and 4 are done; 3 is still being processed.
        for offset in [4, 2, 0, 1] { consumer.markProcessed(messages[offset]) }
        try await consumer.commit()
        #expect(try await admin.committedOffsets(group: group, topic: topic) == [0: 3])

        consumer.markProcessed(messages[3])
        try await consumer.commit()
        #expect(try await admin.committedOffsets(group: group, topic: topic) == [0: 5])
        try await consumer.close()
    }

    @Test func messageWhoseProcessingFailedIsSeenAgain() async throws {
        let topic = try await makeTopic("redeliver", partitions: 1)
        let group = uniqueName("g")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        _ = try await producer.send(["ok-0", "fails-1", "ok-2"].map { KafkaOutgoingMessage(topic: topic, value: bytes($0)) })
        await producer.shutdown()

        struct ProcessingFailed: Error {}
        func process(_ message: KafkaMessage) throws {
            if text(message.value)!.hasPrefix("fails") { throw ProcessingFailed() }
        }

        let first = try KafkaConsumer(configuration: consumerConfiguration(group: group, topic: topic), logger: .kafkaTests)
        for message in try await first.take(3) {
            do {
                try process(message)
                first.markProcessed(message)
            } catch {}
        }
        try await first.commit()
        try await first.close()

        let second = try KafkaConsumer(configuration: consumerConfiguration(group: group, topic: topic), logger: .kafkaTests)
        let again = try await second.take(2)
        try await second.close()
        // The failed message comes back, and so does the one after it: its offset could not be
        // committed past the failure.
        #expect(again.map(\.offset) == [1, 2])
        #expect(again.map { text($0.value) } == ["fails-1", "ok-2"])
    }

    @Test func slowApplicationPausesFetchingWithoutLosingMessages() async throws {
        let topic = try await makeTopic("backpressure", partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        _ = try await producer.send((0..<300).map { KafkaOutgoingMessage(topic: topic, value: bytes("\($0)")) })
        await producer.shutdown()

        var configuration = consumerConfiguration(group: uniqueName("g"), topic: topic)
        configuration.bufferHighWatermark = 20
        configuration.bufferLowWatermark = 5
        let consumer = try KafkaConsumer(configuration: configuration, logger: .kafkaTests)
        // Nobody takes messages yet: the buffer fills and fetching pauses.
        try await waitUntil(60, "fetching to pause") { consumer.isFetchPaused }
        let received = try await consumer.take(300)
        try await consumer.close()
        #expect(received.map(\.offset) == (0..<300).map(Int64.init))
    }

    @Test func sendWaitsForQueueSpaceInsteadOfFailing() async throws {
        // librdkafka's mock cluster: a full local queue needs no broker to reproduce.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                client: KafkaClientConfiguration(bootstrapBrokers: "", clientID: "queue-full"),
                rawSettings: ["test.mock.num.brokers": "1", "queue.buffering.max.messages": "5"]),
            logger: .kafkaTests)
        let topic = uniqueName("queue-full")
        let reports = try await withTimeout(60, "200 deliveries through a 5-message queue") {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for index in 0..<200 {
                    group.addTask { try await producer.send(topic: topic, value: bytes("\(index)")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        await producer.shutdown()
        #expect(reports.count == 200)
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == 200)
    }

    @Test func sendAfterShutdownFails() async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        await producer.shutdown()
        await producer.shutdown()  // twice is fine
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(topic: "never", value: [1])
        }
        #expect(error?.code == .shutDown)
    }

    @Test func unreachableBrokerFailsWithOneClearLine() async throws {
        var configuration = clientConfiguration()
        configuration.bootstrapBrokers = "127.0.0.1:9999"
        configuration.reachabilityTimeout = .seconds(2)
        let error = await #expect(throws: KafkaError.self) {
            try await KafkaAdmin(configuration: configuration, logger: .kafkaTests).checkReachability()
        }
        #expect(error?.code == .brokersUnreachable)
        #expect(error?.message == "CHORUS_KAFKA_BROKERS=127.0.0.1:9999: no broker answered within 2s (connection refused)")
        #expect(error?.isRetriable == true)
    }

    @Test func reachableBrokerPassesTheCheck() async throws {
        try await KafkaAdmin(configuration: clientConfiguration(), logger: .kafkaTests).checkReachability()
    }

    @Test func creatingTopicsIsIdempotent() async throws {
        let admin = KafkaAdmin(configuration: clientConfiguration(), logger: .kafkaTests)
        let name = uniqueName("created")
        // Three partitions: the broker's auto-creation would make four.
        let topic = KafkaTopicSpecification(name: name, partitions: 3)
        try await admin.createTopics([topic])
        try await admin.createTopics([topic, KafkaTopicSpecification(name: name + "-b", partitions: 2)])
        #expect(try await admin.partitionCount(topic: name) == 3)
        #expect(try await admin.partitionCount(topic: name + "-b") == 2)
        #expect(try await admin.partitionCount(topic: uniqueName("absent")) == nil)
    }

    @Test func consumerRunsAsAServiceUntilCancelled() async throws {
        let topic = try await makeTopic("service")
        let consumer = try KafkaConsumer(configuration: consumerConfiguration(group: uniqueName("g"), topic: topic), logger: .kafkaTests)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            group.addTask { try await producer.run() }
            _ = try await producer.send(topic: topic, value: bytes("hello"))
            let message = try await consumer.take(1)
            #expect(text(message.first?.value) == "hello")
            group.cancelAll()
            try await group.waitForAll()
        }
        // Closed by run(): the sequence is over and sends fail.
        var iterator = consumer.messages.makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        await #expect(throws: KafkaError.self) { _ = try await producer.send(topic: topic, value: [1]) }
    }
}
