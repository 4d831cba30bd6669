import Catalog
import ChorusRuntime
import Contracts
import GPUInference

await ServiceMain.run(name: "gpu-inference") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let settings = LocalHostSettings(
        threads: try reader.int("gpu_inference.threads", default: 2, range: 1...256),
        memoryBudget: try reader.byteSize("gpu_inference.memory_budget", default: nil),
        maintenanceInterval: try reader.duration("gpu_inference.maintenance_interval", default: .seconds(1)),
        coldStartTimeout: try reader.duration("gpu_inference.cold_start_timeout", default: .seconds(120)))
    let host = LocalModelHost(catalog: catalog, settings: settings, logger: logger)
    let missing = host.missingFiles()
    if !host.modelIDs.isEmpty && missing.count == host.modelIDs.count {
        throw ConfigurationError(
            setting: "models.\(missing[0].model).local.gguf",
            problem: "\(missing[0].path) does not exist, nor does any other local model file; run scripts/setup.sh")
    }
    for (model, path) in missing {
        logger.warning("models.\(model).local.gguf: \(path) does not exist; calls to \(model) will fail")
    }
    let infrastructure = try await StageInfrastructure.connect(name: "gpu-inference", reader: reader, logger: logger)
    let stage = GPUInferenceStage(host: host, infrastructure: infrastructure)
    let consumer = try infrastructure.consumer(group: "gpu-inference", topics: [Topics.localCalls])
    let loop = StageLoop(
        name: "gpu-inference", consumer: consumer, producer: infrastructure.producer, maxInFlight: 64, logger: logger,
        handler: stage.handle)
    return [infrastructure.producer, infrastructure.database, stage, consumer, loop] + (try infrastructure.operations())
}
