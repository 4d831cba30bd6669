/// The parameters `$1 … $n` of a statement, already encoded.
///
/// Values are encoded as they are appended, into one contiguous byte buffer, so that sending a
/// statement needs no per-parameter allocation. Text-format values are stored NUL-terminated, as
/// libpq reads them as C strings.
public struct PostgresBindings: Sendable, Hashable {
    struct Parameter: Sendable, Hashable {
        var dataType: PostgresDataType
        var format: PostgresFormat
        /// Where the value starts in `bytes`.
        var offset: Int
        /// The value's length in bytes (without the terminating NUL of text values); -1 for NULL.
        var length: Int
    }

    private(set) var bytes: [UInt8] = []
    private(set) var parameters: [Parameter] = []
    /// The 1-based index of the first text parameter that contains a NUL byte, which PostgreSQL
    /// text cannot hold; the statement is refused with this index rather than silently truncated.
    private(set) var firstParameterWithNUL: Int?

    /// Creates empty bindings.
    public init() {}

    /// The number of parameters.
    public var count: Int {
        self.parameters.count
    }

    /// Appends a value (or SQL NULL for `nil`) as the next parameter.
    public mutating func append<Value: PostgresEncodable>(_ value: Value) {
        guard !value.isPostgresNull else {
            self.appendNull(as: Value.postgresDataType)
            return
        }
        let start = self.bytes.count
        value.encode(into: &self.bytes)
        let length = self.bytes.count - start
        if Value.postgresFormat == .text {
            if self.firstParameterWithNUL == nil, self.bytes[start...].contains(0) {
                self.firstParameterWithNUL = self.parameters.count + 1
            }
            self.bytes.append(0)
        }
        self.parameters.append(
            Parameter(dataType: Value.postgresDataType, format: Value.postgresFormat, offset: start, length: length))
    }

    /// Appends SQL NULL as the next parameter.
    public mutating func appendNull(as dataType: PostgresDataType = .unspecified) {
        self.parameters.append(Parameter(dataType: dataType, format: .text, offset: 0, length: -1))
    }

    /// Appends all parameters of `other`, in order.
    mutating func append(contentsOf other: PostgresBindings) {
        let base = self.bytes.count
        if self.firstParameterWithNUL == nil, let index = other.firstParameterWithNUL {
            self.firstParameterWithNUL = self.parameters.count + index
        }
        self.bytes.append(contentsOf: other.bytes)
        for var parameter in other.parameters {
            if parameter.length >= 0 {
                parameter.offset += base
            }
            self.parameters.append(parameter)
        }
    }
}

extension PostgresBindings: ExpressibleByArrayLiteral {
    /// Creates bindings from a list of values, e.g. one row of a ``PostgresBatchInsert``.
    public init(arrayLiteral values: any PostgresEncodable...) {
        self.init()
        for value in values {
            self.append(value)
        }
    }
}

extension PostgresBindings: CustomStringConvertible {
    /// The parameter count and types, never the values.
    public var description: String {
        "[" + self.parameters.map { $0.length < 0 ? "NULL" : "\($0.dataType)" }.joined(separator: ", ") + "]"
    }
}
