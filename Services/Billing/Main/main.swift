import Billing
import Catalog
import ChorusRuntime
import Contracts

await ServiceMain.run(name: "billing") { reader, logger in
    let infrastructure = try await StageInfrastructure.connect(name: "billing", reader: reader, logger: logger)
    let prices = try await PriceBook.synchronize(try ModelCatalog.load(reader: reader), database: infrastructure.database)
    let stage = BillingStage(database: infrastructure.database, prices: prices)
    let consumer = try infrastructure.consumer(group: "billing", topics: [Topics.usage])
    // Many events in flight at once is what lets the writer batch them.
    let loop = StageLoop(name: "billing", consumer: consumer, producer: infrastructure.producer, maxInFlight: 2048, logger: logger, handler: stage.handle)
    return [infrastructure.producer, infrastructure.database, consumer, loop] + (try infrastructure.operations())
}
