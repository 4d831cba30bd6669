/// Settings every Kafka client of a process shares: where the brokers are and who is asking.
public struct KafkaClientConfiguration: Sendable {
    /// Comma-separated `host:port` list of brokers to bootstrap from (librdkafka `bootstrap.servers`).
    public var bootstrapBrokers: String
    /// The name of the setting ``bootstrapBrokers`` came from, e.g. `CHORUS_KAFKA_BROKERS`.
    ///
    /// Only used to write error messages a person can act on.
    public var bootstrapBrokersSettingName: String
    /// The client id brokers see in their logs and quotas (`client.id`).
    public var clientID: String
    /// How long ``KafkaAdmin/checkReachability()`` waits for a broker to answer. Default 5 s.
    public var reachabilityTimeout: Duration
    /// Raw librdkafka properties applied to every client after Chorus's own settings.
    ///
    /// - Important: Values may be secrets (`sasl.password`); they are never logged or put in errors.
    public var rawSettings: [String: String]

    public init(
        bootstrapBrokers: String = "127.0.0.1:9092",
        bootstrapBrokersSettingName: String = "bootstrap.servers",
        clientID: String = "chorus",
        reachabilityTimeout: Duration = .seconds(5),
        rawSettings: [String: String] = [:]
    ) {
        self.bootstrapBrokers = bootstrapBrokers
        self.bootstrapBrokersSettingName = bootstrapBrokersSettingName
        self.clientID = clientID
        self.reachabilityTimeout = reachabilityTimeout
        self.rawSettings = rawSettings
    }

    /// Settings shared by producers, consumers and admin clients, before role-specific ones.
    var librdkafkaSettings: [String: String] {
        [
            "bootstrap.servers": bootstrapBrokers,
            "client.id": clientID,
            // Small requests on a local network: Nagle's algorithm would hold them up to 40 ms.
            "socket.nagle.disable": "true",
            // Log and error callbacks are served by our poll threads, never by librdkafka's own.
            "log.queue": "true",
        ]
    }
}

/// Settings of a ``KafkaProducer``. Defaults aim at low latency against a broker on the same host.
public struct KafkaProducerConfiguration: Sendable {
    /// Brokers, client id and raw settings shared with the other clients.
    public var client: KafkaClientConfiguration
    /// How long librdkafka waits for more messages to batch into one request (`linger.ms`).
    ///
    /// Default 0: a lone message goes out at once (against Tansu, 1 ms of linger added 0.6–1.7 ms to
    /// the produce→consume median). Under load librdkafka still batches what accumulates while
    /// earlier requests are in flight; with 64 concurrent senders on the loaded 2-core dev host,
    /// throughput at 0 and at 1 ms was within run-to-run noise (4,200–9,000 acknowledged sends/s).
    public var linger: Duration
    /// How long librdkafka keeps retrying a message before reporting it failed
    /// (`message.timeout.ms`). Default 30 s.
    public var deliveryTimeout: Duration
    /// How long shutdown waits for outstanding messages before purging them. Default 10 s.
    public var shutdownFlushTimeout: Duration
    /// Raw librdkafka properties applied last, after ``KafkaClientConfiguration/rawSettings``.
    ///
    /// - Important: `enable.idempotence` can be switched off here, which gives up the producer's
    ///   no-duplicates-on-retry guarantee.
    public var rawSettings: [String: String]

    public init(
        client: KafkaClientConfiguration = KafkaClientConfiguration(),
        linger: Duration = .zero,
        deliveryTimeout: Duration = .seconds(30),
        shutdownFlushTimeout: Duration = .seconds(10),
        rawSettings: [String: String] = [:]
    ) {
        self.client = client
        self.linger = linger
        self.deliveryTimeout = deliveryTimeout
        self.shutdownFlushTimeout = shutdownFlushTimeout
        self.rawSettings = rawSettings
    }

