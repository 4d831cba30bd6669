import Foundation
import Logging

/// One migration: a file `NNNN_name.sql` of plain SQL.
public struct PostgresMigration: Sendable, Hashable {
    /// The number the file name starts with; migrations apply in increasing order.
    public let version: Int
    /// The part of the file name between the number and `.sql`.
    public let name: String
    /// The file name.
    public let fileName: String
    /// The file's SQL, possibly several statements.
    public let sql: String
}

/// Applies numbered SQL files from a directory to the database, each once, in order.
///
/// Each migration runs in its own transaction together with its record in
/// `chorus_schema_migrations(version, name, checksum, applied_at)`, a table in the connection's
/// current schema. The whole run holds a session advisory lock (one per schema), so services
/// starting at the same time take turns and each file is applied exactly once. A file whose
/// SHA-256 differs from the one recorded when it was applied is an error: applied migrations must
/// never change; add a new one instead.
///
/// - Important: A migration must not contain `BEGIN`/`COMMIT` or statements that cannot run in a
///   transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`).
public struct PostgresMigrator: Sendable {
    /// The table recording applied migrations.
    public static let tableName = "chorus_schema_migrations"

    /// The directory holding the `NNNN_name.sql` files.
    public let directory: String
    private let logger: Logger

    /// Creates a migrator for the files in `directory`.
    public init(directory: String, logger: Logger = Logger(label: "chorus.postgres.migrations")) {
        self.directory = directory
        self.logger = logger
    }

    /// Reads the migration files, sorted by version.
    ///
    /// Files not ending in `.sql` are ignored; a `.sql` file not named `NNNN_name.sql`, or two files
    /// with one version, are errors rather than silently skipped.
    public func loadMigrations() throws -> [PostgresMigration] {
        let fileNames: [String]
        do {
            fileNames = try FileManager.default.contentsOfDirectory(atPath: self.directory)
        } catch {
            throw PostgresError(code: .migrationFailed, message: "cannot list migrations directory \(self.directory)")
        }
        var migrations: [PostgresMigration] = []
        for fileName in fileNames where fileName.hasSuffix(".sql") && !fileName.hasPrefix(".") {
            let stem = fileName.dropLast(".sql".count)
            let digits = stem.prefix(while: \.isASCII).prefix(while: \.isNumber)
            guard !digits.isEmpty, let version = Int(digits), stem.dropFirst(digits.count).first == "_",
                stem.count > digits.count + 1
            else {
                throw PostgresError(
                    code: .migrationFailed, message: "migration file \(fileName) is not named NNNN_name.sql")
            }
            let path = (self.directory as NSString).appendingPathComponent(fileName)
            guard let data = FileManager.default.contents(atPath: path), let sql = String(data: data, encoding: .utf8)
            else {
                throw PostgresError(code: .migrationFailed, message: "cannot read migration file \(path) as UTF-8")
            }
            let name = String(stem.dropFirst(digits.count + 1))
            migrations.append(PostgresMigration(version: version, name: name, fileName: fileName, sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw PostgresError(
                code: .migrationFailed,
                message: "migration files \(previous.fileName) and \(next.fileName) share version \(next.version)")
        }
        return migrations
    }

    /// Applies the migrations not applied yet and returns them, in order.
    ///
    /// - Throws: ``PostgresError/Code/migrationChecksumMismatch`` when an applied file changed;
    ///   ``PostgresError/Code/migrationFailed`` naming the file when one fails (it is rolled back,
    ///   the ones before it stay applied).
    @discardableResult
    public func migrate(_ pool: PostgresPool) async throws -> [PostgresMigration] {
        let migrations = try self.loadMigrations()
        return try await pool.withConnection { connection in
            // Blocks until no other migrator of this schema holds the lock.
            try await connection.execute(
                """
                SELECT pg_advisory_lock(hashtextextended(\(Self.tableName + ":") || coalesce(current_schema(), ''), 0))
                """)
            do {
                let applied = try await self.apply(migrations, on: connection)
                await Self.unlock(connection)
                return applied
            } catch {
                await Self.unlock(connection)
                throw error
            }
        }
    }

    private static func unlock(_ connection: PostgresConnection) async {
        _ = try? await connection.run(ignoringCancellation: true) { connection in
            try connection.execute("SELECT pg_advisory_unlock_all()")
        }
    }

    private func apply(_ migrations: [PostgresMigration], on connection: PostgresConnection) async throws
        -> [PostgresMigration]
    {
        let table = Self.tableName
        try await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS \(identifier: table) (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        var recorded: [Int: String] = [:]
        for row in try await connection.query("SELECT version, checksum FROM \(identifier: table)") {
            let (version, checksum) = try row.decode((Int, String).self)
            recorded[version] = checksum
        }
        var applied: [PostgresMigration] = []
        for migration in migrations {
            let checksum = try await connection.query(
                "SELECT encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex')"
            ).first!.decode(String.self)
            if let recordedChecksum = recorded.removeValue(forKey: migration.version) {
                guard recordedChecksum == checksum else {
                    throw PostgresError(
                        code: .migrationChecksumMismatch,
                        message: "migration \(migration.fileName) changed after it was applied "
                            + "(checksum \(checksum.prefix(12))…, applied \(recordedChecksum.prefix(12))…); "
                            + "add a new migration instead")
                }
                continue
            }
            do {
                try await connection.transaction { transaction in
                    try await transaction.execute(PostgresQuery(unsafeSQL: migration.sql))
                    try await transaction.execute(
                        """
                        INSERT INTO \(identifier: table) (version, name, checksum)
                        VALUES (\(migration.version), \(migration.name), \(checksum))
                        """)
                }
            } catch let error as PostgresError {
                throw PostgresError(
                    code: .migrationFailed, message: "migration \(migration.fileName) failed: \(error.message)",
                    sqlState: error.sqlState, constraintName: error.constraintName)
            }
            self.logger.info(
                "applied migration",
                metadata: [LogMetadataKey.migration: "\(migration.fileName)"])
            applied.append(migration)
        }
        if !recorded.isEmpty {
            self.logger.warning(
                "the database has migrations this service does not know (a newer version applied them?)",
                metadata: [LogMetadataKey.migrationVersions: "\(recorded.keys.sorted())"])
        }
        return applied
    }
}
