/// A transaction's isolation level.
public enum PostgresIsolationLevel: String, Sendable, Hashable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension PostgresConnection {
    /// Runs `body` in a transaction on this connection: `BEGIN`, then `COMMIT` when `body` returns,
    /// `ROLLBACK` when it throws or the task is cancelled.
    ///
    /// - Throws: what `body` throws; ``PostgresError/Code/transactionRolledBack`` when `COMMIT`
    ///   rolled back because a statement inside failed and `body` went on regardless; a
    ///   serialization failure (SQLSTATE 40001, retriable) at `COMMIT`.
    /// - Important: Do not nest, and do not run `BEGIN`/`COMMIT` inside `body`.
    public func transaction<Result>(
        isolation: isolated (any Actor)? = #isolation,
        isolationLevel: PostgresIsolationLevel = .readCommitted,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.execute(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolationLevel.rawValue)"))
        let result: Result
        do {
            result = try await body(self)
            // A task cancelled while `body` ran gets no commit, even if `body` finished.
            try Task.checkCancellation()
        } catch {
            await self.rollBack()
            throw error
        }
        let commit: PostgresRows
        do {
            commit = try await self.run(ignoringCancellation: true) { try $0.execute("COMMIT") }
        } catch {
            await self.rollBack()
            throw error
        }
        guard commit.commandTag == "COMMIT" else {
            throw PostgresError(
                code: .transactionRolledBack,
                message: "COMMIT rolled back the transaction because a statement in it had failed")
        }
        return result
    }

    /// `ROLLBACK`, also in a cancelled task; a failure leaves the connection to the pool's clean-up.
    func rollBack() async {
        _ = try? await self.run(ignoringCancellation: true) { connection in
            if connection.isInTransaction {
                _ = try connection.execute("ROLLBACK")
            }
        }
    }
}

extension PostgresPool {
    /// Runs `body` in a transaction on a leased connection: `BEGIN`, then `COMMIT` when `body`
    /// returns, `ROLLBACK` when it throws or the task is cancelled.
    ///
    /// ```swift
    /// try await pool.transaction { tx in
    ///     try await tx.execute("UPDATE balances SET amount = amount - \(cost) WHERE tenant = \(tenant)")
    ///     try await tx.insert(usageRows)
    /// }
    /// ```
    ///
    /// - Important: `body` may run again only if the caller retries: on a retriable error
    ///   (``PostgresError/isRetriable``, e.g. serialization failure), retry the whole call.
    public func transaction<Result>(
        isolation: isolated (any Actor)? = #isolation,
        isolationLevel: PostgresIsolationLevel = .readCommitted,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection { connection in
            try await connection.transaction(isolationLevel: isolationLevel) { try await body($0) }
        }
    }
}
