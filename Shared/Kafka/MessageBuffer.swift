/// A FIFO queue of received messages with O(1) append and removal from the front.
struct MessageBuffer: Sendable {
    private var storage: [KafkaMessage] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ message: KafkaMessage) {
        storage.append(message)
    }

    mutating func popFirst() -> KafkaMessage? {
        guard head < storage.count else { return nil }
        let message = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 512 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return message
    }

    /// Drops the messages of partitions that were revoked.
    mutating func removeAll(in partitions: Set<TopicPartition>) {
        storage = storage[head...].filter {
            !partitions.contains(TopicPartition(topic: $0.topic, partition: $0.partition))
        }
        head = 0
    }

    mutating func removeAll() {
        storage.removeAll()
        head = 0
    }
}
