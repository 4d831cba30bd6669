/// Hand-built JSON text: answers are small and fixed in shape, so writing them directly is cheaper
/// than a `JSONEncoder` round trip per request.
enum JSONText {
    /// Appends `text` as a JSON string literal (quotes, escapes for `"`, `\` and control characters).
    static func appendString(_ text: String, to out: inout String) {
        out.append("\"")
        var runStart = text.utf8.startIndex
        var index = runStart
        let utf8 = text.utf8
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                // Bytes below 0x80 are whole scalars, so slicing at them keeps UTF-8 intact.
                out.append(contentsOf: String(utf8[runStart..<index])!)
                out.append(escape(byte))
                runStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        out.append(contentsOf: String(utf8[runStart..<utf8.endIndex])!)
        out.append("\"")
    }

    /// `text` as a JSON string literal.
    static func string(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 2)
        appendString(text, to: &out)
        return out
    }

    private static func escape(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case UInt8(ascii: "\n"): return "\\n"
        case UInt8(ascii: "\r"): return "\\r"
        case UInt8(ascii: "\t"): return "\\t"
        default:
            let hex = Array("0123456789abcdef")
            return "\\u00" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0x0f)])
        }
    }
}
