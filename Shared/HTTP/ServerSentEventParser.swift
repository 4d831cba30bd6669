/// An incremental `text/event-stream` parser: feed byte chunks as they arrive, get whole events back.
///
/// Follows the WHATWG "event stream interpretation": lines end in CRLF, LF or CR (a CRLF split across
/// chunks counts once); `:` lines are comments; one space after the field colon is dropped; several
/// `data:` lines join with `\n`; a blank line dispatches; an event without data is not dispatched; a
/// leading UTF-8 byte-order mark is skipped; an unterminated event at the end of the stream is dropped.
public struct ServerSentEventParser: Sendable {
    /// The bytes of a line whose end has not arrived yet.
    private var partialLine: [UInt8] = []
    /// The previous chunk ended in CR: a LF opening the next chunk ends no new line.
    private var lastChunkEndedInCR = false
    private var isFirstLine = true
    private var dataBuffer: [UInt8] = []
    private var eventType: String?
    private var lastEventID: String?

    /// The reconnection delay the stream last asked for with `retry:`, if any.
    public private(set) var reconnectionTime: Duration?

    /// Creates a parser at the start of a stream.
    public init() {}

    /// Parses the next chunk and returns the events it completed, in order.
    public mutating func parse<Bytes: Collection>(_ chunk: Bytes) -> [ServerSentEvent] where Bytes.Element == UInt8 {
        var events: [ServerSentEvent] = []
        var start = chunk.startIndex
        if lastChunkEndedInCR, start < chunk.endIndex, chunk[start] == Self.lf {
            start = chunk.index(after: start)
        }
        lastChunkEndedInCR = false
        while start < chunk.endIndex {
            guard let end = chunk[start...].firstIndex(where: { $0 == Self.lf || $0 == Self.cr }) else {
                partialLine.append(contentsOf: chunk[start...])
                break
            }
            if partialLine.isEmpty {
                processLine(chunk[start..<end], into: &events)
            } else {
                partialLine.append(contentsOf: chunk[start..<end])
                let line = partialLine
                partialLine.removeAll(keepingCapacity: true)
                processLine(line[...], into: &events)
            }
            var next = chunk.index(after: end)
            if chunk[end] == Self.cr {
                if next == chunk.endIndex {
                    lastChunkEndedInCR = true
                } else if chunk[next] == Self.lf {
                    next = chunk.index(after: next)
                }
            }
            start = next
        }
        return events
    }

    private static let lf: UInt8 = 0x0A
    private static let cr: UInt8 = 0x0D
    private static let colon: UInt8 = 0x3A
    private static let space: UInt8 = 0x20
    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    private mutating func processLine<Line: Collection>(_ rawLine: Line, into events: inout [ServerSentEvent])
    where Line.Element == UInt8 {
        var line = rawLine[...]
        if isFirstLine {
            isFirstLine = false
            if line.starts(with: Self.byteOrderMark) { line = line.dropFirst(3) }
        }
        guard let first = line.first else {
            dispatch(into: &events)
            return
        }
        if first == Self.colon { return }  // comment (keep-alives are often sent this way)

        let name: Line.SubSequence.SubSequence
        var value: Line.SubSequence.SubSequence
        if let colonIndex = line.firstIndex(of: Self.colon) {
            name = line[..<colonIndex]
            value = line[line.index(after: colonIndex)...]
            if value.first == Self.space { value = value.dropFirst() }
        } else {
            name = line[...]
            value = line[line.endIndex...]
        }

        if name.elementsEqual("data".utf8) {
            dataBuffer.append(contentsOf: value)
            dataBuffer.append(Self.lf)
        } else if name.elementsEqual("event".utf8) {
            eventType = String(decoding: value, as: UTF8.self)
        } else if name.elementsEqual("id".utf8) {
            if !value.contains(0) {
                lastEventID = value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
            }
        } else if name.elementsEqual("retry".utf8) {
            if !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let milliseconds = Int64(String(decoding: value.prefix(15), as: UTF8.self))
            {
                reconnectionTime = .milliseconds(milliseconds)
            }
        }
        // Unknown fields are ignored, as the spec says.
    }

    private mutating func dispatch(into events: inout [ServerSentEvent]) {
        defer { eventType = nil }
        guard !dataBuffer.isEmpty else { return }
        dataBuffer.removeLast()  // the LF appended after the last data line
        events.append(
            ServerSentEvent(event: eventType, data: String(decoding: dataBuffer, as: UTF8.self), id: lastEventID))
        dataBuffer.removeAll(keepingCapacity: true)
    }
}
