import Contracts
import Testing

/// W3C trace context (https://www.w3.org/TR/trace-context/#traceparent-header), as Chorus reads and writes it.
@Suite struct TraceContextTests {
    @Test func parsesTheSpecificationsExample() throws {
        let trace = try #require(TraceContext(traceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.parentID == "00f067aa0ba902b7")
        #expect(trace.flags == "01")
        #expect(trace.traceParent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(TraceContext(traceParent: Array(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ".utf8))?.flags == "00")
    }

    @Test(arguments: [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has four fields
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",  // not hex
    ])
    func refusesInvalidHeaders(_ header: String) {
        #expect(TraceContext(traceParent: header) == nil)
    }

    @Test func acceptsAFutureVersionWithMoreFields() {
        let trace = TraceContext(traceParent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-brings")
        #expect(trace?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        // What Chorus sends on is version 00.
        #expect(trace?.traceParent.hasPrefix("00-") == true)
    }

    @Test func aChildKeepsTheTraceWithANewSpan() throws {
        let parent = try #require(TraceContext(traceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        let child = parent.child()
        #expect(child.traceID == parent.traceID)
        #expect(child.flags == parent.flags)
        #expect(child.parentID != parent.parentID)
        #expect(TraceContext(traceParent: child.traceParent) == child)
    }

    @Test func aRandomTraceIsValid() throws {
        let first = TraceContext.random()
        let second = TraceContext.random()
        #expect(TraceContext(traceParent: first.traceParent) == first)
        #expect(first.traceID != second.traceID)
        #expect(first.flags == "01")
    }
}
