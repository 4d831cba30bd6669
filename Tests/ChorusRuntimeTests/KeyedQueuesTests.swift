import Kafka
import Testing

@testable import ChorusRuntime

@Suite struct KeyedQueuesTests {
    func message(_ key: String?, _ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: "t", partition: 0, offset: offset, key: key.map { Array($0.utf8) }, value: [], headers: [], timestamp: nil)
    }

    @Test func sameKeyRunsInOrderOneAtATimeOtherKeysRunAtOnce() {
        var queues = KeyedQueues()
        #expect(queues.enqueue(message("a", 1)))
        #expect(queues.enqueue(message("b", 2)))
        #expect(!queues.enqueue(message("a", 3)))
        #expect(!queues.enqueue(message("a", 4)))
        #expect(queues.finish(message("b", 2)) == nil)
        #expect(queues.finish(message("a", 1))?.offset == 3)
        #expect(queues.finish(message("a", 3))?.offset == 4)
        #expect(queues.finish(message("a", 4)) == nil)
        #expect(queues.keysInProgress == 0)
        #expect(queues.enqueue(message("a", 5)))  // the key is free again
    }

    @Test func messagesWithoutAKeyAlwaysRun() {
        var queues = KeyedQueues()
        #expect(queues.enqueue(message(nil, 1)))
        #expect(queues.enqueue(message(nil, 2)))
        #expect(queues.finish(message(nil, 1)) == nil)
        #expect(queues.keysInProgress == 0)
    }
}
