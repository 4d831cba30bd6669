import Testing

@testable import Kafka

@Suite("ConsumerStateMachine: hand-over buffer, back-pressure, rebalances")
struct ConsumerStateMachineTests {
    let partition = TopicPartition(topic: "t", partition: 0)
    let other = TopicPartition(topic: "t", partition: 1)

    func message(_ topicPartition: TopicPartition, _ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: topicPartition.topic, partition: topicPartition.partition, offset: offset, value: [1])
    }

    func machine(high: Int = 4, low: Int = 1) -> ConsumerStateMachine {
        var machine = ConsumerStateMachine(consumerID: 7, highWatermark: high, lowWatermark: low)
        _ = machine.assigned([partition, other])
        return machine
    }

    @Test func pausesAtHighWatermarkAndResumesAtLow() {
        var machine = machine(high: 3, low: 1)
        guard case .buffered = machine.receive(message(partition, 0)) else { Issue.record("0"); return }
        guard case .buffered = machine.receive(message(partition, 1)) else { Issue.record("1"); return }
        guard case .bufferedPauseFetching = machine.receive(message(partition, 2)) else { Issue.record("2"); return }
        #expect(machine.isPaused)
        // Already paused: no second pause, but the message is kept, never dropped.
        guard case .buffered = machine.receive(message(partition, 3)) else { Issue.record("3"); return }
        #expect(machine.bufferedCount == 4)

        #expect(machine.takePollWork().resumeFetching == false)
        guard case .message(let first, wakePoller: false) = machine.next() else { Issue.record("next"); return }
        #expect(first.offset == 0)
        guard case .message(_, wakePoller: false) = machine.next() else { Issue.record("next"); return }
        // Down to the low watermark: wake the poll thread once.
        guard case .message(_, wakePoller: true) = machine.next() else { Issue.record("wake"); return }
        guard case .message(_, wakePoller: false) = machine.next() else { Issue.record("no second wake"); return }
        #expect(machine.takePollWork().resumeFetching)
        #expect(!machine.isPaused)
        #expect(machine.takePollWork().resumeFetching == false)
    }

    @Test func waitingTaskGetsMessageDirectly() async throws {
        var machine = machine()
        let received: KafkaMessage? = try await withCheckedThrowingContinuation { continuation in
            #expect(parked(machine.next(parking: continuation, id: 1)))
            guard case .handOver(let waiter, let handed) = machine.receive(message(partition, 9)) else {
                Issue.record("expected a hand-over")
                machine.cancelWaiter(1)?.resume(returning: nil)
                return
            }
            #expect(machine.bufferedCount == 0)
            waiter.resume(returning: handed)
        }
        #expect(received?.offset == 9)
        #expect(received?.receipt?.consumerID == 7)
    }

    @Test func revokeDropsBufferedMessagesOfRevokedPartitionsOnly() {
        var machine = machine(high: 100)
        _ = machine.receive(message(partition, 0))
        _ = machine.receive(message(other, 0))
        _ = machine.receive(message(partition, 1))
        _ = machine.revoking([partition])
        #expect(machine.bufferedCount == 1)
        guard case .message(let left, _) = machine.next() else { Issue.record("next"); return }
        #expect(left.partition == 1)
        // Messages of a revoked partition that still arrive are not handed out.
        guard case .discard = machine.receive(message(partition, 2)) else { Issue.record("discard"); return }
    }

    @Test func marksBecomeStoresOnlyForCurrentAssignment() {
        var machine = machine(high: 100)
        _ = machine.receive(message(partition, 0))
        _ = machine.receive(message(partition, 1))
        guard case .message(let first, _) = machine.next(), case .message(let second, _) = machine.next() else {
            Issue.record("next")
            return
        }
        machine.markProcessed(second)
        #expect(machine.takePendingStores().isEmpty)
        machine.markProcessed(first)
        let stores = machine.takePendingStores()
        #expect(stores.count == 1 && stores[0].0 == partition && stores[0].1 == 2)

        // After revoke and reassign, an old message is ignored.
        _ = machine.receive(message(partition, 2))
        guard case .message(let third, _) = machine.next() else { Issue.record("next"); return }
        _ = machine.revoking(nil)
        _ = machine.assigned([partition])
        machine.markProcessed(third)
        #expect(machine.takePendingStores().isEmpty)
    }

    @Test func revokeHandsBackPendingStoresOfRevokedPartitions() {
        var machine = machine(high: 100)
        _ = machine.receive(message(partition, 5))
        _ = machine.receive(message(other, 8))
        guard case .message(let first, _) = machine.next(), case .message(let second, _) = machine.next() else {
            Issue.record("next")
            return
        }
        machine.markProcessed(first)
        machine.markProcessed(second)
        let stores = machine.revoking([partition])
        #expect(stores.count == 1 && stores[0].0 == partition && stores[0].1 == 6)
        let remaining = machine.takePendingStores()
        #expect(remaining.count == 1 && remaining[0].0 == other && remaining[0].1 == 9)
    }

    @Test func foreignAndHandMadeMessagesAreIgnored() {
        var machine = machine(high: 100)
        _ = machine.receive(message(partition, 0))
        guard case .message(var handedOut, _) = machine.next() else { Issue.record("next"); return }
        machine.markProcessed(message(partition, 0))  // made by hand: no receipt
        handedOut.receipt?.consumerID = 8  // another consumer's
        machine.markProcessed(handedOut)
        #expect(machine.takePendingStores().isEmpty)
    }

    @Test func closeEndsTheSequenceAndDropsTheBuffer() {
        var machine = machine(high: 100)
        _ = machine.receive(message(partition, 0))
        #expect(machine.requestClose(nil) == (true, true))
        #expect(machine.requestClose(nil) == (true, false))  // one wake is enough
        let work = machine.takePollWork()
        #expect(work.close != nil)
        #expect(machine.lifecycle == .closing)
        guard case .finished = machine.next() else { Issue.record("finished"); return }
        guard case .discard = machine.receive(message(partition, 1)) else { Issue.record("discard"); return }
        _ = machine.finishClosing()
        #expect(machine.requestClose(nil) == (false, false))
    }

    @Test func fatalErrorEndsTheSequenceWithTheError() {
        var machine = machine()
        machine.fail(KafkaError(code: .fatal, message: "broken"))
        guard case .failed(let error) = machine.next() else { Issue.record("failed"); return }
        #expect(error.code == .fatal)
        #expect(machine.takePollWork().close != nil)
    }

    @Test func cancelledWaiterIsHandedBack() async throws {
        var machine = machine()
        let received: KafkaMessage? = try await withCheckedThrowingContinuation { continuation in
            #expect(parked(machine.next(parking: continuation, id: 3)))
            #expect(machine.cancelWaiter(4) == nil)
            machine.cancelWaiter(3)?.resume(returning: nil)
        }
        #expect(received == nil)
        // The cancelled waiter does not get the next message.
        guard case .buffered = machine.receive(message(partition, 0)) else { Issue.record("buffered"); return }
    }
}

/// Whether `next(parking:id:)` parked the continuation.
private func parked(_ action: ConsumerStateMachine.NextAction?) -> Bool {
    action == nil
}
