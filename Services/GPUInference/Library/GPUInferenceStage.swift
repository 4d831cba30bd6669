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
        try await TrailStore(database: infrastructure.database).serve(call, publish: infrastructure.publish) {
            let (response, deviceNanos) = await host.generate(call)
            guard response.error == nil else { return (response, []) }
            let usage = UsageEvent.attempt(
                1, of: call, provider: "local", usage: response.usage, deviceNanos: deviceNanos, billable: true,
                atMs: Int64(Date().timeIntervalSince1970 * 1000))
            return (response, [usage])
        }
        return .done
    }

    /// Holds the models until shutdown, then stops their threads.
    public func run() async throws {
        try? await gracefulShutdown()
        await host.shutdown()
    }
}
