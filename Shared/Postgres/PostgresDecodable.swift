/// A Swift type a result cell can be decoded as.
///
/// Each type accepts only the PostgreSQL types that hold its values exactly: an `Int64` decodes
/// from int2/int4/int8 (and an integral numeric), not from text; a `String` from the text-like
/// types (text, varchar, char, name, json, jsonb, xml) and user-defined types such as enums; a
/// `Double` from float and integer types, never from numeric (decode money as ``PostgresNumeric``
/// or `Decimal`). Cast in SQL (`::text`) to read anything else as a string.
public protocol PostgresDecodable {
    /// Decodes a cell that is not NULL.
    ///
    /// - Throws: ``PostgresDecodingFailure``; the row adds the column and types to it.
    init(postgresCell cell: PostgresCell) throws

    /// Decodes any cell. The default refuses NULL; `Optional` decodes NULL as nil.
    static func decode(from cell: PostgresCell) throws -> Self
}

extension PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Self {
        guard !cell.isNull else {
            throw PostgresDecodingFailure("the value is NULL; decode it as an Optional")
        }
        return try Self(postgresCell: cell)
    }
}

/// Why a cell could not be decoded; never contains the cell's value.
public struct PostgresDecodingFailure: Error, Sendable {
    /// What was wrong, e.g. "type mismatch".
    public var reason: String

    /// Creates a failure; `reason` must not contain the value.
    public init(_ reason: String) {
        self.reason = reason
    }

    /// The column's PostgreSQL type cannot hold values of the requested Swift type.
    public static let typeMismatch = PostgresDecodingFailure("type mismatch")

    static func invalidValue(_ expected: String) -> PostgresDecodingFailure {
        PostgresDecodingFailure("the text is not a valid \(expected)")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        self = try Wrapped(postgresCell: cell)
    }

    public static func decode(from cell: PostgresCell) throws -> Self {
        cell.isNull ? nil : try Wrapped.decode(from: cell)
    }
}

extension String: PostgresDecodable {
    private static let textTypes: Set<PostgresDataType> = [
        .text, .varchar, .bpchar, .char, .name, .json, .jsonb, .xml, .unknown,
    ]

    public init(postgresCell cell: PostgresCell) throws {
        guard Self.textTypes.contains(cell.dataType)
            || cell.dataType.rawValue >= PostgresDataType.firstUserDefinedOID
        else {
            throw PostgresDecodingFailure.typeMismatch
        }
        self = cell.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }
}

extension Int64: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        self = try TextParsing.integer(cell)
    }
}

extension Int: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        self = try TextParsing.integer(cell)
    }
}

extension Int32: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        self = try TextParsing.integer(cell)
    }
}

extension Int16: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        self = try TextParsing.integer(cell)
    }
}

extension Bool: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        guard cell.dataType == .bool else {
            throw PostgresDecodingFailure.typeMismatch
        }
        switch cell.withUnsafeBytes({ $0.first }) {
        case UInt8(ascii: "t"): self = true
        case UInt8(ascii: "f"): self = false
        default: throw PostgresDecodingFailure.invalidValue("bool")
        }
    }
}

extension Double: PostgresDecodable {
    private static let numberTypes: Set<PostgresDataType> = [.float4, .float8, .int2, .int4, .int8]

    public init(postgresCell cell: PostgresCell) throws {
        guard Self.numberTypes.contains(cell.dataType) else {
            throw PostgresDecodingFailure(
                cell.dataType == .numeric
                    ? "type mismatch: numeric is exact; decode it as PostgresNumeric or Decimal"
                    : "type mismatch")
        }
        // PostgreSQL writes "Infinity", "-Infinity" and "NaN", which Swift reads as well.
        guard let text = cell.text, let value = Double(text) else {
            throw PostgresDecodingFailure.invalidValue("double")
        }
        self = value
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public init(postgresCell cell: PostgresCell) throws {
        guard cell.dataType == .bytea else {
            throw PostgresDecodingFailure.typeMismatch
        }
        guard let bytes = cell.withUnsafeBytes({ TextParsing.byteaHex($0) }) else {
            throw PostgresDecodingFailure.invalidValue("bytea in hex format")
        }
        self = bytes
    }
}
