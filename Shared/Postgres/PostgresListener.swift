import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A notification sent with `NOTIFY channel, 'payload'` or `pg_notify(channel, payload)`.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel it was sent on.
    public let channel: String
    /// The payload; empty when none was given.
    public let payload: String
    /// The server process of the session that sent it.
    public let senderPID: Int32
}

/// Receives PostgreSQL notifications (`LISTEN`/`NOTIFY`) on one dedicated connection and thread.
///
/// ```swift
/// let answers = try await listener.notifications(on: "answers")   // LISTEN is active now
/// // ... check the table for an answer that was already there, then:
/// for try await notification in answers where notification.payload == requestID { break }
/// ```
///
/// Send notifications through a ``PostgresPool``: `try await pool.execute("SELECT pg_notify(\(channel), \(payload))")`;
/// they are delivered when the sender's transaction commits.
///
/// The thread sleeps in `poll()` on the connection's socket and a wake-up pipe, so a notification
/// is delivered as soon as it arrives.
///
/// - Important: Notifications sent while the connection is down are lost. When the connection
///   breaks, every stream ends with a retriable ``PostgresError`` (``PostgresError/Code/connectionLost``):
///   subscribe again, then re-check the state you were waiting for.
public final class PostgresListener: Sendable {
    private let core: PQListenerCore

    /// Creates the listener and its thread; the connection opens on first subscription or in ``run()``.
    ///
    /// `configuration.poolSize` is ignored: a listener has one connection.
    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "chorus.postgres.listener")) {
        self.core = PQListenerCore(settings: PQConnectionSettings(configuration), logger: logger)
    }

    deinit {
        self.core.stop(then: nil)
    }

    /// Subscribes to `channel` and returns its notifications; `LISTEN` is active when this returns.
    ///
    /// The stream ends when the listener closes, or with a retriable error when the connection
    /// breaks. Stopping to iterate unsubscribes (`UNLISTEN` once a channel has no subscribers).
    ///
    /// - Parameter channel: the exact channel name (case-sensitive, at most 63 bytes).
    /// - Throws: ``PostgresError`` when the channel name is invalid, the connection cannot be opened,
    ///   or the listener is closed.
    public func notifications(on channel: String) async throws -> AsyncThrowingStream<PostgresNotification, any Error> {
        try await self.core.subscribe(channel)
    }

    /// Opens the connection now (it otherwise opens on the first subscription).
    public func connect() async throws {
        try await self.core.perform { .connect($0) }
    }

    /// Ends every stream, closes the connection and ends the thread. Safe to call more than once.
    public func close() async {
        await withCheckedContinuation { continuation in
            self.core.stop(then: continuation)
        }
    }
}

extension PostgresListener: Service {
    /// Opens the connection, then keeps the listener until graceful shutdown or cancellation,
    /// then closes it.
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

// MARK: - Core

/// The listener's shared state and its thread. Separate from ``PostgresListener`` so that the
/// thread does not keep the listener alive: dropping the listener stops the thread.
final class PQListenerCore: Sendable {
    typealias Subscriber = AsyncThrowingStream<PostgresNotification, any Error>.Continuation

    enum Command: Sendable {
        case connect(CheckedContinuation<Void, any Error>)
        case listen(String, CheckedContinuation<Void, any Error>)
        case unlisten(String)
    }

    private struct State {
        var subscribers: [String: [Int: Subscriber]] = [:]
        var commands: [Command] = []
        var nextSubscriberID = 0
        var isStopping = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var isStopped = false
    }

    private let settings: PQConnectionSettings
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUp: WakeUpPipe

    init(settings: PQConnectionSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.wakeUp = WakeUpPipe()
        let thread = Thread { [self] in
            self.runLoop()
        }
        thread.name = "chorus-postgres-listener"
        thread.start()
    }

    func subscribe(_ channel: String) async throws -> AsyncThrowingStream<PostgresNotification, any Error> {
        // PostgreSQL truncates longer names, and notifications would then carry another name.
        guard !channel.isEmpty, channel.utf8.count <= 63, !channel.utf8.contains(0) else {
            throw PostgresError(
                code: .invalidParameter, message: "a channel name must have 1 to 63 bytes and no NUL byte")
        }
        let (stream, subscriber) = AsyncThrowingStream.makeStream(of: PostgresNotification.self)
        let id = try self.state.withLock { state throws -> Int in
            guard !state.isStopping else {
                throw PostgresError(code: .poolClosed, message: "the PostgreSQL listener is closed")
            }
            state.nextSubscriberID += 1
            state.subscribers[channel, default: [:]][state.nextSubscriberID] = subscriber
            return state.nextSubscriberID
        }
        subscriber.onTermination = { [weak self] _ in
            self?.unsubscribe(channel, id: id)
        }
        do {
            try await self.perform { .listen(channel, $0) }
        } catch {
            subscriber.finish(throwing: error)
            throw error
        }
        return stream
    }

