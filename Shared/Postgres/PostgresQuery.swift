/// One SQL statement and its parameters.
///
/// Written as a string literal, every interpolated value becomes a bind parameter `$n`, never SQL
/// text, so that `"SELECT * FROM t WHERE id = \(id)"` is safe whatever `id` holds:
///
/// ```swift
/// let rows = try await pool.query("SELECT name FROM tenants WHERE id = \(tenantID) AND plan = \(plan)")
/// ```
///
/// Identifiers that cannot be parameters (a table name chosen at run time) are interpolated with
/// `\(identifier: name)`, which quotes them. Static multi-statement SQL (migrations) uses
/// ``init(unsafeSQL:bindings:)``.
///
/// A statement without parameters runs over PostgreSQL's simple query protocol and may hold several
/// statements; one with parameters runs over the extended protocol and must be a single statement.
public struct PostgresQuery: Sendable, Hashable {
    /// The SQL text, with `$1 … $n` where the parameters go.
    public var sql: String
    /// The parameters.
    public var bindings: PostgresBindings
    /// Why this query must not be sent, found while it was built (an identifier with a NUL byte).
    private(set) var invalidIdentifier: Bool = false

    /// Creates a query from SQL text that is sent as written.
    ///
    /// - Important: Never build `sql` from untrusted input; interpolate values into a
    ///   ``PostgresQuery`` literal instead.
    public init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = bindings
    }

    /// The reason the query cannot be sent, if any.
    var validationError: PostgresError? {
        if self.invalidIdentifier {
            return PostgresError(code: .invalidParameter, message: "an interpolated identifier contains a NUL byte")
        }
        if let index = self.bindings.firstParameterWithNUL {
            return PostgresError(
                code: .invalidParameter,
                message: "parameter $\(index) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        if self.sql.utf8.contains(0) {
            return PostgresError(code: .invalidParameter, message: "the SQL text contains a NUL byte")
        }
        return nil
    }
}

extension PostgresQuery: ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.bindings = stringInterpolation.bindings
        self.invalidIdentifier = stringInterpolation.invalidIdentifier
    }

    /// Builds a ``PostgresQuery`` from a string literal: values become parameters.
    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        public typealias StringLiteralType = String

        var sql: String
        var bindings: PostgresBindings
        var invalidIdentifier = false

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.sql = ""
            self.sql.reserveCapacity(literalCapacity + 3 * interpolationCount)
            self.bindings = PostgresBindings()
        }

        public mutating func appendLiteral(_ literal: String) {
            self.sql.append(literal)
        }

        /// Appends `value` as the next parameter `$n` (SQL NULL for `nil`).
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            self.bindings.append(value)
            self.sql.append("$\(self.bindings.count)")
        }

        /// Appends `value` as the next parameter `$n`, SQL NULL for `nil`.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            self.bindings.append(value)
            self.sql.append("$\(self.bindings.count)")
        }

        /// Appends a quoted identifier (table, column, schema name): `"name"`, inner quotes doubled.
        ///
        /// - Important: For names chosen by the program (e.g. a per-tenant table), not for values.
        public mutating func appendInterpolation(identifier: String) {
            if identifier.utf8.contains(0) {
                self.invalidIdentifier = true
            }
            self.sql.append(PostgresQuery.quoteIdentifier(identifier))
        }
    }

    /// `name` as a quoted SQL identifier, following PostgreSQL's rules (as `quote_ident` does).
    static func quoteIdentifier(_ name: String) -> String {
        var quoted = "\""
        for character in name {
            quoted.append(character == "\"" ? "\"\"" : String(character))
        }
        quoted.append("\"")
        return quoted
    }
}

extension PostgresQuery: CustomStringConvertible {
    /// The SQL and the parameter types, never the parameter values.
    public var description: String {
        self.bindings.count == 0 ? self.sql : "\(self.sql) \(self.bindings)"
    }
}
