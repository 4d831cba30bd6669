import Foundation

/// A consumer's statistics report, as far as Chorus reads it: the lag of each assigned partition.
///
/// Taken from librdkafka's statistics JSON (`statistics.interval.ms`), whose `consumer_lag` is the
/// partition's high watermark minus the group's committed offset.
public struct KafkaConsumerStatistics: Sendable, Equatable {
    /// The lag of one partition.
    public struct PartitionLag: Sendable, Hashable {
        public var topic: String
        public var partition: Int
        /// Messages between the group's committed offset and the end of the partition.
        public var lag: Int64

        public init(topic: String, partition: Int, lag: Int64) {
            self.topic = topic
            self.partition = partition
            self.lag = lag
        }
    }

    /// Assigned partitions whose lag is known (librdkafka reports -1 until it knows the offsets).
    public var partitions: [PartitionLag]

    public init(partitions: [PartitionLag]) {
        self.partitions = partitions
    }

    /// Parses librdkafka's statistics JSON; nil when it is not what librdkafka writes.
    init?(json: UnsafeBufferPointer<UInt8>) {
        guard let root = try? JSONSerialization.jsonObject(with: Data(buffer: json)) as? [String: Any] else { return nil }
        var partitions: [PartitionLag] = []
        for (topic, value) in (root["topics"] as? [String: Any]) ?? [:] {
            for (key, value) in ((value as? [String: Any])?["partitions"] as? [String: Any]) ?? [:] {
                // Partition -1 is librdkafka's internal "unassigned" queue.
                guard let partition = Int(key), partition >= 0, let fields = value as? [String: Any] else { continue }
                guard (fields["fetch_state"] as? String).map({ $0 != "none" }) ?? true else { continue }
                guard let lag = Self.lag(fields) else { continue }
                partitions.append(PartitionLag(topic: topic, partition: partition, lag: lag))
            }
        }
        self.partitions = partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    /// librdkafka's `consumer_lag`; for a group that has committed nothing yet on the partition
    /// (it reads from the start), the whole partition: `hi_offset - lo_offset`. Nil while unknown.
    private static func lag(_ fields: [String: Any]) -> Int64? {
        func number(_ key: String) -> Int64? { (fields[key] as? NSNumber)?.int64Value }
        if let lag = number("consumer_lag"), lag >= 0 { return lag }
        guard let committed = number("committed_offset"), committed < 0,
            let high = number("hi_offset"), let low = number("lo_offset"), high >= 0, low >= 0
        else { return nil }
        return max(0, high - low)
    }
}
