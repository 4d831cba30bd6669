import Testing

@testable import Kafka

@Suite("OffsetTracker: store offsets under out-of-order completion")
struct OffsetTrackerTests {
    let partition = TopicPartition(topic: "requests", partition: 0)
    let other = TopicPartition(topic: "requests", partition: 1)

    /// A tracker with `partition` assigned and `offsets` handed out; returns it with the generation.
    func tracker(handingOut offsets: [Int64]) -> (OffsetTracker, UInt64) {
        var tracker = OffsetTracker()
        tracker.assign([partition])
        var generation: UInt64 = 0
        for offset in offsets {
            generation = tracker.handOut(partition, offset: offset)!
        }
        return (tracker, generation)
    }

    @Test func inOrderCompletionStoresEachNextOffset() {
        var (tracker, generation) = tracker(handingOut: [10, 11, 12])
        #expect(tracker.markProcessed(partition, offset: 10, generation: generation) == 11)
        #expect(tracker.markProcessed(partition, offset: 11, generation: generation) == 12)
        #expect(tracker.markProcessed(partition, offset: 12, generation: generation) == 13)
        #expect(tracker.outstandingCount(partition) == 0)
    }

    @Test func laterCompletionWaitsForEarlierOne() {
        var (tracker, generation) = tracker(handingOut: [0, 1, 2, 3])
        #expect(tracker.markProcessed(partition, offset: 2, generation: generation) == nil)
        #expect(tracker.markProcessed(partition, offset: 1, generation: generation) == nil)
        #expect(tracker.markProcessed(partition, offset: 3, generation: generation) == nil)
        // Only now is everything up to 3 processed.
        #expect(tracker.markProcessed(partition, offset: 0, generation: generation) == 4)
    }

    @Test func partialProgressStopsAtFirstUnprocessed() {
        var (tracker, generation) = tracker(handingOut: [0, 1, 2, 3, 4])
        #expect(tracker.markProcessed(partition, offset: 0, generation: generation) == 1)
        #expect(tracker.markProcessed(partition, offset: 3, generation: generation) == nil)
        #expect(tracker.markProcessed(partition, offset: 1, generation: generation) == 2)
        #expect(tracker.markProcessed(partition, offset: 2, generation: generation) == 4)
        #expect(tracker.outstandingCount(partition) == 1)
    }

    @Test func gapsInOffsetsAreNotWaitedFor() {
        // Offsets need not be contiguous (transaction markers, compaction).
        var (tracker, generation) = tracker(handingOut: [5, 7, 10])
        #expect(tracker.markProcessed(partition, offset: 7, generation: generation) == nil)
        #expect(tracker.markProcessed(partition, offset: 5, generation: generation) == 8)
        #expect(tracker.markProcessed(partition, offset: 10, generation: generation) == 11)
    }

    @Test func unknownAndRepeatedMarksAreIgnored() {
        var (tracker, generation) = tracker(handingOut: [0, 1])
        #expect(tracker.markProcessed(partition, offset: 6, generation: generation) == nil)  // never handed out
        #expect(tracker.markProcessed(partition, offset: 0, generation: generation) == 1)
        #expect(tracker.markProcessed(partition, offset: 0, generation: generation) == nil)  // again
        #expect(tracker.markProcessed(partition, offset: 1, generation: generation) == 2)
        #expect(tracker.markProcessed(partition, offset: 1, generation: generation) == nil)
    }

    @Test func partitionsProgressIndependently() {
        var tracker = OffsetTracker()
        tracker.assign([partition, other])
        let first = tracker.handOut(partition, offset: 0)!
        let second = tracker.handOut(other, offset: 100)!
        _ = tracker.handOut(partition, offset: 1)
        #expect(first != second)
        #expect(tracker.markProcessed(other, offset: 100, generation: second) == 101)
        #expect(tracker.markProcessed(partition, offset: 1, generation: first) == nil)
        #expect(tracker.markProcessed(partition, offset: 0, generation: first) == 2)
    }

    @Test func unassignedPartitionHandsOutNothing() {
        var tracker = OffsetTracker()
        tracker.assign([partition])
        #expect(tracker.handOut(other, offset: 0) == nil)
    }

