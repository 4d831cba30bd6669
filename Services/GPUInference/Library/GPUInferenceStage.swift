import ChorusRuntime
import Contracts
import Foundation
import Kafka
import ServiceLifecycle
import Trail

/// gpu-inference: a call on `chorus.calls.local` → a local model → its response on `chorus.fusion`
/// (recorded first) and its usage event, with device time, on `chorus.usage`.
public final class GPUInferenceStage: Service, Sendable {
    public let host: LocalModelHost
    private let infrastructure: StageInfrastructure

    public init(host: LocalModelHost, infrastructure: StageInfrastructure) {
        self.host = host
        self.infrastructure = infrastructure
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let call = try JSONCoding.decode(ModelCall.self, from: message.value)
        let trail = TrailStore(database: infrastructure.database)
        if let stored = try await trail.storedResponse(callID: call.callID) {
            try await infrastructure.publish(FusionEvent.response(stored), to: Topics.fusion, key: call.requestID)
            return .done
        }
        let (response, deviceNanos) = await host.generate(call)
        try await trail.recordResponse(response)
        if response.error == nil {
            let event = UsageEvent.attempt(
                1, of: call, provider: "local", usage: response.usage, deviceNanos: deviceNanos, billable: true,
                atMs: Int64(Date().timeIntervalSince1970 * 1000))
            try await infrastructure.publish(event, to: Topics.usage, key: call.requestID)
        }
        try await infrastructure.publish(FusionEvent.response(response), to: Topics.fusion, key: call.requestID)
        return .done
    }

    /// Holds the models until shutdown, then stops their threads.
    public func run() async throws {
        try? await gracefulShutdown()
        await host.shutdown()
    }
}