    func perform(_ command: (CheckedContinuation<Void, any Error>) -> Command) async throws {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = self.state.withLock { state in
                guard !state.isStopping else {
                    return false
                }
                state.commands.append(command(continuation))
                return true
            }
            if accepted {
                self.wakeUp.signal()
            } else {
                continuation.resume(
                    throwing: PostgresError(code: .poolClosed, message: "the PostgreSQL listener is closed"))
            }
        }
    }

    private func unsubscribe(_ channel: String, id: Int) {
        let lastOne = self.state.withLock { state in
            guard state.subscribers[channel]?.removeValue(forKey: id) != nil else {
                return false
            }
            guard state.subscribers[channel]!.isEmpty else {
                return false
            }
            state.subscribers[channel] = nil
            if !state.isStopping {
                state.commands.append(.unlisten(channel))
            }
            return true
        }
        if lastOne {
            self.wakeUp.signal()
        }
    }

    /// Asks the thread to end every stream, close the connection and exit; `waiter` resumes then.
    func stop(then waiter: CheckedContinuation<Void, Never>?) {
        let resumeNow = self.state.withLock { state in
            if let waiter {
                state.stopWaiters.append(waiter)
            }
            state.isStopping = true
            return state.isStopped
        }
        if resumeNow {
            self.state.withLock { state in
                defer { state.stopWaiters = [] }
                return state.stopWaiters
            }.forEach { $0.resume() }
        } else {
            self.wakeUp.signal()
        }
    }

    // MARK: - Thread

    private func runLoop() {
        var connection: PQConnection?
        while true {
            self.wakeUp.wait(orReadable: connection?.socket)
            if let current = connection, !current.consumeInput() {
                self.connectionLost()
                connection = nil
            }
            if let current = connection {
                self.deliver(from: current)
            }
            let (commands, isStopping) = self.state.withLock { state in
                var commands: [Command] = []
                swap(&commands, &state.commands)
                return (commands, state.isStopping)
            }
            for command in commands {
                self.run(command, on: &connection)
            }
            if isStopping {
                self.finishAll(throwing: nil)
                connection = nil
                let waiters = self.state.withLock { state in
                    state.isStopped = true
                    defer { state.stopWaiters = [] }
                    return state.stopWaiters
                }
                for waiter in waiters {
                    waiter.resume()
                }
                return
            }
        }
    }

    private func run(_ command: Command, on connection: inout PQConnection?) {
        do {
            switch command {
            case .connect(let done):
                do {
                    _ = try self.connected(&connection)
                    done.resume()
                } catch {
                    done.resume(throwing: error)
                }
            case .listen(let channel, let done):
                do {
                    _ = try self.connected(&connection).execute("LISTEN \(identifier: channel)")
                    done.resume()
                } catch {
                    done.resume(throwing: error)
                    throw error
                }
            case .unlisten(let channel):
                // A new subscriber may have come since the last one left.
                guard let current = connection, self.state.withLock({ $0.subscribers[channel] == nil }) else {
                    return
                }
                _ = try current.execute("UNLISTEN \(identifier: channel)")
            }
            if let current = connection {
                self.deliver(from: current)
            }
        } catch {
            if let current = connection, !current.isOpen {
                self.connectionLost()
                connection = nil
            }
        }
    }

    private func connected(_ connection: inout PQConnection?) throws -> PQConnection {
        if let connection {
            return connection
        }
        let opened = try PQConnection.connect(self.settings)
        connection = opened
        return opened
    }

    private func deliver(from connection: PQConnection) {
        while let notification = connection.nextNotification() {
            let subscribers = self.state.withLock { Array(($0.subscribers[notification.channel] ?? [:]).values) }
            for subscriber in subscribers {
                subscriber.yield(notification)
            }
        }
    }

    private func connectionLost() {
        self.logger.notice("PostgreSQL LISTEN connection was lost; ending the notification streams")
        self.finishAll(
            throwing: PostgresError(
                code: .connectionLost,
                message: "the LISTEN connection to PostgreSQL was lost; notifications may have been missed"))
    }

    private func finishAll(throwing error: PostgresError?) {
        let subscribers = self.state.withLock { state in
            defer { state.subscribers = [:] }
            return state.subscribers.values.flatMap(\.values)
        }
        for subscriber in subscribers {
            subscriber.finish(throwing: error)
        }
    }
}
