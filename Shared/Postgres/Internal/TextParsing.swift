/// Parsers for PostgreSQL's text representations, working on the cell's bytes without copies.
enum TextParsing {
    private static let integerTypes: Set<PostgresDataType> = [.int2, .int4, .int8, .oid, .numeric]

    /// An integer from an integer column, or from a numeric whose fraction is zero.
    static func integer<Value: FixedWidthInteger & SignedInteger>(_ cell: PostgresCell) throws -> Value {
        guard Self.integerTypes.contains(cell.dataType) else {
            throw PostgresDecodingFailure.typeMismatch
        }
        let isNumeric = cell.dataType == .numeric
        return try cell.withUnsafeBytes { bytes throws -> Value in
            var index = 0
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                negative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let firstDigit = index
            var value: Value = 0
            while index < bytes.count, let digit = Self.digit(bytes[index]) {
                let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
                // Accumulate towards the sign so that Value.min fits.
                let (next, overflow2) =
                    negative
                    ? shifted.subtractingReportingOverflow(Value(digit))
                    : shifted.addingReportingOverflow(Value(digit))
                guard !overflow1 && !overflow2 else {
                    throw PostgresDecodingFailure("the value is out of range for \(Value.self)")
                }
                value = next
                index += 1
            }
            guard index > firstDigit else {
                throw PostgresDecodingFailure.invalidValue("integer")
            }
            if isNumeric, index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                while index < bytes.count, bytes[index] == UInt8(ascii: "0") {
                    index += 1
                }
                guard index == bytes.count else {
                    throw PostgresDecodingFailure("the numeric has a fraction; decode it as PostgresNumeric or Decimal")
                }
            }
            guard index == bytes.count else {
                throw PostgresDecodingFailure.invalidValue("integer")
            }
            return value
        }
    }

    /// The bytes of a bytea in hex output format (`\x0a1b…`), or nil when the text is not that.
    static func byteaHex(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((text.count - 2) / 2)
        var index = 2
        while index < text.count {
            guard let high = Self.hexDigit(text[index]), let low = Self.hexDigit(text[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func digit(_ byte: UInt8) -> UInt8? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : nil
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
