import Contracts
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// Tells operators this instance is alive: upserts its row in `service_heartbeats` (service,
/// instance, host, pid, metrics port, started, last seen) every `interval`, and deletes it on a
/// graceful shutdown. `chorus status` reads the rows of its namespace; a row whose `last_seen` is
/// old belongs to an instance that died without shutting down.
///
/// A failed beat is logged and retried at the next one; it never stops the service.
public final class ServiceHeartbeat: Service, Sendable {
    /// This process's row: `<host>/<pid>/<random>`, unique even when a pid is reused.
    public let instanceID: String
    private let service: String
    private let namespace: String
    private let host: String
    private let database: PostgresPool
    private let interval: Duration
    private let logger: Logger
    private let startedAt = Date()
    private let port = Mutex<Int?>(nil)
    private let failures = Mutex(0)

    /// - Parameter host: the address `chorus status` should reach the metrics port at.
    public init(
        service: String, host: String, database: PostgresPool, namespace: String = Topics.current.namespace,
        interval: Duration = .seconds(5), logger: Logger
    ) {
        self.service = service
        self.namespace = namespace
        self.host = host
        self.database = database
        self.interval = interval
        self.logger = logger
        let pid = ProcessInfo.processInfo.processIdentifier
        let suffix = String(UInt32.random(in: 0x1000_0000...UInt32.max), radix: 16)
        instanceID = "\(ProcessInfo.processInfo.hostName)/\(pid)/\(suffix)"
    }

    /// The host to advertise for a listener bound to `address`: the machine's name when it listens on
    /// every interface, else the address itself.
    public static func advertisedHost(for address: String) -> String {
        ["0.0.0.0", "::", "[::]", ""].contains(address) ? ProcessInfo.processInfo.hostName : address
    }

    /// The port the instance's `/metrics` and `/healthz` answer on, once it listens.
    public func listening(on port: Int) {
        self.port.withLock { $0 = port }
    }

    public func run() async throws {
        // Rows of instances that died long ago (status no longer shows them) go; any instance may do it.
        _ = try? await database.execute("DELETE FROM service_heartbeats WHERE last_seen < now() - interval '1 day'")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await beat()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
        // A clean stop: the instance is gone, not dead.
        _ = try? await database.execute("DELETE FROM service_heartbeats WHERE instance_id = \(instanceID)")
    }

    func beat() async {
        let port = self.port.withLock { $0 }
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        do {
            try await database.execute("""
                INSERT INTO service_heartbeats (instance_id, namespace, service, host, pid, metrics_port, started_at, last_seen)
                VALUES (\(instanceID), \(namespace), \(service), \(host), \(pid), \(port), \(startedAt), now())
                ON CONFLICT (instance_id) DO UPDATE SET metrics_port = excluded.metrics_port, last_seen = now()
                """)
            failures.withLock { $0 = 0 }
        } catch {
            let count = failures.withLock { count in
                count += 1
                return count
            }
            guard count == 1 || count % 60 == 0 else { return }
            let missing = (error as? PostgresError)?.sqlState == "42P01"
            logger.warning(
                missing ? "cannot record the heartbeat: table service_heartbeats is missing; run `bin/chorus migrate`"
                    : "cannot record the heartbeat yet; retrying",
                metadata: [LogKey.error: "\(ServiceMain.describe(error))"])
        }
    }
}
