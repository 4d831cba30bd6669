/// A connection leased from a ``PostgresPool`` for the duration of one `withConnection` or
/// `transaction` block.
///
/// Statements run in order on the connection's own thread. Use it for work that must share a
/// session: a transaction, a session setting, an advisory lock.
///
/// - Important: Valid only inside the block that received it; afterwards every call throws
///   ``PostgresError/Code/leaseEnded``.
public struct PostgresConnection: Sendable {
    let worker: PQWorker
    let lease: ConnectionLease

    /// Runs `query` and returns its rows.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await self.run { try $0.execute(query) }
    }

    /// Runs `query` and returns the number of rows it inserted, updated or deleted.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.query(query).affectedRows
    }

    /// Runs `body` on the connection's thread with the libpq connection.
    ///
    /// - Parameter ignoringCancellation: for clean-up (`ROLLBACK`, unlock) that must run in a
    ///   cancelled task; other work fails with `CancellationError` before it is sent.
    func run<Value: Sendable>(
        ignoringCancellation: Bool = false,
        _ body: @escaping @Sendable (PQConnection) throws -> Value
    ) async throws -> Value {
        guard self.lease.isActive else {
            throw PostgresError(
                code: .leaseEnded, message: "a PostgresConnection was used after its withConnection block ended")
        }
        if !ignoringCancellation {
            try Task.checkCancellation()
        }
        let leaseStart = self.lease.takeStart()
        let lease = self.lease
        do {
            return try await self.worker.perform { session in
                let connection = try session.connection(leaseStart: leaseStart)
                defer { lease.recordTransaction(open: connection.isInTransaction) }
                return try body(connection)
            }
        } catch let error as PostgresError where error.sqlState == "57014" && Task.isCancelled {
            // The statement was cancelled because the task was (see PQWorker.perform).
            throw CancellationError()
        }
    }
}
