import Catalog
import ChorusRuntime
import Contracts
import GPUInference

await ServiceMain.run(name: "gpu-inference") { reader, logger in
    let catalog = try ModelCatalog.load(reader: reader)
    let host = LocalModelHost(
        catalog: catalog, threads: try reader.int("gpu_inference.threads", default: 2, range: 1...256), logger: logger)
    let missing = host.missingFiles()
    for (model, path) in missing {
        logger.warning("model file missing; its calls will fail", metadata: ["model": "\(model)", "path": "\(path)"])
    }
    if !host.modelIDs.isEmpty && missing.count == host.modelIDs.count {
        throw ConfigurationError(
            setting: "config/models.yaml", problem: "no local model file exists (first: \(missing[0].path)); run scripts/setup.sh")
    }
    let infrastructure = try await StageInfrastructure.connect(name: "gpu-inference", reader: reader, logger: logger)
    let stage = GPUInferenceStage(host: host, infrastructure: infrastructure)
    let consumer = try infrastructure.consumer(group: "gpu-inference", topics: [Topics.localCalls])
    let loop = StageLoop(
        name: "gpu-inference", consumer: consumer, producer: infrastructure.producer, maxInFlight: 64, logger: logger,
        handler: stage.handle)
    return [infrastructure.producer, infrastructure.database, stage, consumer, loop]
}
