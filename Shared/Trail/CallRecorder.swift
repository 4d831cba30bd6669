import ChorusRuntime
import Contracts
import Foundation
import Postgres

/// Serves model calls at most once, for the workers, with the trail's reads and writes of all calls
/// in flight batched together (``ChorusRuntime/Batcher``): one lookup and one insert per batch of
/// calls instead of one each.
///
/// A call whose response is already recorded (a redelivery after a crash) is answered from the
/// record, so the model is never run or paid for twice. Otherwise `run` produces the response and its
/// usage events; the response is recorded first, then the usage and the response are published
/// together.
public final class CallRecorder: Sendable {
    /// A value to publish as JSON on `topic` under `key`.
    public typealias Outgoing = (value: any Encodable & Sendable, topic: String, key: String)

    public let store: TrailStore
    private let lookups: Batcher<String, ModelResponse?>
    private let records: Batcher<RecordedResponse, Void>

    public init(database: PostgresPool, maxBatch: Int = 256) {
        let store = TrailStore(database: database)
        self.store = store
        lookups = Batcher(maxBatch: maxBatch) { callIDs in
            let found = try await store.storedResponses(callIDs: callIDs)
            return callIDs.map { found[$0] }
        }
        records = Batcher(maxBatch: maxBatch) { responses in
            try await store.recordResponses(responses)
            return Array(repeating: (), count: responses.count)
        }
    }

    /// Serves `call`: from the record when it was answered before, else by `run`; `publish` returns
    /// once everything it was given is acknowledged.
    public func serve(
        _ call: ModelCall,
        publish: @Sendable (_ values: [Outgoing]) async throws -> Void,
        run: () async -> (response: ModelResponse, usage: [UsageEvent])
    ) async throws {
        if let stored = try await lookups.submit(call.callID) {
            // The first delivery may have died before publishing its usage: billing drops repeats.
            let usage: [Outgoing] = try await store.storedUsage(callID: call.callID).map { ($0, Topics.usage, call.requestID) }
            try await publish(usage + [(FusionEvent.response(stored), Topics.fusion, call.requestID)])
            return
        }
        let (response, usage) = await run()
        try await records.submit(RecordedResponse(response: response, usage: usage))
        try await publish(usage.map { ($0, Topics.usage, call.requestID) } + [(FusionEvent.response(response), Topics.fusion, call.requestID)])
    }
}

/// A worker's response with the usage events it is about to publish.
public struct RecordedResponse: Sendable {
    public var response: ModelResponse
    public var usage: [UsageEvent]

    public init(response: ModelResponse, usage: [UsageEvent]) {
        self.response = response
        self.usage = usage
    }
}
