import ArgumentParser
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Logging
import Postgres

@main
struct ChorusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chorus",
        abstract: "Fuse the answers of several LLMs into one.",
        discussion: "`bin/chorus up` and `bin/chorus down` start and stop the embedded stack.",
        subcommands: [Init.self, Migrate.self, Status.self, Doctor.self, Ask.self, Publish.self, Tail.self, RequestCommand.self, BillingCommand.self, ProjectCommand.self, KeysCommand.self])
}

/// What every subcommand needs: settings, a quiet logger, and one-line failures.
struct Environment {
    let reader: ConfigurationReader
    let logger: Logger

    static func load() throws -> Environment {
        let reader = try ConfigurationReader()
        var runtime = try RuntimeSettings(reader: reader)
        // The CLI prints its own results; library logs only matter when something is wrong.
        if runtime.logLevel < .warning { runtime.logLevel = .warning }
        ServiceMain.bootstrapLogging(runtime)
        return Environment(reader: reader, logger: Logger(label: "chorus"))
    }

    var migrationsDirectory: String { "\(reader.home)/migrations" }
}

/// Runs `body`, turning any failure into `chorus: error: …` and exit status 1.
func guarded(_ body: () async throws -> Void) async {
    do {
        try await body()
    } catch let code as ExitCode {
        exit(code.rawValue)
    } catch {
        ServiceMain.fail("chorus", error)
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the topics and apply the migrations (idempotent).")

    func run() async {
        await guarded {
            let env = try Environment.load()
            let kafka = try KafkaSettings(reader: env.reader)
            try await kafka.prepare(topics: Topics.all, logger: env.logger)
            print("chorus: \(Topics.all.count) topics ready on \(kafka.brokers) (\(kafka.partitions) partitions each)")
            let database = try DatabaseSettings(reader: env.reader)
            let pool = try await database.connectedPool(applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
            defer { Task { await pool.close() } }
            let applied = try await PostgresMigrator(directory: env.migrationsDirectory, logger: env.logger).migrate(pool)
            let total = try PostgresMigrator(directory: env.migrationsDirectory).loadMigrations().count
            _ = try await grantBillingRole(pool)
            print("chorus: migrations: \(applied.isEmpty ? "up to date" : "applied \(applied.map(\.fileName).joined(separator: ", "))") (\(total) in all)")
            await pool.close()
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations from migrations/.")

    func run() async {
        await guarded {
            let env = try Environment.load()
            let pool = try await DatabaseSettings(reader: env.reader).connectedPool(
                applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
            let applied = try await PostgresMigrator(directory: env.migrationsDirectory, logger: env.logger).migrate(pool)
            print(applied.isEmpty ? "chorus: migrations up to date" : "chorus: applied \(applied.map(\.fileName).joined(separator: ", "))")
            await pool.close()
        }
    }
}
