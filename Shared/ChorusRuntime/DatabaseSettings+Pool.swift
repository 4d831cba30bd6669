import Logging
import Postgres

extension DatabaseSettings {
    public func configuration(applicationName: String, poolSize: Int? = nil) -> PostgresConfiguration {
        PostgresConfiguration(
            url: connectionURL, settingName: urlSettingName, poolSize: poolSize ?? self.poolSize,
            applicationName: applicationName)
    }

    /// A pool that has connected once (so a bad URL fails at start-up with one line).
    public func connectedPool(applicationName: String, logger: Logger, poolSize: Int? = nil) async throws -> PostgresPool {
        let pool = PostgresPool(configuration: configuration(applicationName: applicationName, poolSize: poolSize), logger: logger)
        try await pool.connect()
        return pool
    }
}

extension PostgresError: TransientError {
    public var isTransient: Bool { isRetriable }
}
