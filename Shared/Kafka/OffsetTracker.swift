/// Which handed-out messages of each assigned partition are processed, and which offset may be stored.
///
/// Messages are processed concurrently and finish out of order; the offset committed for a partition
/// must never pass a message that is not processed yet. Per partition the tracker keeps the offsets
/// handed out since the partition was assigned, in order, and answers with the store offset
/// `(highest offset such that it and every offset handed out before it is processed) + 1` whenever
/// that value grows.
///
/// Each assignment of a partition gets a new generation. A message carries the generation it was
/// handed out under; marking it after its partition was revoked (or revoked and assigned again) is
/// ignored, because another member may own the partition's progress by then.
///
/// A pure value: no locks, no I/O, tested on its own.
struct OffsetTracker: Sendable {
    private var partitions: [TopicPartition: PartitionProgress] = [:]
    private var nextGeneration: UInt64 = 1

    /// The partitions currently assigned.
    var assignment: Set<TopicPartition> { Set(partitions.keys) }

    /// Starts tracking newly assigned partitions, each under a fresh generation.
    ///
    /// A partition that is already assigned starts over as well: its position may have moved.
    mutating func assign(_ assigned: some Sequence<TopicPartition>) {
        for topicPartition in assigned {
            partitions[topicPartition] = PartitionProgress(generation: nextGeneration)
            nextGeneration += 1
        }
    }

    /// Forgets revoked partitions; later marks of their messages are ignored.
    mutating func revoke(_ revoked: some Sequence<TopicPartition>) {
        for topicPartition in revoked {
            partitions[topicPartition] = nil
        }
    }

    /// Forgets every partition (an eager rebalance revokes the whole assignment).
    mutating func revokeAll() {
        partitions.removeAll()
    }

    /// Records that the message at `offset` is handed out; returns the generation it belongs to,
    /// or `nil` if its partition is not assigned (the message must then not be handed out).
    mutating func handOut(_ topicPartition: TopicPartition, offset: Int64) -> UInt64? {
        guard partitions[topicPartition] != nil else { return nil }
        return partitions[topicPartition]!.handOut(offset)
    }

    /// Records that the message at `offset`, handed out under `generation`, is processed.
    ///
    /// Returns the offset to store when the partition's store offset grew; `nil` when it did not, when
    /// the message's partition is no longer assigned under that generation, or when the offset was
    /// never handed out or is already marked.
    mutating func markProcessed(_ topicPartition: TopicPartition, offset: Int64, generation: UInt64) -> Int64? {
        guard partitions[topicPartition]?.generation == generation else { return nil }
        return partitions[topicPartition]!.markProcessed(offset)
    }

    /// How many handed-out messages of the partition are not processed yet (nil if not assigned).
    func outstandingCount(_ topicPartition: TopicPartition) -> Int? {
        partitions[topicPartition]?.outstandingCount
    }
}

/// Progress of one partition during one assignment.
struct PartitionProgress: Sendable {
    private struct Entry: Sendable {
        var offset: Int64
        var isProcessed: Bool
    }

    let generation: UInt64
    /// Handed-out offsets from the oldest unprocessed one on, ascending; `window[head...]` is live.
    private var window: [Entry] = []
    private var head = 0
    private var lastHandedOut: Int64?
    /// The last store offset returned.
    private(set) var storeOffset: Int64?

    init(generation: UInt64) {
        self.generation = generation
    }

    var outstandingCount: Int {
        window[head...].lazy.filter { !$0.isProcessed }.count
    }

    mutating func handOut(_ offset: Int64) -> UInt64 {
        if let lastHandedOut, offset <= lastHandedOut {
            // The position moved back (a seek or an offset reset): what was handed out before can no
            // longer be matched to this sequence, so start it over. Marks of the older messages are
            // then ignored, which at worst redelivers them.
            window.removeAll()
            head = 0
            storeOffset = nil
        }
        lastHandedOut = offset
        window.append(Entry(offset: offset, isProcessed: false))
        return generation
    }

    mutating func markProcessed(_ offset: Int64) -> Int64? {
        guard let index = liveIndex(of: offset), !window[index].isProcessed else { return nil }
        window[index].isProcessed = true
        guard index == head else { return nil }

        var released = offset
        while head < window.count, window[head].isProcessed {
            released = window[head].offset
            head += 1
        }
        compactIfWorthIt()
        let newStoreOffset = released + 1
        if let storeOffset, storeOffset >= newStoreOffset { return nil }
        storeOffset = newStoreOffset
        return newStoreOffset
    }

    /// Binary search in the live, ascending part of the window.
    private func liveIndex(of offset: Int64) -> Int? {
        var low = head
        var high = window.count
        while low < high {
            let middle = (low + high) / 2
            if window[middle].offset < offset {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low < window.count && window[low].offset == offset ? low : nil
    }

    private mutating func compactIfWorthIt() {
        if head == window.count {
            window.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= window.count {
            window.removeFirst(head)
            head = 0
        }
    }
}
