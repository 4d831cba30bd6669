/// An error from PostgreSQL, from libpq, or from this module.
///
/// The description names what went wrong and the SQLSTATE; it never contains passwords, statement
/// parameters or the DETAIL lines in which PostgreSQL echoes row values.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; new codes may be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String {
            self.name
        }

        /// The connection URL cannot be parsed; retrying will not help.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// No connection could be opened: server unreachable or refusing (unknown database,
        /// authentication failed).
        public static let connectionFailed = Code("connectionFailed")
        /// The connection broke while in use; the statement may or may not have run.
        public static let connectionLost = Code("connectionLost")
        /// The server rejected a statement; see ``PostgresError/sqlState``.
        public static let queryFailed = Code("queryFailed")
        /// A statement parameter cannot be sent, e.g. a string containing a NUL byte.
        public static let invalidParameter = Code("invalidParameter")
        /// A column could not be decoded as the requested Swift type.
        public static let decodingFailed = Code("decodingFailed")
        /// `COMMIT` rolled back because an earlier statement of the transaction had failed.
        public static let transactionRolledBack = Code("transactionRolledBack")
        /// The pool was closed.
        public static let poolClosed = Code("poolClosed")
        /// A ``PostgresConnection`` was used after its lease ended.
        public static let leaseEnded = Code("leaseEnded")
        /// A ``PostgresBatchInsert`` row does not fit the batch's columns.
        public static let invalidBatch = Code("invalidBatch")
        /// A migration file could not be read, is misnamed, or failed to apply.
        public static let migrationFailed = Code("migrationFailed")
        /// An applied migration's file changed since it was applied.
        public static let migrationChecksumMismatch = Code("migrationChecksumMismatch")
        /// The statement produced a result this module does not handle (e.g. `COPY`).
        public static let unsupportedStatement = Code("unsupportedStatement")
    }

    /// What kind of failure this is.
    public var code: Code
    /// The SQLSTATE reported by the server, e.g. `23505` for a unique violation.
    public var sqlState: String?
    /// The constraint the server named, e.g. for a unique or foreign-key violation.
    public var constraintName: String?
    /// A one-line explanation; for server errors, the primary message.
    public var message: String

    /// Creates an error.
    public init(code: Code, message: String, sqlState: String? = nil, constraintName: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.constraintName = constraintName
    }

    /// Whether running the same work again, later, may succeed.
    ///
    /// True for failed or lost connections, SQLSTATE class 08 (connection exception), 57P01/57P02/57P03
    /// (server shutting down or starting), 40001 (serialization failure), 40P01 (deadlock) and
    /// 53300 (too many connections).
    ///
    /// - Important: After ``Code/connectionLost`` a statement may have been applied before the
    ///   connection broke: retry only work that is idempotent.
    public var isRetriable: Bool {
        if self.code == .connectionFailed || self.code == .connectionLost {
            return true
        }
        guard let sqlState = self.sqlState else {
            return false
        }
        return sqlState.hasPrefix("08") || Self.retriableSQLStates.contains(sqlState)
    }

    private static let retriableSQLStates: Set<String> = ["57P01", "57P02", "57P03", "40001", "40P01", "53300"]

    public var description: String {
        if let sqlState = self.sqlState {
            return "\(self.message) (SQLSTATE \(sqlState))"
        }
        return self.message
    }
}
