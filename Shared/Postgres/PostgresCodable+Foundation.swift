import Foundation

// MARK: - Date (timestamptz)

extension Date: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .timestamptz }

    /// Microsecond precision (PostgreSQL's), in UTC; non-finite dates become `±infinity`.
    public func encode(into buffer: inout [UInt8]) {
        let micros = (self.timeIntervalSinceReferenceDate * 1_000_000).rounded()
        guard micros.isFinite, abs(micros) < 9e18 - 1e16 else {
            buffer.append(contentsOf: (micros < 0 ? "-infinity" : "infinity").utf8)
            return
        }
        TimestampText.append(microsecondsSince1970: Int64(micros) + Self.referenceDateMicros, to: &buffer)
    }

    /// 2001-01-01 (Foundation's reference date) in microseconds since 1970-01-01.
    fileprivate static let referenceDateMicros: Int64 = 978_307_200_000_000
}

extension Date: PostgresDecodable {
    /// Decodes timestamptz, and timestamp (without time zone) as UTC.
    public init(postgresCell cell: PostgresCell) throws {
        guard cell.dataType == .timestamptz || cell.dataType == .timestamp else {
            throw PostgresDecodingFailure.typeMismatch
        }
        guard let micros = cell.withUnsafeBytes({ TimestampText.microsecondsSince1970($0) }) else {
            throw PostgresDecodingFailure.invalidValue("finite ISO timestamp")
        }
        self.init(timeIntervalSinceReferenceDate: Double(micros - Self.referenceDateMicros) / 1_000_000)
    }
}

// MARK: - UUID

extension UUID: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .uuid }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.uuidString.utf8)
    }
}

extension UUID: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        guard cell.dataType == .uuid else {
            throw PostgresDecodingFailure.typeMismatch
        }
        guard let text = cell.text, let uuid = UUID(uuidString: text) else {
            throw PostgresDecodingFailure.invalidValue("uuid")
        }
        self = uuid
    }
}

// MARK: - Decimal (numeric)

extension Decimal: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .numeric }

    /// Exact: `Decimal`'s description is its full decimal expansion (`NaN` for NaN).
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.description.utf8)
    }
}

extension Decimal: PostgresDecodable {
    /// Decodes numeric and integer columns; fails rather than round when the value has more
    /// significant digits than `Decimal` holds (38): decode those as ``PostgresNumeric``.
    public init(postgresCell cell: PostgresCell) throws {
        let number = try PostgresNumeric(postgresCell: cell)
        guard let decimal = number.decimal else {
            throw PostgresDecodingFailure(
                "the value has more than 38 significant digits; decode it as PostgresNumeric")
        }
        self = decimal
    }
}
