import Foundation
import Postgres

/// Per-project API keys for the HTTP front door.
///
/// A key is `chorus_<key id>_<secret>` with 24 random bytes of secret; only the SHA-256 of the whole
/// key is stored. Verification finds the row by key id, hashes the presented key in PostgreSQL and
/// compares the two hashes in constant time, so timing reveals nothing about the stored hash.
public struct APIKeys: Sendable {
    public let database: PostgresPool

    public init(database: PostgresPool) {
        self.database = database
    }

    /// Creates a key for `project`; the returned key is shown once and never stored.
    public func create(project: String, label: String?) async throws -> (keyID: String, key: String) {
        let keyID = Self.randomToken(bytes: 6)
        let key = "chorus_\(keyID)_\(Self.randomToken(bytes: 24))"
        try await database.execute("""
            INSERT INTO api_keys (key_id, project_id, key_hash, label)
            VALUES (\(keyID), \(project), sha256(convert_to(\(key)::text, 'UTF8')), \(label))
            """)
        return (keyID, key)
    }

    /// The project a key belongs to, or nil for an unknown, malformed or revoked key.
    public func project(for key: String) async throws -> String? {
        let parts = key.split(separator: "_", maxSplits: 2)
        guard parts.count == 3, parts[0] == "chorus", parts[1].count == 8, key.utf8.count < 200 else { return nil }
        guard let row = try await database.query("""
            SELECT project_id, key_hash, sha256(convert_to(\(key)::text, 'UTF8')), revoked_at IS NOT NULL
            FROM api_keys WHERE key_id = \(String(parts[1]))
            """).first
        else { return nil }
        let (project, stored, presented, revoked) = try row.decode((String, [UInt8], [UInt8], Bool).self)
        guard Self.constantTimeEqual(stored, presented), !revoked else { return nil }
        return project
    }

    public func revoke(keyID: String) async throws -> Bool {
        try await database.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = \(keyID) AND revoked_at IS NULL") == 1
    }

    public func list(project: String?) async throws -> [(keyID: String, project: String, label: String?, createdAt: String, revoked: Bool)] {
        try await database.query("""
            SELECT key_id, project_id, label, created_at::text, revoked_at IS NOT NULL FROM api_keys
            WHERE \(project)::text IS NULL OR project_id = \(project) ORDER BY created_at
            """).map { row in
            let (keyID, project, label, created, revoked) = try row.decode((String, String, String?, String, Bool).self)
            return (keyID, project, label, created, revoked)
        }
    }

    /// Compares every byte whatever the first difference: no early exit to time.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// URL-safe random text from the system's CSPRNG.
    static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "-")
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "_", with: "-")
    }
}
