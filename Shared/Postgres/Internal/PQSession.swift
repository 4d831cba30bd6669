import Logging

/// A worker thread's connection state. Not `Sendable`: created on, and used only by, that thread.
final class PQSession {
    private let settings: PQConnectionSettings
    private var logger: Logger
    private let cancellation: PQCancellation?
    private var isClosed: Bool
    private var connection: PQConnection? {
        didSet {
            self.cancellation?.setTarget(self.connection?.makeCancelTarget())
        }
    }

    init(
        settings: PQConnectionSettings, logger: Logger, index: Int, isClosed: Bool,
        cancellation: PQCancellation? = nil
    ) {
        self.settings = settings
        self.logger = logger
        self.logger[metadataKey: LogMetadataKey.connection] = "\(index)"
        self.isClosed = isClosed
        self.cancellation = cancellation
    }

    /// The connection to run the next statement of a lease on, connecting first if there is none.
    ///
    /// - Parameter leaseStart: true for the first statement of a lease. Only then is a connection
    ///   that broke while idle reset, since no transaction of this lease can be on it yet; later in
    ///   a lease a broken connection fails the statement instead, so that the rest of a
    ///   transaction never runs silently outside it.
    func connection(leaseStart: Bool) throws -> PQConnection {
        guard !self.isClosed else {
            throw PostgresError(code: .poolClosed, message: "the PostgreSQL pool is closed")
        }
        guard let connection = self.connection else {
            let connection = try PQConnection.connect(self.settings)
            self.logger.debug(
                "connected to PostgreSQL", metadata: [LogMetadataKey.backendPID: "\(connection.backendPID)"])
            self.connection = connection
            return connection
        }
        if leaseStart {
            if !connection.isUsable() {
                self.logger.notice("PostgreSQL connection was broken; reconnecting")
                try self.reset(connection)
            } else if !connection.isIdle {
                self.rollBackAbandonedTransaction(connection)
                if !connection.isIdle {
                    try self.reset(connection)
                }
            }
            return connection
        }
        guard connection.isOpen else {
            throw PostgresError(
                code: .connectionLost,
                message: "the connection to PostgreSQL was lost earlier in this lease; the statement was not sent")
        }
        return connection
    }

    private func reset(_ connection: PQConnection) throws {
        defer { self.cancellation?.setTarget(connection.makeCancelTarget()) }
        try connection.reset()
    }

    /// Connects now unless connected (used to warm the pool up).
    func connectIfNeeded() throws {
        _ = try self.connection(leaseStart: true)
    }

    /// Rolls back a transaction that a lease left open, so that its locks are released now.
    func rollBackAbandonedTransaction() {
        guard let connection = self.connection, connection.isOpen, connection.isInTransaction else {
            return
        }
        self.rollBackAbandonedTransaction(connection)
    }

    private func rollBackAbandonedTransaction(_ connection: PQConnection) {
        self.logger.warning("a PostgreSQL connection was returned inside a transaction; rolling it back")
        _ = try? connection.execute("ROLLBACK")
    }

    /// Closes the connection (`PQfinish`); later statements fail with ``PostgresError/Code/poolClosed``.
    func close() {
        self.connection = nil
        self.isClosed = true
    }
}
