import Testing

@testable import HTTP

@Suite("ServerSentEventParser (no network)")
struct ServerSentEventParserTests {
    private func parse(_ chunks: [String]) -> [ServerSentEvent] {
        var parser = ServerSentEventParser()
        return chunks.flatMap { parser.parse(Array($0.utf8)) }
    }

    @Test("Multi-line data joins with newlines; event names and ids are read")
    func fields() {
        let events = parse(["event: delta\nid: 1\ndata: first\ndata: second\n\ndata: third\n\n"])
        #expect(
            events == [
                ServerSentEvent(event: "delta", data: "first\nsecond", id: "1"),
                ServerSentEvent(event: nil, data: "third", id: "1"),
            ])
    }

    @Test("LF, CRLF and CR line endings parse alike", arguments: ["\n", "\r\n", "\r"])
    func lineEndings(_ newline: String) {
        let text = ["event: e", "data: a", "data: b", "", "data: c", "", ""].joined(separator: newline)
        #expect(parse([text]) == [ServerSentEvent(event: "e", data: "a\nb"), ServerSentEvent(data: "c")])
    }

    @Test("Any split of a stream into chunks yields the same events, including a CRLF split between chunks")
    func everySplit() {
        let text = ": comment\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\r\n\r\n"
        let expected = [ServerSentEvent(event: "message_start", data: "{\"a\":1}"), ServerSentEvent(data: "x")]
        let bytes = Array(text.utf8)
        for cut in 0...bytes.count {
            var parser = ServerSentEventParser()
            let events = parser.parse(bytes[..<cut]) + parser.parse(bytes[cut...])
            #expect(events == expected, "split at \(cut)")
        }
        var parser = ServerSentEventParser()
        #expect(bytes.flatMap { parser.parse([$0]) } == expected)
    }

    @Test("The test server's chunks parse to the expected events")
    func serverFixture() {
        #expect(
            parse(TestHTTPServer.ssePieces) == [
                ServerSentEvent(event: "greeting", data: "hello"),
                ServerSentEvent(data: "line one\nline two"),
                ServerSentEvent(data: "{\"x\":1}", id: "7"),
                ServerSentEvent(data: "done", id: "7"),
            ])
    }

    @Test("Comments, events without data and unknown fields dispatch nothing")
    func nothingToDispatch() {
        #expect(parse([": ping\n\n", "event: lonely\n\n", "foo: bar\n\n", ":\n\n"]).isEmpty)
        // The event name of an undispatched block does not leak into the next event.
        #expect(parse(["event: lonely\n\ndata: x\n\n"]) == [ServerSentEvent(data: "x")])
    }

    @Test("Only one space after the colon is dropped; a bare field name means an empty value")
    func valueSpacing() {
        #expect(parse(["data:x\n\n"]) == [ServerSentEvent(data: "x")])
        #expect(parse(["data:  x\n\n"]) == [ServerSentEvent(data: " x")])
        #expect(parse(["data\n\n"]) == [ServerSentEvent(data: "")])
        #expect(parse(["data\ndata\n\n"]) == [ServerSentEvent(data: "\n")])
    }

    @Test("Ids persist across events until reset by an empty id; ids with NUL are ignored")
    func ids() {
        let events = parse(["id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\u{0}y\ndata: d\n\n"])
        #expect(events.map(\.id) == ["5", "5", nil, nil])
    }

    @Test("retry: sets the reconnection time when it is all digits")
    func retry() {
        var parser = ServerSentEventParser()
        _ = parser.parse(Array("retry: 1500\n\nretry: soon\n\n".utf8))
        #expect(parser.reconnectionTime == .milliseconds(1500))
    }

    @Test("A leading byte-order mark is skipped; an unterminated last event is dropped")
    func bomAndTail() {
        #expect(parse(["\u{FEFF}data: a\n\ndata: unterminated\n"]) == [ServerSentEvent(data: "a")])
    }

    @Test("UTF-8 split across chunks decodes whole")
    func utf8Split() {
        let bytes = Array("data: héllo ✓\n\n".utf8)
        var parser = ServerSentEventParser()
        let events = parser.parse(bytes[..<8]) + parser.parse(bytes[8..<14]) + parser.parse(bytes[14...])
        #expect(events == [ServerSentEvent(data: "héllo ✓")])
    }

    @Test("The async sequence parses any chunk sequence and passes its error through")
    func sequence() async throws {
        struct Cut: Error {}
        let (chunks, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        continuation.yield(Array("data: one\n".utf8))
        continuation.yield(Array("\ndata: tw".utf8))
        continuation.finish(throwing: Cut())
        var received: [String] = []
        await #expect(throws: Cut.self) {
            for try await event in chunks.serverSentEvents() { received.append(event.data) }
        }
        #expect(received == ["one"])
    }
}
