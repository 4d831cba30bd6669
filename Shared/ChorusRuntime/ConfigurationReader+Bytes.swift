import Foundation

extension ConfigurationReader {
    /// A size in bytes written as `512MB`, `4GiB`, `800k` or a bare number of bytes; `0` or `none`
    /// reads as `nil` (no limit). Decimal units are powers of 1000, binary ones (`KiB`, `MiB`, `GiB`,
    /// `TiB`) of 1024.
    public func byteSize(_ path: String, default fallback: Int64?) throws -> Int64? {
        guard let raw = try string(path) else { return fallback }
        let text = raw.trimmingCharacters(in: .whitespaces)
        if text.lowercased() == "none" { return nil }
        guard let value = Self.parseByteSize(text) else {
            throw error(path, "must be a size such as 512MB, 4GiB or none, got \(Self.quoted(raw))")
        }
        return value == 0 ? nil : value
    }

    static func parseByteSize(_ text: String) -> Int64? {
        let digits = text.prefix { $0.isNumber }
        guard let number = Int64(digits) else { return nil }
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let multipliers: [String: Int64] = [
            "": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1_000_000, "mb": 1_000_000, "g": 1_000_000_000,
            "gb": 1_000_000_000, "t": 1_000_000_000_000, "tb": 1_000_000_000_000, "kib": 1 << 10, "mib": 1 << 20,
            "gib": 1 << 30, "tib": 1 << 40,
        ]
        guard let multiplier = multipliers[unit] else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}
