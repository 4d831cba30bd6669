import Contracts
import Foundation
import Postgres

/// What the reconciler reads back from the trail to resume a request.
extension TrailStore {
    /// A recorded request as the dispatcher received it, rebuilt from its `requests` row.
    public func storedRequest(id: String) async throws -> FusionRequest? {
        let rows = try await database.query("""
            SELECT project_id, messages::text, preset, array_to_json(pool)::text, judge, mode, options::text,
                   (extract(epoch FROM accepted_at) * 1000)::bigint
            FROM requests WHERE id = \(id)
            """)
        guard let row = rows.first else { return nil }
        let decoder = JSONDecoder()
        guard let mode = FusionMode(rawValue: try row.decode(String.self, at: 5)) else { return nil }
        return FusionRequest(
            id: id, project: try row.decode(String.self, at: 0),
            messages: try decoder.decode([ChatMessage].self, from: Data(try row.decode(String.self, at: 1).utf8)),
            preset: try row.decode(String?.self, at: 2),
            pool: try decoder.decode([String].self, from: Data(try row.decode(String.self, at: 3).utf8)),
            judge: try row.decode(String?.self, at: 4), mode: mode,
            options: try decoder.decode(FusionOptions.self, from: Data(try row.decode(String.self, at: 6).utf8)),
            acceptedAtMs: try row.decode(Int64.self, at: 7))
    }

    /// Ids of the calls recorded for a request.
    public func recordedCallIDs(requestID: String) async throws -> Set<String> {
        Set(try await database.query("SELECT id FROM calls WHERE request_id = \(requestID)").map { try $0.decode(String.self, at: 0) })
    }

    /// Every response recorded for a request.
    public func storedResponses(requestID: String) async throws -> [ModelResponse] {
        let ids = try await database.query("SELECT call_id FROM responses WHERE request_id = \(requestID) ORDER BY call_id")
            .map { try $0.decode(String.self, at: 0) }
        let found = try await storedResponses(callIDs: ids)
        return ids.compactMap { found[$0] }
    }
}
