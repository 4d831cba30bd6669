import struct Foundation.Decimal

/// An exact decimal number for PostgreSQL `numeric`, kept as its decimal text.
///
/// Money must not pass through `Double`: bind amounts as `PostgresNumeric("0.18518505")` (or
/// `Decimal`) and decode `numeric` columns as `PostgresNumeric` to get exactly the digits the
/// server holds, at any precision. Equality compares the text, so `1.50` and `1.5` differ, as
/// their scales do in PostgreSQL.
public struct PostgresNumeric: Sendable, Hashable, CustomStringConvertible {
    /// The number in plain decimal notation: `-12.3400`.
    public let text: String

    /// Creates a number from plain decimal notation (`[+-]digits[.digits]`); nil for anything else,
    /// including exponents, `NaN` and infinities.
    public init?(_ text: String) {
        guard Self.isPlainDecimal(text) else {
            return nil
        }
        self.text = text
    }

    /// Creates a number from an integer.
    public init(_ value: Int64) {
        self.text = String(value)
    }

    /// Creates a number from a `Decimal`; nil for NaN.
    public init?(_ value: Decimal) {
        guard !value.isNaN, let number = PostgresNumeric(value.description) else {
            return nil
        }
        self = number
    }

    /// The number as a `Decimal`; nil when it has more significant digits than `Decimal` holds (38).
    public var decimal: Decimal? {
        guard Self.significantDigits(self.text) <= 38 else {
            return nil
        }
        return Decimal(string: self.text)
    }

    public var description: String {
        self.text
    }

    // MARK: - Validation

    static func isPlainDecimal(_ text: String) -> Bool {
        var digits = 0
        var sawPoint = false
        for (offset, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
            case UInt8(ascii: "-"), UInt8(ascii: "+"):
                guard offset == 0 else { return false }
            case UInt8(ascii: "."):
                guard !sawPoint else { return false }
                sawPoint = true
            default:
                return false
            }
        }
        return digits > 0
    }

    /// The digits from the first non-zero one to the last non-zero one after the point.
    static func significantDigits(_ text: String) -> Int {
        let digits = text.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: "+") }
        let pointIndex = digits.firstIndex(of: UInt8(ascii: "."))
        var body = Array(digits.filter { $0 != UInt8(ascii: ".") })
        if pointIndex != nil {
            while body.last == UInt8(ascii: "0") {
                body.removeLast()
            }
        }
        let leadingZeros = body.prefix { $0 == UInt8(ascii: "0") }.count
        return body.count - leadingZeros
    }
}

extension PostgresNumeric: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .numeric }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.text.utf8)
    }
}

extension PostgresNumeric: PostgresDecodable {
    private static let numberTypes: Set<PostgresDataType> = [.numeric, .int2, .int4, .int8]

    public init(postgresCell cell: PostgresCell) throws {
        guard Self.numberTypes.contains(cell.dataType) else {
            throw PostgresDecodingFailure.typeMismatch
        }
        guard let text = cell.text, let number = PostgresNumeric(text) else {
            throw PostgresDecodingFailure("the value is not a finite number (NaN or infinity)")
        }
        self = number
    }
}
