import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// The entry point every Chorus executable shares.
///
/// Reads the configuration, bootstraps logging, asks the executable for its services and runs them
/// in one `ServiceGroup` that shuts down in reverse order on SIGTERM or SIGINT, within
/// `shutdown_timeout`. A failure before the services run (a bad setting, an unreachable broker)
/// prints one line, `<name>: error: <what and why>`, and exits with status 1: no stack dump.
public enum ServiceMain {
    public static func run(
        name: String,
        build: (ConfigurationReader, Logger) async throws -> [any Service]
    ) async -> Never {
        let logger: Logger
        let runtime: RuntimeSettings
        let services: [any Service]
        do {
            let reader = try ConfigurationReader()
            runtime = try RuntimeSettings(reader: reader)
            bootstrapLogging(runtime)
            ChorusMetrics.bootstrap()
            var base = Logger(label: name)
            base[metadataKey: LogKey.service] = .string(name)
            logger = base
            services = try await build(reader, logger)
        } catch {
            fail(name, error)
        }

        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            ).with(maximumGracefulShutdownDuration: runtime.shutdownTimeout))
        do {
            logger.info("started")
            try await group.run()
            logger.info("stopped")
            exit(0)
        } catch {
            logger.error("stopped with an error", metadata: [LogKey.error: "\(describe(error))"])
            exit(1)
        }
    }

    /// Bootstraps swift-log once per process with Chorus's handler.
    public static func bootstrapLogging(_ runtime: RuntimeSettings) {
        LoggingSystem.bootstrap(
            { label, provider in
                ChorusLogHandler(label: label, level: runtime.logLevel, format: runtime.logFormat, metadataProvider: provider)
            }, metadataProvider: MessageContext.metadataProvider)
    }

    /// Prints `name: error: …` on standard error and exits with status 1.
    public static func fail(_ name: String, _ error: any Error) -> Never {
        StandardErrorWriter.write("\(name): error: \(describe(error))\n")
        exit(1)
    }

    /// One line for an error: its description for our error types, the type name otherwise.
    public static func describe(_ error: any Error) -> String {
        let text = (error as? KafkaError)?.message ?? String(describing: error)
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

extension ServiceGroupConfiguration {
    fileprivate func with(maximumGracefulShutdownDuration duration: Duration) -> Self {
        var copy = self
        copy.maximumGracefulShutdownDuration = duration
        return copy
    }
}

/// Settings every executable reads: logging and shutdown.
public struct RuntimeSettings: Sendable {
    /// `log.level` / `CHORUS_LOG_LEVEL`: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel: Logger.Level
    /// `log.format` / `CHORUS_LOG_FORMAT`: text or json. Default text.
    public var logFormat: LogFormat
    /// `shutdown_timeout` / `CHORUS_SHUTDOWN_TIMEOUT`: how long a graceful shutdown may take. Default 10s.
    public var shutdownTimeout: Duration

    public init(reader: ConfigurationReader) throws {
        let levels = Logger.Level.allCases.map(\.rawValue)
        logLevel = Logger.Level(rawValue: try reader.choice("log.level", default: "info", allowed: levels))!
        logFormat = LogFormat(
            rawValue: try reader.choice("log.format", default: "text", allowed: LogFormat.allCases.map(\.rawValue)))!
        shutdownTimeout = try reader.duration("shutdown_timeout", default: .seconds(10))
    }
}
