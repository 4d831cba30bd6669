import Catalog
import ChorusRuntime
import Contracts
import Ingest
import Kafka
import Postgres
import Trail

await ServiceMain.run(name: "ingest") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let infrastructure = try await StageInfrastructure.connect(name: "ingest", reader: reader, logger: logger)
    let stage = IngestStage(validator: RequestValidator(catalog: catalog), infrastructure: infrastructure)
    let consumer = try infrastructure.consumer(group: "ingest", topics: [Topics.requests])
    let loop = StageLoop(name: "ingest", consumer: consumer, producer: infrastructure.producer, logger: logger, handler: stage.handle)
    // The OpenAI-compatible front door, into the same pipeline.
    let database = try DatabaseSettings(reader: reader)
    let trail = TrailStore(database: infrastructure.database)
    let waiters = AnswerWaiters(
        listener: PostgresListener(configuration: database.configuration(applicationName: "ingest-listener")), trail: trail)
    let settings = try FrontDoor.Settings(reader: reader)
    // Ingest's /metrics and /healthz are on its front door: the heartbeat advertises that port.
    let heartbeat = ServiceHeartbeat(
        service: "ingest", host: ServiceHeartbeat.advertisedHost(for: settings.host), database: infrastructure.database, logger: logger)
    let frontDoor = FrontDoor(
        settings: settings, stage: stage, catalog: catalog,
        keys: APIKeys(database: infrastructure.database), trail: trail, waiters: waiters, logger: logger,
        checkBroker: { [kafka = infrastructure.kafka] in
            var client = kafka.client(id: "ingest-readyz")
            client.reachabilityTimeout = .seconds(2)
            try await KafkaAdmin(configuration: client, logger: logger).checkReachability()
        }, onListening: { heartbeat.listening(on: $0) })
    // Shutdown runs in reverse: HTTP and the loop stop first, then the consumer commits, then the rest closes.
    return [infrastructure.producer, infrastructure.database, consumer, waiters, loop, heartbeat, frontDoor]
}
