/// A W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` header that carries a
/// request's trace from the HTTP call (or the Kafka message) that started it to its answer.
///
/// `traceparent` reads `00-<trace id: 32 hex>-<parent id: 16 hex>-<flags: 2 hex>`. Each hop keeps the
/// trace id and names its own span as the parent of what it sends on (``child()``).
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    /// 32 lower-case hex digits, not all zero.
    public let traceID: String
    /// The span that sent this context: 16 lower-case hex digits, not all zero.
    public let parentID: String
    /// Trace flags, 2 hex digits (`01` = sampled).
    public let flags: String

    /// Parses a `traceparent` header; nil when it is not a valid one (the receiver then starts a new trace).
    ///
    /// Accepts future versions as the specification asks (their first four fields, extra fields after
    /// a dash), refuses version `ff`, upper-case hex and all-zero ids.
    public init?(traceParent header: String) {
        let text = Self.trimmed(header)
        let fields = text.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4 else { return nil }
        let version = fields[0], trace = fields[1], parent = fields[2], flags = fields[3]
        guard Self.isHex(version, count: 2), version != "ff" else { return nil }
        if version == "00" && fields.count != 4 { return nil }
        guard Self.isHex(trace, count: 32), Self.isHex(parent, count: 16), Self.isHex(flags, count: 2) else { return nil }
        guard trace.contains(where: { $0 != "0" }), parent.contains(where: { $0 != "0" }) else { return nil }
        self.traceID = String(trace)
        self.parentID = String(parent)
        self.flags = String(flags)
    }

    /// Parses the bytes of a `traceparent` Kafka header.
    public init?(traceParent bytes: [UInt8]?) {
        // Invalid UTF-8 decodes to replacement characters, which then fail the hex checks.
        guard let bytes else { return nil }
        self.init(traceParent: String(decoding: bytes, as: UTF8.self))
    }

    public init(traceID: String, parentID: String, flags: String = "01") {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// A new trace (sampled), for a request that arrived without a valid `traceparent`.
    public static func random() -> TraceContext {
        var generator = SystemRandomNumberGenerator()
        return TraceContext(traceID: randomHex(bytes: 16, using: &generator), parentID: randomHex(bytes: 8, using: &generator))
    }

    /// The context this hop passes on: the same trace and flags, a new span of its own as the parent.
    public func child() -> TraceContext {
        var generator = SystemRandomNumberGenerator()
        return TraceContext(traceID: traceID, parentID: Self.randomHex(bytes: 8, using: &generator), flags: flags)
    }

    /// The header value: `00-<trace id>-<parent id>-<flags>`.
    public var traceParent: String { "00-\(traceID)-\(parentID)-\(flags)" }

    public var description: String { traceParent }

    static func randomHex(bytes: Int, using generator: inout some RandomNumberGenerator) -> String {
        while true {
            var text = ""
            text.reserveCapacity(bytes * 2)
            var nonZero = false
            for _ in 0..<bytes {
                let byte = UInt8.random(in: .min ... .max, using: &generator)
                nonZero = nonZero || byte != 0
                text += hexDigits[Int(byte >> 4)] + hexDigits[Int(byte & 0x0F)]
            }
            // All-zero ids are invalid; at 2^-64 odds this loop runs once.
            if nonZero { return text }
        }
    }

    private static let hexDigits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]

    /// Without leading and trailing spaces and tabs (the specification allows them around header values).
    private static func trimmed(_ text: String) -> Substring {
        var text = Substring(text)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }

    private static func isHex(_ text: Substring, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
