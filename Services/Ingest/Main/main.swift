import Catalog
import ChorusRuntime
import Contracts
import Ingest

await ServiceMain.run(name: "ingest") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let infrastructure = try await StageInfrastructure.connect(name: "ingest", reader: reader, logger: logger)
    let stage = IngestStage(validator: RequestValidator(catalog: catalog), infrastructure: infrastructure)
    let consumer = try infrastructure.consumer(group: "ingest", topics: [Topics.requests])
    let loop = StageLoop(name: "ingest", consumer: consumer, producer: infrastructure.producer, logger: logger, handler: stage.handle)
    // Shutdown runs in reverse: the loop stops first, then the consumer commits, then the rest closes.
    return [infrastructure.producer, infrastructure.database, consumer, loop]
}
