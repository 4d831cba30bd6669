import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Trail

/// provider-worker: a call on `chorus.calls.remote` → the remote provider → its response on
/// `chorus.fusion` (recorded first) and one usage event per upstream attempt on `chorus.usage`.
///
/// A redelivered call whose response is already recorded is answered from the record: the provider
/// is never paid twice for one call.
public final class ProviderWorkerStage: Sendable {
    private let caller: ProviderCaller
    private let infrastructure: StageInfrastructure
    private let recorder: CallRecorder

    public init(caller: ProviderCaller, infrastructure: StageInfrastructure) {
        self.caller = caller
        self.infrastructure = infrastructure
        recorder = CallRecorder(database: infrastructure.database)
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let call = try JSONCoding.decode(ModelCall.self, from: message.value)
        try await recorder.serve(call, publish: infrastructure.publish(values:)) {
            let result = await caller.call(call)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let usage = result.attempts.map { attempt in
                UsageEvent.attempt(
                    attempt.attempt, of: call, provider: attempt.provider, usage: attempt.usage, deviceNanos: 0,
                    billable: attempt.billable, atMs: now)
            }
            return (result.response, usage)
        }
        return .done
    }
}
