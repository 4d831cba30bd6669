import Kafka
import Testing

@testable import ChorusRuntime

@Suite struct KeyedQueuesTests {
    func message(_ key: String?, _ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: "t", partition: 0, offset: offset, key: key.map { Array($0.utf8) }, value: [], headers: [], timestamp: nil)
    }

    @Test func sameKeyRunsInOrderOneAtATimeOtherKeysRunAtOnce() {
        var queues = KeyedQueues()
        let r1 = queues.enqueue(message("a", 1))
        #expect(r1)
        let r2 = queues.enqueue(message("b", 2))
        #expect(r2)
        let r3 = queues.enqueue(message("a", 3))
        #expect(!r3)
        let r4 = queues.enqueue(message("a", 4))
        #expect(!r4)
        let r5 = queues.finish(message("b", 2))
        #expect(r5 == nil)
        let r6 = queues.finish(message("a", 1))
        #expect(r6?.offset == 3)
        let r7 = queues.finish(message("a", 3))
        #expect(r7?.offset == 4)
        let r8 = queues.finish(message("a", 4))
        #expect(r8 == nil)
        #expect(queues.keysInProgress == 0)
        let r9 = queues.enqueue(message("a", 5))
        #expect(r9)  // the key is free again
    }

    @Test func messagesWithoutAKeyAlwaysRun() {
        var queues = KeyedQueues()
        let r10 = queues.enqueue(message(nil, 1))
        #expect(r10)
        let r11 = queues.enqueue(message(nil, 2))
        #expect(r11)
        let r12 = queues.finish(message(nil, 1))
        #expect(r12 == nil)
        #expect(queues.keysInProgress == 0)
    }
}
