import Foundation
import Postgres

/// The real PostgreSQL the tests run against, and helpers to keep parallel tests apart.
enum TestDatabase {
    /// This checkout's root (the embedded stack keeps its password file under `.data/`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `CHORUS_TEST_DATABASE_URL`, else this checkout's embedded database.
    static let url: String =
        ProcessInfo.processInfo.environment["CHORUS_TEST_DATABASE_URL"]
        ?? "postgresql://chorus@127.0.0.1:5433/chorus?passfile=\(root)/.data/secrets/pgpass"

    /// A name no other test uses: `prefix_1a2b3c4d5e6f`.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
    }

    /// The URL with `search_path` set to `schema`, so unqualified names land there.
    static func url(searchPath schema: String) -> String {
        let separator = url.contains("?") ? "&" : "?"
        return url + separator + "options=-c%20search_path%3D\(schema)"
    }

    /// Runs `body` with a fresh pool that is closed afterwards, also when `body` throws.
    static func withPool<Result>(
        size: Int = 2,
        url: String = TestDatabase.url,
        _ body: (PostgresPool) async throws -> Result
    ) async throws -> Result {
        let pool = PostgresPool(
            configuration: PostgresConfiguration(url: url, settingName: "CHORUS_TEST_DATABASE_URL", poolSize: size))
        do {
            let result = try await body(pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }

    /// Runs `body` with a table created by `columns` (e.g. `id int PRIMARY KEY, body text`) under a
    /// unique name, dropped afterwards.
    static func withTable<Result>(
        _ columns: String,
        in pool: PostgresPool,
        _ body: (String) async throws -> Result
    ) async throws -> Result {
        let table = uniqueName("t")
        try await pool.execute(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (\(columns))"))
        do {
            let result = try await body(table)
            try await pool.execute("DROP TABLE \(identifier: table)")
            return result
        } catch {
            _ = try? await pool.execute("DROP TABLE \(identifier: table)")
            throw error
        }
    }

    /// Runs `body` with a schema under a unique name, dropped (with its contents) afterwards.
    static func withSchema<Result>(in pool: PostgresPool, _ body: (String) async throws -> Result) async throws -> Result {
        let schema = uniqueName("s")
        try await pool.execute("CREATE SCHEMA \(identifier: schema)")
        do {
            let result = try await body(schema)
            try await pool.execute("DROP SCHEMA \(identifier: schema) CASCADE")
            return result
        } catch {
            _ = try? await pool.execute("DROP SCHEMA \(identifier: schema) CASCADE")
            throw error
        }
    }

    static func count(_ table: String, in pool: PostgresPool) async throws -> Int64 {
        try await pool.query("SELECT count(*) FROM \(identifier: table)").first!.decode(Int64.self)
    }
}

struct ExpectedFailure: Error {}
