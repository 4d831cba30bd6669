import Contracts

/// Candidates as a judge sees them: anonymized (labels A, B, C… instead of model names), shuffled,
/// and fenced as data.
///
/// Judges favour the first answer (position bias), their own family (self-preference) and whatever
/// a candidate tells them to do (injection). So the judge never learns which model wrote what, the
/// order is decorrelated from the pool order, and every candidate sits inside a fence that its own
/// text cannot close. The shuffle is seeded by the request id: a redelivered request is judged on
/// the same sheet, which keeps verdicts reproducible.
public struct CandidateSheet: Sendable, Hashable {
    /// One fenced entry.
    public struct Entry: Sendable, Hashable {
        /// `A`, `B`, …
        public var label: String
        /// Index of the candidate in pool order.
        public var candidateIndex: Int
        public var text: String
    }

    public let entries: [Entry]

    /// - Parameters:
    ///   - contents: the usable candidates' texts, in pool order, with their pool indexes.
    ///   - seed: normally the request id.
    public init(contents: [(index: Int, text: String)], seed: String) {
        var generator = SplitMix64(seed: Self.fnv1a(seed))
        var order = Array(contents.indices)
        // Fisher–Yates with our own generator: the same seed gives the same order on every platform.
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(generator.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        entries = order.enumerated().map { position, original in
            Entry(
                label: Self.label(position), candidateIndex: contents[original].index,
                text: Self.neutralize(contents[original].text))
        }
    }

    public var labels: [String] { entries.map(\.label) }

    /// The pool index behind a label.
    public func candidateIndex(for label: String) -> Int? {
        entries.first { $0.label == label }?.candidateIndex
    }

    /// The sheet as prompt text: each candidate between `<candidate id="X">` and `</candidate>`.
    public var fenced: String {
        entries.map { "<candidate id=\"\($0.label)\">\n\($0.text)\n</candidate>" }.joined(separator: "\n\n")
    }

    static func label(_ position: Int) -> String {
        String(UnicodeScalar(UInt8(ascii: "A") + UInt8(position)))
    }

    /// Makes a candidate unable to open or close a fence: angle brackets become look-alikes, so
    /// `</candidate>` inside an answer is just text.
    static func neutralize(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<": out.unicodeScalars.append("\u{2039}")  // ‹
            case ">": out.unicodeScalars.append("\u{203A}")  // ›
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// A small, fast, well-distributed PRNG with a stable sequence for a given seed.
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
