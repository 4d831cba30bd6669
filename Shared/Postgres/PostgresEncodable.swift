/// A Swift value that can be a statement parameter.
///
/// Conforming types append PostgreSQL's text (or binary) representation of themselves to a byte
/// buffer. Provided: `String`, `Int`, `Int64`, `Int32`, `Int16`, `Bool`, `Double`, `[UInt8]`
/// (bytea), `Date` (timestamptz), `UUID`, `Decimal` and ``PostgresNumeric`` (numeric), and
/// `Optional` of any of these (NULL for `nil`).
///
/// Strings are sent with an unspecified type, so the server reads them as the type the statement
/// needs there: a JSON or JSONB column, a numeric, an enum. Where no type can be inferred
/// (`SELECT $1`) they are text; add a cast (`\(json)::jsonb`) when another type is meant.
public protocol PostgresEncodable {
    /// The type sent with the parameter; ``PostgresDataType/unspecified`` lets the server infer it.
    static var postgresDataType: PostgresDataType { get }

    /// The representation ``encode(into:)`` writes. Default ``PostgresFormat/text``.
    static var postgresFormat: PostgresFormat { get }

    /// Appends the value's representation to `buffer`, without a length or terminator.
    ///
    /// - Important: Only append; the buffer holds the statement's other parameters too.
    func encode(into buffer: inout [UInt8])

    /// Whether the value is SQL NULL. Default false; `Optional.none` answers true.
    var isPostgresNull: Bool { get }
}

extension PostgresEncodable {
    public static var postgresFormat: PostgresFormat { .text }

    public var isPostgresNull: Bool { false }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { Wrapped.postgresDataType }

    public static var postgresFormat: PostgresFormat { Wrapped.postgresFormat }

    public func encode(into buffer: inout [UInt8]) {
        self?.encode(into: &buffer)
    }

    public var isPostgresNull: Bool { self == nil }
}

extension String: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .unspecified }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.utf8)
    }
}

extension Substring: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .unspecified }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.utf8)
    }
}

extension Int: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int8 }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(self).utf8)
    }
}

extension Int64: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int8 }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(self).utf8)
    }
}

extension Int32: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int4 }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(self).utf8)
    }
}

extension Int16: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int2 }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(self).utf8)
    }
}

extension Bool: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .bool }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(self ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }
}

extension Double: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .float8 }

    /// Swift's shortest round-trip form; PostgreSQL reads it (and `inf`, `-inf`, `nan`) exactly.
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.description.utf8)
    }
}

extension Array: PostgresEncodable where Element == UInt8 {
    public static var postgresDataType: PostgresDataType { .bytea }

    /// Sent in binary: the bytes as they are.
    public static var postgresFormat: PostgresFormat { .binary }

    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self)
    }
}