    /// Every property handed to librdkafka, raw settings last.
    var librdkafkaSettings: [String: String] {
        var settings = client.librdkafkaSettings
        settings["enable.idempotence"] = "true"
        settings["linger.ms"] = linger.librdkafkaMillisecondsString
        settings["message.timeout.ms"] = deliveryTimeout.librdkafkaMilliseconds
        settings.merge(client.rawSettings) { _, raw in raw }
        settings.merge(rawSettings) { _, raw in raw }
        return settings
    }
}

/// Where a consumer group without committed offsets starts reading.
public struct KafkaAutoOffsetReset: Hashable, Sendable, CustomStringConvertible {
    let value: String
    /// From the oldest message still on the broker: nothing produced before the group existed is skipped.
    public static let earliest = KafkaAutoOffsetReset(value: "earliest")
    /// Only messages produced after the consumer joined.
    public static let latest = KafkaAutoOffsetReset(value: "latest")
    public var description: String { value }
}

/// Settings of a ``KafkaConsumer``. Defaults aim at low latency against a broker on the same host.
public struct KafkaConsumerConfiguration: Sendable {
    /// Brokers, client id and raw settings shared with the other clients.
    public var client: KafkaClientConfiguration
    /// The consumer group (`group.id`); members of one group split the partitions between them.
    public var groupID: String
    /// The topics to subscribe to. They should exist (see ``KafkaAdmin/createTopics(_:timeout:)``):
    /// librdkafka only notices topics created later at its next metadata refresh.
    public var topics: [String]
    /// How long the group coordinator waits for a heartbeat before evicting a member
    /// (`session.timeout.ms`). Default 6 s.
    ///
    /// A member joining a group waits about half of this for the others, so librdkafka's 45 s default
    /// makes every start-up take 23 s; 6 s makes it take about 3 s.
    public var sessionTimeout: Duration
    /// How often the consumer sends heartbeats (`heartbeat.interval.ms`). Default 500 ms.
    public var heartbeatInterval: Duration
    /// The longest gap between two polls before the member leaves the group (`max.poll.interval.ms`).
    /// Default 5 min.
    ///
    /// The consumer's own thread polls continuously, so slow message processing does not count
    /// against this; only a stuck poll thread would.
    public var maxPollInterval: Duration
    /// How long the broker may hold a fetch request that found no new data (`fetch.wait.max.ms`).
    /// Default 1 ms.
    ///
    /// Tansu does not answer a waiting fetch early when data arrives, so a message produced into an
    /// idle partition waits for the current fetch to expire: latency grows with this value. Measured
    /// produce→consume medians against Tansu on a quiet host (librdkafka 2.16): 2.0 ms at 1 ms,
    /// 2.9 ms at 2 ms, 4.1 ms at 5 ms, 6.6 ms at 10 ms, 252 ms at librdkafka's default of 500 ms.
    /// - Important: Each idle consumer sends a fetch per wait period; at 1 ms that is ~500 fetches/s,
    ///   costing Tansu ~17% of a core per idle consumer (~15% at 2 ms, ~8% at 5 ms). Raise this where CPU matters
    ///   more than latency.
    public var fetchWaitMax: Duration
    /// Where a group without committed offsets starts. Default ``KafkaAutoOffsetReset/earliest``.
    public var autoOffsetReset: KafkaAutoOffsetReset
    /// How often stored offsets are committed in the background (`auto.commit.interval.ms`). Default 1 s.
    ///
    /// Only offsets of messages passed to ``KafkaConsumer/markProcessed(_:)`` are ever committed; a
    /// shorter interval means fewer redeliveries after a crash.
    public var autoCommitInterval: Duration
    /// Received messages waiting to be taken from ``KafkaConsumer/messages`` above which the consumer
    /// pauses fetching. Default 1,024.
    public var bufferHighWatermark: Int
    /// Waiting messages at or below which a paused consumer resumes fetching. Default 256.
    public var bufferLowWatermark: Int
    /// Raw librdkafka properties applied last, after ``KafkaClientConfiguration/rawSettings``.
    ///
    /// - Important: Setting `enable.auto.offset.store` to `true` here breaks at-least-once delivery:
    ///   offsets would be committed before messages are processed.
    public var rawSettings: [String: String]
    /// How often librdkafka reports statistics to ``onStatistics`` (`statistics.interval.ms`).
    /// Default nil: no statistics.
    public var statisticsInterval: Duration? = nil
    /// Receives each statistics report (the consumer lag of each assigned partition).
    ///
    /// - Important: It runs on the consumer's poll thread: it must return quickly and never block.
    public var onStatistics: (@Sendable (KafkaConsumerStatistics) -> Void)? = nil

