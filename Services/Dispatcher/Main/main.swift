import Catalog
import ChorusRuntime
import Contracts
import Dispatcher

await ServiceMain.run(name: "dispatcher") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let infrastructure = try await StageInfrastructure.connect(name: "dispatcher", reader: reader, logger: logger)
    let stage = DispatcherStage(catalog: catalog, infrastructure: infrastructure)
    let consumer = try infrastructure.consumer(group: "dispatcher", topics: [Topics.accepted])
    let loop = StageLoop(name: "dispatcher", consumer: consumer, producer: infrastructure.producer, logger: logger, handler: stage.handle)
    // Resumes requests left without an answer (a crash, a lost broker), from PostgreSQL.
    let reconciler = Reconciler(
        settings: try ReconcilerSettings(reader: reader), dispatcher: stage, catalog: catalog, infrastructure: infrastructure)
    return [infrastructure.producer, infrastructure.database, consumer, loop, reconciler] + (try infrastructure.operations())
}
