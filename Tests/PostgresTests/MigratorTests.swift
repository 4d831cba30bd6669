import Foundation
import Postgres
import Testing

@Suite struct MigratorTests {
    /// A temporary directory holding `files`, removed afterwards.
    static func withMigrations<Result>(
        _ files: [String: String], _ body: (String) async throws -> Result
    ) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent(TestDatabase.uniqueName("migrations")).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, sql) in files {
            try sql.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
        return try await body(directory)
    }

    static let files = [
        "0001_create_tenants.sql": """
            CREATE TABLE tenants (id text PRIMARY KEY, name text NOT NULL);
            INSERT INTO tenants VALUES ('acme', 'Acme; Inc. -- it''s fine');
            """,
        "0002_create_usage.sql": """
            CREATE TABLE usage (id bigserial PRIMARY KEY, tenant text REFERENCES tenants, cost numeric(20, 8));
            CREATE INDEX usage_tenant ON usage (tenant);
            """,
        "0010_add_note.sql": "ALTER TABLE usage ADD COLUMN note text;",
        "README.md": "not a migration",
    ]

    @Test func appliesInOrderOnceAndSecondRunIsANoOp() async throws {
        try await TestDatabase.withPool { admin in
            try await TestDatabase.withSchema(in: admin) { schema in
                try await Self.withMigrations(Self.files) { directory in
                    try await TestDatabase.withPool(url: TestDatabase.url(searchPath: schema)) { pool in
                        let migrator = PostgresMigrator(directory: directory)
                        let first = try await migrator.migrate(pool)
                        #expect(first.map(\.version) == [1, 2, 10])
                        #expect(first.map(\.name) == ["create_tenants", "create_usage", "add_note"])
                        let second = try await migrator.migrate(pool)
                        #expect(second.isEmpty)
                        let recorded = try await pool.query(
                            "SELECT version, name, length(checksum) FROM \(identifier: schema).chorus_schema_migrations ORDER BY version")
                        #expect(try recorded.map { try $0.decode((Int, String, Int).self) }.map(\.0) == [1, 2, 10])
                        #expect(try recorded.first?.decode(Int.self, at: 2) == 64)
                        let name = try await pool.query("SELECT name FROM tenants").first!.decode(String.self)
                        #expect(name == "Acme; Inc. -- it's fine")
                        try await pool.execute("INSERT INTO usage (tenant, cost, note) VALUES (\("acme"), \(Decimal(1)), \("n"))")
                    }
                }
            }
        }
    }

    @Test func concurrentMigratorsApplyEachFileExactlyOnce() async throws {
        var files = Self.files
        // Holds the lock a moment so that the two runs overlap.
        files["0001_create_tenants.sql"]! += "\nSELECT pg_sleep(0.2);"
        try await TestDatabase.withPool { admin in
            try await TestDatabase.withSchema(in: admin) { schema in
                try await Self.withMigrations(files) { directory in
                    let url = TestDatabase.url(searchPath: schema)
                    try await TestDatabase.withPool(size: 1, url: url) { first in
                        try await TestDatabase.withPool(size: 1, url: url) { second in
                            let migrator = PostgresMigrator(directory: directory)
                            async let a = migrator.migrate(first)
                            async let b = migrator.migrate(second)
                            let (appliedA, appliedB) = try await (a, b)
                            let versions = (appliedA + appliedB).map(\.version).sorted()
                            #expect(versions == [1, 2, 10])
                            let count = try await first.query("SELECT count(*) FROM chorus_schema_migrations")
                                .first!.decode(Int64.self)
                            #expect(count == 3)
                        }
                    }
                }
            }
        }
    }

    @Test func changedAppliedMigrationIsReported() async throws {
        try await TestDatabase.withPool { admin in
            try await TestDatabase.withSchema(in: admin) { schema in
                try await Self.withMigrations(Self.files) { directory in
                    try await TestDatabase.withPool(url: TestDatabase.url(searchPath: schema)) { pool in
                        let migrator = PostgresMigrator(directory: directory)
                        try await migrator.migrate(pool)
                        try "ALTER TABLE usage ADD COLUMN note varchar(10);".write(
                            toFile: "\(directory)/0010_add_note.sql", atomically: true, encoding: .utf8)
                        let error = await #expect(throws: PostgresError.self) { try await migrator.migrate(pool) }
                        #expect(error?.code == .migrationChecksumMismatch)
                        #expect(error?.description.contains("0010_add_note.sql") == true)
                    }
                }
            }
        }
    }

    @Test func failingMigrationIsRolledBackAndNamed() async throws {
        var files = Self.files
        files["0003_broken.sql"] = "CREATE TABLE half_done (id int);\nSELEC 1;"
        try await TestDatabase.withPool { admin in
            try await TestDatabase.withSchema(in: admin) { schema in
                try await Self.withMigrations(files) { directory in
                    try await TestDatabase.withPool(url: TestDatabase.url(searchPath: schema)) { pool in
                        let error = await #expect(throws: PostgresError.self) {
                            try await PostgresMigrator(directory: directory).migrate(pool)
                        }
                        #expect(error?.code == .migrationFailed)
                        #expect(error?.description.contains("0003_broken.sql") == true)
                        #expect(error?.sqlState == "42601")
                        let versions = try await pool.query("SELECT version FROM chorus_schema_migrations ORDER BY 1")
                            .map { try $0.decode(Int.self) }
                        #expect(versions == [1, 2])
                        let halfDone = try await pool.query("SELECT to_regclass('half_done') IS NULL").first!
                            .decode(Bool.self)
                        #expect(halfDone)
                        // The lock was released: another run proceeds (and fails the same way).
                        await #expect(throws: PostgresError.self) {
                            try await PostgresMigrator(directory: directory).migrate(pool)
                        }
                    }
                }
            }
        }
    }

    @Test func misnamedMigrationFileIsAnError() async throws {
        try await Self.withMigrations(["1_ok.sql": "", "create_things.sql": ""]) { directory in
            let error = #expect(throws: PostgresError.self) { try PostgresMigrator(directory: directory).loadMigrations() }
            #expect(error?.description.contains("create_things.sql") == true)
        }
        try await Self.withMigrations(["0001_a.sql": "", "01_b.sql": ""]) { directory in
            let error = #expect(throws: PostgresError.self) { try PostgresMigrator(directory: directory).loadMigrations() }
            #expect(error?.description.contains("share version 1") == true)
        }
    }
}