    public init(
        client: KafkaClientConfiguration = KafkaClientConfiguration(),
        groupID: String,
        topics: [String],
        sessionTimeout: Duration = .seconds(6),
        heartbeatInterval: Duration = .milliseconds(500),
        maxPollInterval: Duration = .seconds(300),
        fetchWaitMax: Duration = .milliseconds(1),
        autoOffsetReset: KafkaAutoOffsetReset = .earliest,
        autoCommitInterval: Duration = .seconds(1),
        bufferHighWatermark: Int = 1024,
        bufferLowWatermark: Int = 256,
        rawSettings: [String: String] = [:]
    ) {
        self.client = client
        self.groupID = groupID
        self.topics = topics
        self.sessionTimeout = sessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.maxPollInterval = maxPollInterval
        self.fetchWaitMax = fetchWaitMax
        self.autoOffsetReset = autoOffsetReset
        self.autoCommitInterval = autoCommitInterval
        self.bufferHighWatermark = bufferHighWatermark
        self.bufferLowWatermark = bufferLowWatermark
        self.rawSettings = rawSettings
    }

    /// Every property handed to librdkafka, raw settings last.
    var librdkafkaSettings: [String: String] {
        var settings = client.librdkafkaSettings
        settings["group.id"] = groupID
        settings["enable.auto.commit"] = "true"
        // At-least-once: offsets are stored by markProcessed, never when librdkafka hands a message out.
        settings["enable.auto.offset.store"] = "false"
        settings["auto.commit.interval.ms"] = autoCommitInterval.librdkafkaMilliseconds
        settings["session.timeout.ms"] = sessionTimeout.librdkafkaMilliseconds
        settings["heartbeat.interval.ms"] = heartbeatInterval.librdkafkaMilliseconds
        settings["max.poll.interval.ms"] = maxPollInterval.librdkafkaMilliseconds
        settings["fetch.wait.max.ms"] = fetchWaitMax.librdkafkaMilliseconds
        settings["auto.offset.reset"] = autoOffsetReset.value
        if let statisticsInterval, onStatistics != nil {
            settings["statistics.interval.ms"] = statisticsInterval.librdkafkaMilliseconds
        }
        settings.merge(client.rawSettings) { _, raw in raw }
        settings.merge(rawSettings) { _, raw in raw }
        return settings
    }
}

// MARK: - Duration as librdkafka milliseconds

extension Duration {
    /// Whole milliseconds, rounded up so that a short non-zero duration never becomes 0 ("no wait").
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return remainder > 0 ? milliseconds + 1 : milliseconds
    }

    var librdkafkaMilliseconds: String { String(wholeMilliseconds) }

    /// Fractional milliseconds, for the few properties librdkafka accepts as floats (`linger.ms`).
    var librdkafkaMillisecondsString: String {
        let (seconds, attoseconds) = components
        let microseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        if microseconds % 1000 == 0 { return String(microseconds / 1000) }
        return String(Double(microseconds) / 1000)
    }

    /// Milliseconds as the `Int32` timeouts of librdkafka's blocking calls take, clamped.
    var timeoutMilliseconds: Int32 { Int32(clamping: wholeMilliseconds) }

    /// "5s", "1.5s" or "250ms": short enough for one-line error messages.
    var shortDescription: String {
        let milliseconds = wholeMilliseconds
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        if milliseconds > 1000 { return "\(Double(milliseconds) / 1000)s" }
        return "\(milliseconds)ms"
    }
}
