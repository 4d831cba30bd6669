import ChorusRuntime
import Contracts
import Foundation
import Kafka
import ServiceLifecycle
import Trail

/// gpu-inference: a call on `chorus.calls.local` → a local model → its response on `chorus.fusion`
/// (recorded first) and its usage event, with the serverless metering, on `chorus.usage`.
public final class GPUInferenceStage: Service, Sendable {
    public let host: LocalModelHost
    private let infrastructure: StageInfrastructure
    private let recorder: CallRecorder

    public init(host: LocalModelHost, infrastructure: StageInfrastructure) {
        self.host = host
        self.infrastructure = infrastructure
        recorder = CallRecorder(database: infrastructure.database)
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let call = try JSONCoding.decode(ModelCall.self, from: message.value)
        try await recorder.serve(call, publish: infrastructure.publish(values:)) {
            let (response, metering) = await host.generate(call)
            guard response.error == nil, let metering else { return (response, []) }
            var usage = UsageEvent.attempt(
                1, of: call, provider: "local", usage: response.usage, deviceNanos: metering.deviceNanos, billable: true,
                atMs: Int64(Date().timeIntervalSince1970 * 1000))
            usage.wallMs = metering.wallNanos / 1_000_000
            usage.queueWaitMs = metering.queueWaitNanos / 1_000_000
            usage.startTier = metering.tier.rawValue
            return (response, [usage])
        }
        return .done
    }

    /// Keeps the models in shape (warm minimums, idle unloading, metrics) until shutdown, then stops
    /// their engines.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.host.maintain() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await host.shutdown()
    }
}
