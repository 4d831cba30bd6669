import Testing

@testable import Kafka

/// The consumer lag read from librdkafka's statistics JSON (a trimmed report of librdkafka 2.16).
@Suite struct ConsumerStatisticsTests {
    static let report = """
        {"name":"c#consumer-1","type":"consumer","topics":{"chorus.accepted":{"topic":"chorus.accepted","partitions":{
          "0":{"partition":0,"fetch_state":"active","hi_offset":12,"committed_offset":10,"consumer_lag":2,"consumer_lag_stored":1},
          "1":{"partition":1,"fetch_state":"active","hi_offset":5,"committed_offset":5,"consumer_lag":0},
          "2":{"partition":2,"fetch_state":"none","hi_offset":-1,"committed_offset":-1001,"consumer_lag":-1},
          "3":{"partition":3,"fetch_state":"offset-query","hi_offset":-1,"lo_offset":-1,"committed_offset":-1001,"consumer_lag":-1},
          "4":{"partition":4,"fetch_state":"active","hi_offset":7,"lo_offset":2,"committed_offset":-1001,"consumer_lag":-1},
          "-1":{"partition":-1,"fetch_state":"none","consumer_lag":-1}}}}}
        """

    @Test func readsTheLagOfAssignedPartitionsThatKnowIt() throws {
        let bytes = Array(Self.report.utf8)
        let statistics = try #require(bytes.withUnsafeBufferPointer { KafkaConsumerStatistics(json: $0) })
        #expect(statistics.partitions == [
            .init(topic: "chorus.accepted", partition: 0, lag: 2),
            .init(topic: "chorus.accepted", partition: 1, lag: 0),
            // Nothing committed yet: the group reads from the start, all of it is lag.
            .init(topic: "chorus.accepted", partition: 4, lag: 5),
        ])
    }

    @Test func refusesWhatIsNotJSON() {
        let bytes = Array("not json".utf8)
        #expect(bytes.withUnsafeBufferPointer { KafkaConsumerStatistics(json: $0) } == nil)
    }
}
