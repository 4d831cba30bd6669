/// Assembles generated text from token pieces: whole UTF-8 characters only, cut at the first stop string.
///
/// Feed each token's bytes to ``append(_:)``; it returns the text that is now final. Text that could be
/// the start of a stop string, or half a character, is held back until the next piece decides it, so a
/// stream never shows a stop string or a broken character. One per generation; a batching scheduler keeps
/// one per sequence.
public struct GeneratedText: Sendable {
    private let stops: [[UInt8]]
    private var bytes: [UInt8] = []
    private var released = 0

    /// Whether a stop string has appeared; the text ends just before it.
    public private(set) var isStopped = false

    /// Creates an empty text that stops at the first of `stop` (empty strings are ignored).
    public init(stop: [String] = []) {
        self.stops = stop.filter { !$0.isEmpty }.map { Array($0.utf8) }
        bytes.reserveCapacity(256)
    }

    /// All text so far, without any stop string (including text still held back).
    public var text: String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Adds a token's bytes.
    ///
    /// - Returns: Text that became final with this piece (often the piece itself; empty while held back).
    ///   After a stop string, the rest of the text before it; afterwards nothing.
    public mutating func append(_ piece: some Collection<UInt8>) -> String {
        guard !isStopped else { return "" }
        let previousCount = bytes.count
        bytes.append(contentsOf: piece)
        if let stopStart = earliestStop(endingAfter: previousCount) {
            bytes.removeSubrange(stopStart...)
            isStopped = true
            return releaseAll()
        }
        let safeEnd = Self.characterBoundary(in: bytes, atOrBefore: bytes.count - heldBackStopPrefix(), notBefore: released)
        return release(upTo: safeEnd)
    }

    /// Releases everything held back (at the end of generation, when no stop string can complete anymore).
    public mutating func finish() -> String {
        releaseAll()
    }

    // MARK: - Helpers

    private mutating func releaseAll() -> String {
        release(upTo: bytes.count)
    }

    private mutating func release(upTo end: Int) -> String {
        guard end > released else { return "" }
        let delta = String(decoding: bytes[released..<end], as: UTF8.self)
        released = end
        return delta
    }

    /// The start of the earliest stop string that ends in the bytes from `start` on (earlier bytes were
    /// already searched).
    private func earliestStop(endingAfter start: Int) -> Int? {
        var earliest: Int?
        for stop in stops where bytes.count >= stop.count {
            var candidate = max(0, start - stop.count + 1)
            let last = bytes.count - stop.count
            while candidate <= last, candidate < (earliest ?? Int.max) {
                if bytes[candidate] == stop[0], bytes[candidate..<(candidate + stop.count)].elementsEqual(stop) {
                    earliest = candidate
                    break
                }
                candidate += 1
            }
        }
        return earliest
    }

    /// Length of the longest suffix of the text that is a proper prefix of a stop string.
    private func heldBackStopPrefix() -> Int {
        var longest = 0
        for stop in stops {
            var length = min(stop.count - 1, bytes.count)
            while length > longest {
                if bytes[(bytes.count - length)...].elementsEqual(stop[..<length]) {
                    longest = length
                    break
                }
                length -= 1
            }
        }
        return longest
    }

    /// Moves `end` back so that it does not split a UTF-8 character.
    static func characterBoundary(in bytes: [UInt8], atOrBefore end: Int, notBefore floor: Int) -> Int {
        guard end > floor else { return floor }
        // Look back at most 3 bytes for the lead byte of the last character.
        var index = end - 1
        while index > floor, index > end - 4, bytes[index] & 0xC0 == 0x80 {
            index -= 1
        }
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0..<0x80: length = 1
        case 0xC0..<0xE0: length = 2
        case 0xE0..<0xF0: length = 3
        case 0xF0..<0xF8: length = 4
        default: length = 1  // a stray continuation or invalid byte: release it, decoding repairs it
        }
        return index + length <= end ? end : index
    }
}
