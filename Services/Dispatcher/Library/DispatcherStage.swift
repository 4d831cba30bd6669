import Catalog
import ChorusRuntime
import Contracts
import Kafka
import Trail

/// dispatcher: an accepted request → its plan on `chorus.fusion` (for the judge), then one call per
/// pool model on `chorus.calls.remote` or `chorus.calls.local`, as the catalog places each model.
public final class DispatcherStage: Sendable {
    private let catalog: ModelCatalog
    private let infrastructure: StageInfrastructure

    public init(catalog: ModelCatalog, infrastructure: StageInfrastructure) {
        self.catalog = catalog
        self.infrastructure = infrastructure
    }

    public func handle(_ message: KafkaMessage) async throws -> StageLoop.Completion {
        let request = try JSONCoding.decode(FusionRequest.self, from: message.value)
        let calls = request.poolCalls().map { call in
            (call: call, target: (catalog.models[call.model]?.isLocal ?? false) ? CallTarget.local : .remote)
        }
        try await TrailStore(database: infrastructure.database).recordCalls(calls)
        // The plan first: it shares the calls' key, so the judge sees it before any response.
        try await infrastructure.publish(FusionEvent.plan(request), to: Topics.fusion, key: request.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (call, target) in calls {
                group.addTask { try await self.infrastructure.publish(call, to: target.topic, key: call.requestID) }
            }
            try await group.waitForAll()
        }
        return .done
    }
}
