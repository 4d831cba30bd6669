import Contracts
import Foundation
import Kafka
import Logging
import Testing

@testable import ChorusRuntime

/// The request and trace a stage is handling: continued from the message, put in logs and in what it sends.
@Suite struct MessageContextTests {
    static let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aMessageContinuesItsTraceWithASpanOfThisHop() {
        let message = KafkaMessage(
            topic: "t", partition: 0, offset: 0, key: Array("req-1".utf8), value: [],
            headers: [KafkaHeader(name: Headers.traceParent, value: Array(Self.incoming.utf8))])
        let context = MessageContext(message: message)
        #expect(context.requestID == "req-1")
        #expect(context.trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.trace.parentID != "00f067aa0ba902b7")
    }

    @Test func aMessageWithoutAValidTraceStartsOne() {
        let message = KafkaMessage(
            topic: "t", partition: 0, offset: 0, value: [], headers: [KafkaHeader(name: Headers.traceParent, value: Array("junk".utf8))])
        let context = MessageContext(message: message)
        #expect(context.requestID == nil)
        #expect(TraceContext(traceParent: context.trace.traceParent) == context.trace)
    }

    @Test func outgoingHeadersCarryTheCurrentTraceUnlessTheyHaveOne() {
        let context = MessageContext(requestID: "req-2", trace: TraceContext(traceParent: Self.incoming)!)
        #expect([KafkaHeader]().withTraceParent().isEmpty)  // outside any context: nothing added
        MessageContext.$current.withValue(context) {
            let headers = [KafkaHeader(name: "other", value: nil)].withTraceParent()
            #expect(headers.count == 2)
            #expect(headers.last == KafkaHeader(name: Headers.traceParent, value: Array(Self.incoming.utf8)))
            let own = [KafkaHeader(name: Headers.traceParent, value: Array("mine".utf8))]
            #expect(own.withTraceParent() == own)
        }
    }

    @Test func logLinesCarryTheRequestAndTraceIDs() {
        let context = MessageContext(requestID: "req-3", trace: TraceContext(traceParent: Self.incoming)!)
        #expect(MessageContext.metadataProvider.get().isEmpty)
        MessageContext.$current.withValue(context) {
            let metadata = MessageContext.metadataProvider.get()
            #expect(metadata[LogKey.requestID] == "req-3")
            #expect(metadata[LogKey.traceID] == "4bf92f3577b34da6a3ce929d0e0e4736")
        }
    }

    @Test func jsonLogLinesCarryTheRequestAndTraceIDs() throws {
        let handler = ChorusLogHandler(label: "judge", level: .info, format: .json, metadataProvider: MessageContext.metadataProvider)
        let context = MessageContext(requestID: "req-4", trace: TraceContext(traceParent: Self.incoming)!)
        let line = MessageContext.$current.withValue(context) {
            handler.line(level: .info, message: "answered", metadata: ["status": "ok"])
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["msg"] == "answered")
        #expect(object["request.id"] == "req-4")
        #expect(object["trace.id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["status"] == "ok")
        // Outside any request, no ids.
        let plain = handler.line(level: .info, message: "started", metadata: nil)
        #expect(!plain.contains("request.id") && !plain.contains("trace.id"))
    }
}
