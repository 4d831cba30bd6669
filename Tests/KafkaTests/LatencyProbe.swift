import Foundation
import Testing

@testable import Kafka

/// Produce→consume latency against the real broker, for choosing defaults. Opt-in (it measures, and
/// timings belong in benchmarks, not tests): `CHORUS_KAFKA_LATENCY=1 swift test --filter LatencyProbe`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CHORUS_KAFKA_LATENCY"] != nil))
struct LatencyProbe {
    struct Setting: Sendable, CustomTestStringConvertible {
        var fetchWaitMax: Duration
        var linger: Duration
        var testDescription: String { "fetch.wait.max \(fetchWaitMax.shortDescription), linger \(linger.shortDescription)" }
    }

    @Test(
        .serialized,
        arguments: [
            Setting(fetchWaitMax: .milliseconds(1), linger: .zero),
            Setting(fetchWaitMax: .milliseconds(1), linger: .milliseconds(1)),
            Setting(fetchWaitMax: .milliseconds(2), linger: .zero),
            Setting(fetchWaitMax: .milliseconds(5), linger: .zero),
            Setting(fetchWaitMax: .milliseconds(10), linger: .zero),
        ])
    func oneMessageAtATime(setting: Setting) async throws {
        let topic = try await makeTopic("latency", partitions: 1)
        var consumerConfiguration = consumerConfiguration(group: uniqueName("g"), topic: topic)
        consumerConfiguration.fetchWaitMax = setting.fetchWaitMax
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: .kafkaTests)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: clientConfiguration(), linger: setting.linger),
            logger: .kafkaTests)
        // Warm up: the group join and the first fetches.
        _ = try await producer.send(topic: topic, value: [0])
        _ = try await consumer.take(1)

        let clock = ContinuousClock()
        var endToEnd: [Duration] = []
        var acknowledged: [Duration] = []
        var iterator = consumer.messages.makeAsyncIterator()
        for index in 0..<300 {
            let start = clock.now
            async let report = producer.send(topic: topic, value: bytes("\(index)"))
            let message = try await iterator.next()
            endToEnd.append(clock.now - start)
            _ = try await report
            acknowledged.append(clock.now - start)
            #expect(message.map { text($0.value) } == "\(index)")
            // Let the consumer's fetch go idle, as between real requests.
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...10)))
        }
        await producer.shutdown()
        try await consumer.close()
        print("latency \(setting.testDescription): produce→consume \(summary(endToEnd)); send→ack-or-consume \(summary(acknowledged))")
    }

    @Test(arguments: [Duration.zero, .milliseconds(1), .milliseconds(5)])
    func throughputOfConcurrentSenders(linger: Duration) async throws {
        let topic = try await makeTopic("throughput")
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: clientConfiguration(), linger: linger),
            logger: .kafkaTests)
        _ = try await producer.send(topic: topic, value: [0])
        let clock = ContinuousClock()
        let start = clock.now
        let total = 20_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<64 {
                group.addTask {
                    for index in stride(from: sender, to: total, by: 64) {
                        _ = try await producer.send(topic: topic, key: bytes("\(index % 97)"), value: bytes("\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        await producer.shutdown()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("throughput linger \(linger.shortDescription): \(Int(Double(total) / seconds)) acknowledged sends/s with 64 concurrent senders")
        #expect(seconds > 0)
    }

    /// How long a commit takes: shows whether rd_kafka_queue_yield wakes the poll thread at once
    /// (a few ms) or the 100 ms poll timeout does.
    @Test func commitRoundTrip() async throws {
        let topic = try await makeTopic("commit-latency", partitions: 1)
        let consumer = try KafkaConsumer(configuration: consumerConfiguration(group: uniqueName("g"), topic: topic), logger: .kafkaTests)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: clientConfiguration()), logger: .kafkaTests)
        _ = try await producer.send(topic: topic, value: [0])
        await producer.shutdown()
        let message = try await consumer.take(1)[0]
        consumer.markProcessed(message)
        let clock = ContinuousClock()
        var samples: [Duration] = []
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(30))
            let start = clock.now
            try await consumer.commit()
            samples.append(clock.now - start)
        }
        let start = clock.now
        try await consumer.close()
        print("commit \(summary(samples)); close \(summary([clock.now - start]))")
        #expect(samples.count == 20)
    }

    func summary(_ samples: [Duration]) -> String {
        let sorted = samples.sorted()
        func at(_ fraction: Double) -> String {
            let sample = sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
            let microseconds = sample.components.seconds * 1_000_000 + sample.components.attoseconds / 1_000_000_000_000
            return String(format: "%.2fms", Double(microseconds) / 1000)
        }
        return "p50 \(at(0.5)) p90 \(at(0.9)) p99 \(at(0.99))"
    }
}
