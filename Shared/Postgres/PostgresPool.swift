import Logging
import ServiceLifecycle
import Synchronization

/// A fixed set of PostgreSQL connections, each owned by one dedicated thread.
///
/// libpq calls block, so every statement runs on its connection's thread and the calling task
/// awaits the result without occupying Swift's cooperative pool. Callers lease a connection
/// (``withConnection(isolation:_:)``, ``transaction(isolation:isolationLevel:_:)``) or use the
/// one-statement conveniences (``query(_:)``, ``execute(_:)``). When all connections are leased,
/// callers wait in arrival order.
///
/// Connections open on first use, or all at once when ``run()`` starts. A connection that broke
/// while idle (server restart, terminated backend) is reconnected at the start of its next lease;
/// a statement that was running when it broke fails with a retriable ``PostgresError``.
///
/// Run it in a `ServiceGroup`, or call ``close()`` when done (tests):
///
/// ```swift
/// let pool = PostgresPool(configuration: .init(url: url), logger: logger)
/// let count = try await pool.query("SELECT count(*) FROM usage WHERE tenant = \(tenant)")
///     .first!.decode(Int64.self)
/// ```
public final class PostgresPool: Sendable {
    typealias StateMachine = PostgresPoolStateMachine<
        CheckedContinuation<Int, any Error>, CheckedContinuation<Void, Never>
    >

    /// The configuration the pool was created with.
    public let configuration: PostgresConfiguration
    private let logger: Logger
    private let workers: [PQWorker]
    private let state: Mutex<StateMachine>
    private let nextWaiterID = Atomic<Int>(0)

    /// Creates the pool and its threads; connections open on first use or in ``run()``.
    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "chorus.postgres")) {
        let size = max(1, configuration.poolSize)
        let settings = PQConnectionSettings(configuration)
        self.configuration = configuration
        self.logger = logger
        self.workers = (0..<size).map { PQWorker(index: $0, settings: settings, logger: logger) }
        self.state = Mutex(StateMachine(connectionCount: size))
    }

    deinit {
        // A pool dropped without close(): end its threads (no lease can exist, leases hold the pool).
        if self.state.withLock({ $0.isRunning }) {
            for worker in self.workers {
                worker.stop {}
            }
        }
    }

    // MARK: - Leasing

    /// Leases a connection for the duration of `body`.
    ///
    /// Waits (first come, first served) while all connections are leased. A transaction left open
    /// by `body` is rolled back when the lease ends.
    ///
    /// - Throws: `CancellationError` if the task is cancelled while waiting,
    ///   ``PostgresError/Code/poolClosed`` once the pool is closing, and whatever `body` throws.
    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let index = try await self.lease()
        let lease = ConnectionLease()
        defer { self.release(index, lease) }
        return try await body(PostgresConnection(worker: self.workers[index], lease: lease))
    }

    /// Runs one statement on any connection and returns its rows.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await self.withConnection { try await $0.query(query) }
    }

    /// Runs one statement on any connection and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.withConnection { try await $0.execute(query) }
    }

    private func lease() async throws -> Int {
        if let index = self.state.withLock({ $0.leaseIfIdle() }) {
            return index
        }
        let id = self.nextWaiterID.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let action = self.state.withLock {
                    $0.lease(id: id, waiter: continuation, isCancelled: Task.isCancelled)
                }
                switch action {
                case .use(let index):
                    continuation.resume(returning: index)
                case .wait:
                    break
                case .fail(let failure):
                    continuation.resume(throwing: Self.error(failure))
                }
            }
        } onCancel: {
            self.state.withLock { $0.cancelLease(id: id) }?.resume(throwing: CancellationError())
        }
    }

    private func release(_ index: Int, _ lease: ConnectionLease) {
        if lease.end() {
            // Queued before the hand-over, so it runs before the next lessee's statements.
            self.workers[index].submit { $0.rollBackAbandonedTransaction() }
        }
        switch self.state.withLock({ $0.release(connection: index) }) {
        case .none:
            break
        case .handOver(let waiter, let connection):
            waiter.resume(returning: connection)
        case .stopWorkers:
            self.stopWorkers()
        }
    }

    private static func error(_ failure: StateMachine.LeaseFailure) -> any Error {
        switch failure {
        case .poolClosed: PostgresError(code: .poolClosed, message: "the PostgreSQL pool is closed")
        case .cancelled: CancellationError()
        }
    }

    // MARK: - Lifecycle

    /// Opens every connection now, failing with the first connection error.
    public func connect() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in self.workers {
                group.addTask {
                    try await worker.perform { try $0.connectIfNeeded() }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Closes the pool: waiting callers fail, leased connections finish their blocks, then every
    /// connection closes and its thread ends. Safe to call more than once.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let action = self.state.withLock { $0.close(waiter: continuation) }
            switch action {
            case .stopWorkers(let failing):
                Self.fail(failing)
                self.stopWorkers()
            case .waitForLeases(let failing):
                Self.fail(failing)
            case .wait:
                break
            case .alreadyClosed:
                continuation.resume()
            }
        }
    }

    private static func fail(_ waiters: [CheckedContinuation<Int, any Error>]) {
        for waiter in waiters {
            waiter.resume(throwing: Self.error(.poolClosed))
        }
    }

    private func stopWorkers() {
        let countdown = StopCountdown(remaining: self.workers.count)
        for worker in self.workers {
            worker.stop {
                guard countdown.finishOne() else {
                    return
                }
                for waiter in self.state.withLock({ $0.workersStopped() }) {
                    waiter.resume()
                }
            }
        }
        self.logger.debug("PostgreSQL pool closing")
    }
}

/// Counts workers down to zero as they stop.
private final class StopCountdown: Sendable {
    private let remaining: Mutex<Int>

    init(remaining: Int) {
        self.remaining = Mutex(remaining)
    }

    /// Returns true for the last worker.
    func finishOne() -> Bool {
        self.remaining.withLock { remaining in
            remaining -= 1
            return remaining == 0
        }
    }
}

extension PostgresPool: Service {
    /// Opens all connections, then keeps the pool until graceful shutdown or cancellation, then
    /// closes it.
    ///
    /// - Throws: the first connection error, as one line naming the setting, e.g.
    ///   `CHORUS_DATABASE_URL=postgresql://chorus@127.0.0.1:5999/chorus: Connection refused`.
    public func run() async throws {
        do {
            try await self.connect()
        } catch {
            await self.close()
            throw error
        }
        try? await gracefulShutdown()
        await self.close()
    }
}
