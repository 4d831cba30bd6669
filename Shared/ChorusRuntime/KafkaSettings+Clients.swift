import Kafka
import Logging

extension KafkaSettings {
    /// `kafka.fetch_wait` / `CHORUS_KAFKA_FETCH_WAIT`: how long a fetch may wait at the broker for data.
    ///
    /// Tansu answers a waiting fetch only when the wait ends, so this bounds each hop's latency (1 ms
    /// ≈ 2 ms per hop) at the price of idle polling: each consumer waiting at 1 ms costs Tansu about
    /// 15% of a core, 7% at 5 ms, 2% at 100 ms (measured 2026-11-21). Real Kafka answers early: raise it there.
    ///
    /// `kafka.fetch_waits.<stage>` / `CHORUS_KAFKA_FETCH_WAITS_<STAGE>` sets one stage's wait. Stages off
    /// the answer's critical path wait longer by default (``offPathFetchWaits``), never less than `kafka.fetch_wait`.
    public func fetchWait(_ reader: ConfigurationReader, stage: String? = nil) throws -> Duration {
        let base = try reader.duration("kafka.fetch_wait", default: .milliseconds(1))
        guard let stage else { return base }
        let fallback = max(base, Self.offPathFetchWaits[stage] ?? base)
        return try reader.duration("kafka.fetch_waits.\(stage)", default: fallback)
    }

    /// Default fetch waits of the stages whose hops do not hold up an answer by much: billing meters
    /// after the fact; a local model's call takes far longer than a few milliseconds of fetch wait.
    public static let offPathFetchWaits: [String: Duration] = [
        "billing": .milliseconds(100),
        "gpu-inference": .milliseconds(5),
    ]

    public func client(id: String) -> KafkaClientConfiguration {
        KafkaClientConfiguration(
            bootstrapBrokers: brokers, bootstrapBrokersSettingName: brokersSettingName, clientID: id, rawSettings: rawSettings)
    }

    /// A producer that survives the broker losing its memory.
    ///
    /// Idempotence is off: its state (producer id and sequence numbers) lives in the broker, and a
    /// memory-only broker that restarts forgets it, after which every send fails with
    /// UNKNOWN_PRODUCER_ID until the process restarts (seen with Tansu 0.6 and librdkafka 2.16).
    /// Nothing is lost by it: a retried send may write a message twice, and every Chorus consumer
    /// drops repeats by key (call id, usage event id, request id). `acks=all` stays; `kafka.settings`
    /// can switch idempotence back on for a durable cluster.
    ///
    /// One produce request in flight per connection: messages sent while one is outstanding go out
    /// together in the next, so under load a stage makes few large requests instead of one per
    /// message (Tansu's cost is per request and per record batch), and an idle one sends at once.
    public func producer(id: String) -> KafkaProducerConfiguration {
        var raw = ["enable.idempotence": "false", "acks": "all", "max.in.flight.requests.per.connection": "1"]
        raw.merge(rawSettings) { _, configured in configured }
        return KafkaProducerConfiguration(client: client(id: id), rawSettings: raw)
    }

    public func consumer(id: String, group: String, topics: [String], fetchWait: Duration) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(client: client(id: id), groupID: group, topics: topics, fetchWaitMax: fetchWait)
    }

    /// Checks the loaded librdkafka and that a broker answers; creates `topics` (idempotent).
    public func prepare(topics: [String], logger: Logger) async throws {
        try Kafka.checkRuntimeVersion()
        let admin = KafkaAdmin(configuration: client(id: "chorus-admin"), logger: logger)
        try await admin.checkReachability()
        try await admin.createTopics(
            topics.map { KafkaTopicSpecification(name: $0, partitions: partitions, replicationFactor: replicationFactor) })
    }
}
