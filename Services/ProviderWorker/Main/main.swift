import Catalog
import ChorusRuntime
import Contracts
import HTTP
import ProviderWorker

await ServiceMain.run(name: "provider-worker") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let keys = try ProviderCaller.keys(for: catalog, reader: reader)
    let infrastructure = try await StageInfrastructure.connect(name: "provider-worker", reader: reader, logger: logger)
    let http = HTTPClient(logger: logger)
    let caller = ProviderCaller(catalog: catalog, http: http, keys: keys, logger: logger)
    let stage = ProviderWorkerStage(caller: caller, infrastructure: infrastructure)
    let consumer = try infrastructure.consumer(group: "provider-worker", topics: [Topics.remoteCalls])
    let loop = StageLoop(
        name: "provider-worker", consumer: consumer, producer: infrastructure.producer,
        maxInFlight: try reader.int("provider_worker.max_in_flight", default: 1024, range: 1...100_000), logger: logger,
        handler: stage.handle)
    return [infrastructure.producer, infrastructure.database, http, consumer, loop] + (try infrastructure.operations())
}
