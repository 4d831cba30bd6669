import ArgumentParser
import ChorusRuntime
import Contracts
import Foundation
import HTTP
import Kafka
import Logging
import Postgres

/// The pipeline's stages: the service, the topic its consumer group reads.
let stageTopics: [(service: String, topic: String)] = [
    ("ingest", Topics.requests), ("dispatcher", Topics.accepted), ("provider-worker", Topics.remoteCalls),
    ("gpu-inference", Topics.localCalls), ("judge", Topics.fusion), ("billing", Topics.usage),
]

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the broker, the database, and each service's instances, health and consumer lag.",
        discussion: """
            Services are found by their heartbeats (table service_heartbeats, namespace CHORUS_KAFKA_NAMESPACE); \
            each live instance's /healthz is asked. Lag is, per stage, the messages of its topic its consumer \
            group has not committed yet. Exit status 0 only when the broker and the database answer and every \
            stage has a healthy instance.
            """)

    func run() async throws {
        var healthy = true
        let env: Environment
        do { env = try Environment.load() } catch { ServiceMain.fail("chorus", error) }

        var admin: KafkaAdmin?
        do {
            let kafka = try KafkaSettings(reader: env.reader)
            var client = kafka.client(id: "chorus-cli")
            client.reachabilityTimeout = .seconds(3)
            let reachable = KafkaAdmin(configuration: client, logger: env.logger)
            try await reachable.checkReachability()
            admin = reachable
            var missing: [String] = []
            for topic in Topics.all where try await reachable.partitionCount(topic: topic) == nil { missing.append(topic) }
            print("kafka     up    \(kafka.brokers)" + (missing.isEmpty ? "" : "; missing topics: \(missing.joined(separator: ", ")) (run bin/chorus init)"))
            healthy = healthy && missing.isEmpty
        } catch {
            print("kafka     DOWN  \(ServiceMain.describe(error))")
            healthy = false
        }

        var pool: PostgresPool?
        do {
            let database = try DatabaseSettings(reader: env.reader)
            let connected = try await database.connectedPool(applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
            pool = connected
            let files = try PostgresMigrator(directory: env.migrationsDirectory).loadMigrations().count
            let applied = try await connected.query("SELECT count(*) FROM chorus_schema_migrations").first?.decode(Int.self, at: 0) ?? 0
            print("postgres  up    \(DatabaseSettings.redacted(database.url)); migrations \(applied)/\(files)")
            healthy = healthy && applied >= files
        } catch {
            print("postgres  DOWN  \(ServiceMain.describe(error))")
            healthy = false
        }

        let instances = await Self.instances(pool, logger: env.logger)
        let lags = await Self.lags(admin)
        await pool?.close()
        print("")
        print("\("SERVICE".padded(16)) \("HEALTH".padded(8)) \("LAG".leftPadded(5))  INSTANCES")
        for (service, topic) in stageTopics {
            let mine = instances.filter { $0.service == service }
            let live = mine.filter { $0.healthz == "ok" }.count
            let health = live > 0 ? (live == mine.count ? "ok" : "degraded") : "DOWN"
            healthy = healthy && live > 0
            let lag = lags[topic].map(String.init) ?? "?"
            print("\(service.padded(16)) \(health.padded(8)) \(lag.leftPadded(5))  \(live)/\(mine.count) healthy")
            for instance in mine {
                let endpoint = instance.port.map { "\(instance.host):\($0)" } ?? "\(instance.host):-"
                print("  \(instance.id.padded(28)) \(endpoint.padded(22)) pid \(String(instance.pid).padded(7)) up \(Self.age(instance.upMs).padded(6)) seen \(Self.age(instance.seenMs)) ago  healthz \(instance.healthz)")
            }
        }
        if !healthy { throw ExitCode(1) }
    }

    /// One row of `service_heartbeats`, and what its `/healthz` said.
    struct Instance: Sendable {
        var service: String
        var id: String
        var host: String
        var pid: Int
        var port: Int?
        var upMs: Int
        var seenMs: Int
        var healthz: String
    }

    /// The instances of this namespace seen in the last 10 minutes, each asked for `/healthz` when
    /// its heartbeat is fresh (an older one is `stale`: the process died without shutting down).
    static func instances(_ pool: PostgresPool?, logger: Logger) async -> [Instance] {
        guard let pool else { return [] }
        let rows: PostgresRows
        do {
            rows = try await pool.query("""
                SELECT service, instance_id, host, pid, metrics_port,
                       (extract(epoch FROM now() - started_at) * 1000)::bigint, (extract(epoch FROM now() - last_seen) * 1000)::bigint
                FROM service_heartbeats
                WHERE namespace = \(Topics.current.namespace) AND last_seen > now() - interval '10 minutes'
                ORDER BY service, started_at
                """)
        } catch {
            print("services  ?     cannot read service_heartbeats: \(ServiceMain.describe(error)) (run bin/chorus migrate)")
            return []
        }
        var instances: [Instance] = []
        for row in rows {
            guard let values = try? row.decode((String, String, String, Int, Int?, Int, Int).self) else { continue }
            let (service, id, host, pid, port, up, seen) = values
            instances.append(Instance(service: service, id: id, host: host, pid: pid, port: port, upMs: up, seenMs: seen, healthz: "stale"))
        }
        let http = HTTPClient(logger: logger)
        let probed = await withTaskGroup(of: Instance.self) { group in
            for instance in instances {
                group.addTask {
                    var instance = instance
                    guard instance.seenMs < 15_000 else { return instance }
                    guard let port = instance.port else {
                        instance.healthz = "starting"
                        return instance
                    }
                    instance.healthz = await probe(http, host: instance.host, port: port)
                    return instance
                }
            }
            var probed: [Instance] = []
            for await instance in group { probed.append(instance) }
            return probed.sorted { ($0.service, $0.upMs) < ($1.service, $1.upMs) }
        }
        await http.shutdown()
        return probed
    }

    /// `ok`, or what went wrong asking `http://host:port/healthz`.
    static func probe(_ http: HTTPClient, host: String, port: Int) async -> String {
        do {
            let response = try await http.execute(
                HTTPRequest(url: "http://\(host):\(port)/healthz", timeout: .seconds(2), connectTimeout: .seconds(1)))
            return response.status == 200 ? "ok" : "http \(response.status)"
        } catch {
            return "unreachable"
        }
    }

    /// Per stage topic: messages not yet committed by its consumer group (nil when unknown).
    static func lags(_ admin: KafkaAdmin?) async -> [String: Int64] {
        guard let admin else { return [:] }
        return await withTaskGroup(of: (String, Int64?).self) { group in
            for (service, topic) in stageTopics {
                group.addTask {
                    guard let high = try? await admin.highWatermarks(topic: topic),
                        let committed = try? await admin.committedOffsets(group: Topics.current.group(service), topic: topic)
                    else { return (topic, nil) }
                    return (topic, consumerLag(high: high, committed: committed))
                }
            }
            var lags: [String: Int64] = [:]
            for await (topic, lag) in group { lags[topic] = lag }
            return lags
        }
    }

    static func age(_ milliseconds: Int) -> String {
        let seconds = milliseconds / 1000
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }
}

/// The messages a group has not committed: per partition, the high watermark minus the committed
/// offset (a partition without one counts from its start).
func consumerLag(high: [Int: Int64], committed: [Int: Int64]) -> Int64 {
    high.reduce(0) { total, entry in total + max(0, entry.value - (committed[entry.key] ?? 0)) }
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
