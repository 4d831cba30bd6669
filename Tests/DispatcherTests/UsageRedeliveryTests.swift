import Contracts
import Foundation
import Logging
import Postgres
import Synchronization
import Testing
import Trail

/// A worker that recorded a response and died before publishing its usage loses no bill: the
/// redelivered call re-sends the recorded usage events (billing drops repeats by event id) and never
/// runs the model again.
@Suite struct UsageRedeliveryTests {
    @Test func aRedeliveredCallResendsTheRecordedUsage() async throws {
        let db = PostgresPool(configuration: PostgresConfiguration(url: BudgetTests.url, poolSize: 2), logger: Logger(label: "test"))
        let id = "usage-\(UUID().uuidString.prefix(8).lowercased())"
        try await db.execute("""
            INSERT INTO requests (id, project_id, mode, pool, options, messages, content_hash, deadline_at)
            VALUES (\(id), 'default', 'best-of', '{m}', '{}'::jsonb, '[]'::jsonb, '\\x00'::bytea, now())
            """)
        let call = ModelCall(
            callID: "\(id)/pool/0/0", requestID: id, project: "default", role: .pool, round: 0, index: 0, model: "m",
            provider: nil, messages: [ChatMessage(role: .user, content: "hi")], maxTokens: 8, temperature: 0, deadlineMs: 0)
        let store = TrailStore(database: db)
        try await store.recordCalls([(call, .remote)])
        let response = ModelResponse(
            callID: call.callID, requestID: id, role: .pool, round: 0, index: 0, model: "m", provider: "p", content: "hello",
            error: nil, finishReason: "stop", latencyMs: 12, usage: TokenUsage(promptTokens: 3, completionTokens: 2, cachedPromptTokens: 0),
            attempts: 2)
        let usage = [
            UsageEvent.attempt(1, of: call, provider: "p", usage: .zero, deviceNanos: 0, billable: false, atMs: 1),
            UsageEvent.attempt(2, of: call, provider: "p", usage: response.usage, deviceNanos: 0, billable: true, atMs: 2),
        ]
        // The first delivery recorded its response and usage, then died before publishing anything.
        try await store.recordResponse(response, usage: usage)

        let published = Mutex<[(String, String)]>([])
        let ran = Mutex(false)
        try await CallRecorder(database: db).serve(call, publish: { values in
            for (value, topic, _) in values {
                let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
                published.withLock { $0.append((topic, json)) }
            }
        }) {
            ran.withLock { $0 = true }
            return (response, [])
        }
        #expect(!ran.withLock { $0 }, "the model ran again")
        let topics = published.withLock { $0.map(\.0) }
        #expect(topics == [Topics.usage, Topics.usage, Topics.fusion])
        let resent = try published.withLock { $0 }.prefix(2).map {
            try JSONDecoder().decode(UsageEvent.self, from: Data($0.1.utf8))
        }
        #expect(resent == usage)
        #expect(try await store.storedUsage(callID: "\(id)/pool/0/9").isEmpty)
        await db.close()
    }
}
