import ArgumentParser
import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Logging
import Postgres

/// `chorus doctor`: checks what Chorus needs, one line per check, each problem with its fix.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, librdkafka, broker, topics, database, migrations, model files and provider keys.",
        discussion: """
            Prints one line per check (`ok` or `FAIL`), and under each failure the fix. Provider keys are \
            reported as set or missing, never shown. Exit status 0 only when every check passes.
            """)

    func run() async throws {
        var report = DoctorReport()
        let env: Environment
        do {
            env = try Environment.load()
            report.pass("configuration", env.reader.file.map { "read \($0)" } ?? "defaults and CHORUS_* variables (no file)")
        } catch {
            report.fail(
                "configuration", ServiceMain.describe(error),
                fix: "correct the setting named above in config/chorus.yaml (or CHORUS_CONFIG) or its CHORUS_* variable")
            report.finish()
        }

        await checkKafka(env, &report)
        await checkDatabase(env, &report)
        checkCatalog(env, &report)
        report.finish()
    }

    // MARK: - Kafka

    private func checkKafka(_ env: Environment, _ report: inout DoctorReport) async {
        do {
            try Kafka.checkRuntimeVersion()
            report.pass("librdkafka", "\(Kafka.runtimeVersion) (needs >= \(Kafka.minimumRuntimeVersion))")
        } catch {
            report.fail("librdkafka", ServiceMain.describe(error), fix: "run scripts/setup.sh, which puts librdkafka 2.16 in .deps/lib")
            return
        }
        let kafka: KafkaSettings
        do {
            kafka = try KafkaSettings(reader: env.reader)
        } catch {
            report.fail("broker", ServiceMain.describe(error), fix: "correct kafka.brokers (CHORUS_KAFKA_BROKERS)")
            return
        }
        var client = kafka.client(id: "chorus-doctor")
        client.reachabilityTimeout = .seconds(3)
        let admin = KafkaAdmin(configuration: client, logger: env.logger)
        do {
            try await admin.checkReachability()
            report.pass("broker", "\(kafka.brokers) answers")
        } catch {
            report.fail(
                "broker", ServiceMain.describe(error),
                fix: "start the embedded stack (bin/chorus up) or set CHORUS_KAFKA_BROKERS to a reachable broker")
            return
        }
        var missing: [String] = []
        do {
            for topic in Topics.all where try await admin.partitionCount(topic: topic) == nil { missing.append(topic) }
        } catch {
            report.fail("topics", ServiceMain.describe(error), fix: "check that the broker is healthy")
            return
        }
        if missing.isEmpty {
            report.pass("topics", "all \(Topics.all.count) exist (namespace \(Topics.current.namespace))")
        } else {
            report.fail("topics", "missing: \(missing.joined(separator: ", "))", fix: "run bin/chorus init (or start any service: it creates them)")
        }
    }

    // MARK: - PostgreSQL

    private func checkDatabase(_ env: Environment, _ report: inout DoctorReport) async {
        let pool: PostgresPool
        do {
            let database = try DatabaseSettings(reader: env.reader)
            var configuration = database.configuration(applicationName: "chorus-doctor", poolSize: 1)
            configuration.connectTimeout = .seconds(3)
            pool = PostgresPool(configuration: configuration, logger: env.logger)
            try await pool.connect()
            report.pass("database", "\(DatabaseSettings.redacted(database.url)) answers")
        } catch {
            report.fail(
                "database", ServiceMain.describe(error),
                fix: "start PostgreSQL (bin/chorus up) or correct database.url (CHORUS_DATABASE_URL) and database.password_file")
            return
        }
        do {
            let files = try PostgresMigrator(directory: env.migrationsDirectory).loadMigrations()
            let applied = Set(
                try await pool.query("SELECT version FROM \(identifier: PostgresMigrator.tableName)").map { try $0.decode(Int.self, at: 0) })
            let pending = files.filter { !applied.contains($0.version) }
            let unknown = applied.subtracting(files.map(\.version)).sorted()
            let note = unknown.isEmpty ? "" : "; the database also has migrations \(unknown) this checkout does not know"
            if pending.isEmpty {
                report.pass("migrations", "\(files.count) applied\(note)")
            } else {
                report.fail(
                    "migrations", "\(pending.count) pending: \(pending.map(\.fileName).joined(separator: ", "))\(note)",
                    fix: "run bin/chorus migrate")
            }
        } catch let error as PostgresError where error.sqlState == "42P01" {
            report.fail("migrations", "none applied (no \(PostgresMigrator.tableName) table)", fix: "run bin/chorus init")
        } catch {
            report.fail("migrations", ServiceMain.describe(error), fix: "check \(env.migrationsDirectory) and the database")
        }
        await pool.close()
    }

    // MARK: - Catalog

    private func checkCatalog(_ env: Environment, _ report: inout DoctorReport) {
        let catalog: ModelCatalog
        do {
            catalog = try ModelCatalog.load(reader: env.reader)
            report.pass("catalog", "\(catalog.models.count) models, \(catalog.providers.count) providers, \(catalog.presets.count) presets")
        } catch {
            report.fail("catalog", ServiceMain.describe(error), fix: "correct the catalog entry named above (catalog.path, CHORUS_CATALOG_PATH)")
            return
        }

        let local = catalog.models.values.compactMap { model -> (String, LocalModel)? in
            guard case .local(let file) = model.placement else { return nil }
            return (model.id, file)
        }.sorted { $0.0 < $1.0 }
        let missingFiles = local.filter { !FileManager.default.fileExists(atPath: $0.1.ggufPath) }
        if local.isEmpty {
            report.pass("model files", "no local models in the catalog")
        } else if missingFiles.isEmpty {
            report.pass("model files", "\(local.count) GGUF files present (\(local.map(\.0).joined(separator: ", ")))")
        } else {
            for (id, file) in missingFiles {
                report.fail(
                    "model files", "models.\(id).local.gguf: \(file.ggufPath) does not exist",
                    fix: "run scripts/setup.sh (it fetches the bundled models) or point models.\(id).local.gguf at the file")
            }
        }

        // Providers some model routes to; keys are reported as set or missing, never shown.
        var used = Set<String>()
        for model in catalog.models.values {
            if case .remote(let routes) = model.placement { used.formUnion(routes.map(\.provider)) }
        }
        var set: [String] = []
        for name in used.sorted() {
            guard let provider = catalog.providers[name], let variable = provider.apiKeyEnvironment else { continue }
            let present: Bool
            do {
                present = try env.reader.secret(environment: variable) != nil
            } catch {
                report.fail("provider keys", "\(name): \(ServiceMain.describe(error))", fix: "make \(variable)_FILE name a readable file")
                continue
            }
            if present {
                set.append("\(name) (\(variable))")
            } else {
                report.fail(
                    "provider keys", "\(name): \(variable) is missing",
                    fix: "export \(variable)=<key> (or \(variable)_FILE=<path to a file holding it>) for provider-worker")
            }
        }
        if !set.isEmpty { report.pass("provider keys", "set: \(set.joined(separator: ", "))") }
        if used.allSatisfy({ catalog.providers[$0]?.apiKeyEnvironment == nil }) {
            report.pass("provider keys", "no provider of the catalog needs a key")
        }
    }
}

/// The checks' lines, and whether any failed.
struct DoctorReport {
    private(set) var failures = 0

    mutating func pass(_ check: String, _ detail: String) {
        print("ok    \(check.padded(14)) \(detail)")
    }

    mutating func fail(_ check: String, _ problem: String, fix: String) {
        failures += 1
        print("FAIL  \(check.padded(14)) \(problem)")
        print("      \("".padded(14)) fix: \(fix)")
    }

    /// Prints the summary and exits: 0 when every check passed, 1 otherwise.
    func finish() -> Never {
        print(failures == 0 ? "chorus doctor: all is well" : "chorus doctor: \(failures) problem\(failures == 1 ? "" : "s")")
        Foundation.exit(failures == 0 ? 0 : 1)
    }
}
