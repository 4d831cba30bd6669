/// A PostgreSQL type, identified by its OID.
public struct PostgresDataType: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
    /// The type's OID (`pg_type.oid`).
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// No type given: the server infers the parameter's type from where it is used.
    public static let unspecified = PostgresDataType(rawValue: 0)
    public static let bool = PostgresDataType(rawValue: 16)
    public static let bytea = PostgresDataType(rawValue: 17)
    public static let char = PostgresDataType(rawValue: 18)
    public static let name = PostgresDataType(rawValue: 19)
    public static let int8 = PostgresDataType(rawValue: 20)
    public static let int2 = PostgresDataType(rawValue: 21)
    public static let int4 = PostgresDataType(rawValue: 23)
    public static let text = PostgresDataType(rawValue: 25)
    public static let oid = PostgresDataType(rawValue: 26)
    public static let json = PostgresDataType(rawValue: 114)
    public static let xml = PostgresDataType(rawValue: 142)
    public static let float4 = PostgresDataType(rawValue: 700)
    public static let float8 = PostgresDataType(rawValue: 701)
    public static let unknown = PostgresDataType(rawValue: 705)
    public static let bpchar = PostgresDataType(rawValue: 1042)
    public static let varchar = PostgresDataType(rawValue: 1043)
    public static let date = PostgresDataType(rawValue: 1082)
    public static let time = PostgresDataType(rawValue: 1083)
    public static let timestamp = PostgresDataType(rawValue: 1114)
    public static let timestamptz = PostgresDataType(rawValue: 1184)
    public static let interval = PostgresDataType(rawValue: 1186)
    public static let numeric = PostgresDataType(rawValue: 1700)
    public static let uuid = PostgresDataType(rawValue: 2950)
    public static let jsonb = PostgresDataType(rawValue: 3802)

    /// The first OID a database assigns to user-defined types (enums, domains, extensions).
    static let firstUserDefinedOID: UInt32 = 16384

    private static let names: [UInt32: String] = [
        0: "unspecified", 16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2",
        23: "int4", 25: "text", 26: "oid", 114: "json", 142: "xml", 700: "float4", 701: "float8",
        705: "unknown", 1042: "bpchar", 1043: "varchar", 1082: "date", 1083: "time",
        1114: "timestamp", 1184: "timestamptz", 1186: "interval", 1700: "numeric", 2950: "uuid",
        3802: "jsonb",
    ]

    /// The type's name for built-in types, else `oid N`.
    public var description: String {
        Self.names[self.rawValue] ?? "oid \(self.rawValue)"
    }
}

/// How a value travels on the wire: PostgreSQL's text representation or its binary one.
public enum PostgresFormat: Int32, Sendable, Hashable {
    case text = 0
    case binary = 1
}
