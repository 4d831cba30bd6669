import Catalog
import ChorusRuntime
import Contracts
import Judge

await ServiceMain.run(name: "judge") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let infrastructure = try await StageInfrastructure.connect(name: "judge", reader: reader, logger: logger)
    let consumer = try infrastructure.consumer(group: "judge", topics: [Topics.fusion])
    let stage = JudgeStage(catalog: catalog, infrastructure: infrastructure, consumer: consumer)
    // Held messages count toward the in-flight limit only while their handler runs, so a large
    // limit costs nothing; it bounds concurrent database work.
    let loop = StageLoop(name: "judge", consumer: consumer, producer: infrastructure.producer, maxInFlight: 1024, logger: logger, handler: stage.handle)
    return [infrastructure.producer, infrastructure.database, consumer, stage, loop] + (try infrastructure.operations())
}