    @Test func marksAfterRevokeAreIgnored() {
        var (tracker, generation) = tracker(handingOut: [0, 1])
        tracker.revoke([partition])
        #expect(tracker.assignment.isEmpty)
        #expect(tracker.markProcessed(partition, offset: 0, generation: generation) == nil)
        #expect(tracker.handOut(partition, offset: 2) == nil)
    }

    @Test func marksFromAnEarlierAssignmentAreIgnoredAfterReassign() {
        var (tracker, oldGeneration) = tracker(handingOut: [0, 1, 2])
        tracker.revokeAll()
        tracker.assign([partition])
        // The new owner's committed position was 1: offsets 1 and 2 come again.
        let newGeneration = tracker.handOut(partition, offset: 1)!
        _ = tracker.handOut(partition, offset: 2)
        #expect(newGeneration != oldGeneration)
        #expect(tracker.markProcessed(partition, offset: 1, generation: oldGeneration) == nil)
        #expect(tracker.markProcessed(partition, offset: 2, generation: oldGeneration) == nil)
        #expect(tracker.outstandingCount(partition) == 2)
        #expect(tracker.markProcessed(partition, offset: 1, generation: newGeneration) == 2)
        #expect(tracker.markProcessed(partition, offset: 2, generation: newGeneration) == 3)
    }

    @Test func revokeLeavesOtherPartitionsAlone() {
        var tracker = OffsetTracker()
        tracker.assign([partition, other])
        let generation = tracker.handOut(other, offset: 4)!
        tracker.revoke([partition])
        #expect(tracker.assignment == [other])
        #expect(tracker.markProcessed(other, offset: 4, generation: generation) == 5)
    }

    @Test func positionMovingBackStartsOver() {
        var (tracker, generation) = tracker(handingOut: [50, 51])
        #expect(tracker.markProcessed(partition, offset: 50, generation: generation) == 51)
        // An offset reset re-delivers from 40.
        #expect(tracker.handOut(partition, offset: 40) == generation)
        #expect(tracker.markProcessed(partition, offset: 51, generation: generation) == nil)
        #expect(tracker.markProcessed(partition, offset: 40, generation: generation) == 41)
    }

    @Test func storeOffsetsOnlyGrow() {
        var (tracker, generation) = tracker(handingOut: [0, 1, 2])
        #expect(tracker.markProcessed(partition, offset: 0, generation: generation) == 1)
        #expect(tracker.markProcessed(partition, offset: 2, generation: generation) == nil)
        #expect(tracker.markProcessed(partition, offset: 1, generation: generation) == 3)
    }

    /// Thousands of messages completed in a random order: every returned store offset is safe (all
    /// handed-out offsets below it are processed), store offsets grow, and the last one follows the
    /// last message. Exercises the window's compaction.
    @Test(arguments: [1, 2, 3, 42])
    func randomCompletionOrderIsAlwaysSafe(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var tracker = OffsetTracker()
        tracker.assign([partition])
        // Offsets with gaps, as on a compacted topic.
        var offsets: [Int64] = []
        var next: Int64 = 1000
        for _ in 0..<5000 {
            offsets.append(next)
            next += Int64(random.next() % 3) + 1
        }
        var generation: UInt64 = 0
        for offset in offsets { generation = tracker.handOut(partition, offset: offset)! }

        // Complete in a locally shuffled order: windows of up to 200 messages finish in random order.
        var order = offsets
        var start = 0
        while start < order.count {
            let end = min(order.count, start + 1 + Int(random.next() % 200))
            order[start..<end].shuffle(using: &random)
            start = end
        }
        var processed = Set<Int64>()
        var firstUnprocessed = 0
        var lastStore: Int64? = nil
        for offset in order {
            processed.insert(offset)
            while firstUnprocessed < offsets.count && processed.contains(offsets[firstUnprocessed]) {
                firstUnprocessed += 1
            }
            // The tightest safe store offset: one past the last of the processed prefix.
            let expected = firstUnprocessed > 0 ? offsets[firstUnprocessed - 1] + 1 : nil
            let store = tracker.markProcessed(partition, offset: offset, generation: generation)
            if let store {
                #expect(store == expected)
                #expect(store > (lastStore ?? .min))
                lastStore = store
            } else {
                #expect(expected == lastStore)
            }
        }
        #expect(lastStore == offsets.last! + 1)
        #expect(tracker.outstandingCount(partition) == 0)
    }
}

/// A small seeded generator so that the randomized test is reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
