import Foundation

/// An exact amount of US dollars, held as whole nano-dollars (1e-9 USD).
///
/// Money never touches floating point in Chorus: prices are integers of nano-dollars per million
/// tokens or per GPU-second, costs are integer products, and the wire form is a decimal string
/// (`"0.18518505"`) that PostgreSQL stores as `numeric` without rounding.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Whole nano-dollars.
    public var nanos: Int64

    public init(nanos: Int64) { self.nanos = nanos }

    public static let zero = Money(nanos: 0)

    /// Parses a non-negative or negative decimal string with at most 9 fractional digits.
    public init?(decimal text: String) {
        var digits = Substring(text.trimmingCharacters(in: [" "]))
        var negative = false
        if digits.first == "-" { negative = true; digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit), whole.count <= 9
        else { return nil }
        var fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.allSatisfy(\.isASCIIDigit), fraction.count <= 9, parts.count == 1 || !fraction.isEmpty
        else { return nil }
        fraction += String(repeating: "0", count: 9 - fraction.count)
        guard let w = Int64(whole), let f = Int64(fraction) else { return nil }
        nanos = (w * 1_000_000_000 + f) * (negative ? -1 : 1)
    }

    /// The exact decimal string, trailing zeros trimmed (`"0.18518505"`, `"2"`, `"0"`).
    public var description: String {
        let sign = nanos < 0 ? "-" : ""
        let magnitude = nanos.magnitude
        let whole = magnitude / 1_000_000_000
        var fraction = String(magnitude % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    public static func < (a: Money, b: Money) -> Bool { a.nanos < b.nanos }
    public static func + (a: Money, b: Money) -> Money { Money(nanos: a.nanos + b.nanos) }
    public static func += (a: inout Money, b: Money) { a.nanos += b.nanos }

    /// Decodes from a decimal string, or from a JSON number written with at most 9 decimals.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self), let money = Money(decimal: text) {
            self = money
            return
        }
        // JSON numbers are accepted for convenience, read through their shortest decimal form.
        if let number = try? container.decode(Double.self), number.isFinite, let money = Money(decimal: "\(number)") {
            self = money
            return
        }
        throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "expected a decimal amount of US dollars such as \"0.05\"")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
