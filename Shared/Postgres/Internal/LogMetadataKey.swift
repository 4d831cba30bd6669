/// The logger metadata keys this module sets.
enum LogMetadataKey {
    /// A connection's position in its pool.
    static let connection = "postgres.connection"
    /// The server process of a connection.
    static let backendPID = "postgres.backend_pid"
    /// A migration's file name.
    static let migration = "postgres.migration"
    /// Versions of migrations found in the database.
    static let migrationVersions = "postgres.migration_versions"
}
