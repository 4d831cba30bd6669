import Catalog
import Contracts
import Foundation
import Logging
import Testing

@testable import GPUInference
@testable import Llama

extension RealModelTests {
/// gpu-inference's host with the real GGUF models, among the other model tests (one at a time: each
/// runs libllama on both cores, and two at once starve everything else on a two-core machine).
@Suite struct Host {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static let smol = root + "/.deps/models/smollm2-135m.gguf"
    static let gemma = root + "/.deps/models/gemma3-270m.gguf"

    static func catalog(_ models: [String: (path: String, style: PromptStyle, idle: Duration)]) -> ModelCatalog {
        ModelCatalog(
            providers: [:],
            models: models.reduce(into: [:]) { catalog, entry in
                let local = LocalModel(
                    ggufPath: entry.value.path, contextSize: 1024, gpuLayers: 0, maxSequences: 8, idleWindow: entry.value.idle,
                    minWarm: 0, promptStyle: entry.value.style, pricePerDeviceSecond: .zero)
                catalog[entry.key] = CatalogModel(id: entry.key, placement: .local(local), family: nil)
            },
            presets: [:], defaultPreset: nil)
    }

    static func call(_ model: String, _ question: String, maxTokens: Int = 16, id: String = UUID().uuidString) -> ModelCall {
        ModelCall(
            callID: "\(id)/pool/0/0", requestID: id, project: "test", role: .pool, round: 0, index: 0, model: model,
            provider: nil, messages: [ChatMessage(role: .user, content: question)], maxTokens: maxTokens, temperature: 0,
            deadlineMs: 0)
    }

    static let logger = Logger(label: "test.gpu-inference")

    @Test func aCallAfterTheIdleWindowIsAColdStartAndACallWithinItIsNot() async throws {
        let host = LocalModelHost(
            catalog: Self.catalog(["smol": (Self.smol, .chat, .milliseconds(300))]), settings: LocalHostSettings(),
            logger: Self.logger)
        let first = await host.generate(Self.call("smol", "What is the capital of France?"))
        #expect(first.response.error == nil)
        #expect(first.response.coldStart == true)
        #expect(first.metering?.tier == .disk)
        #expect(first.response.content?.contains("Paris") == true)

        let second = await host.generate(Self.call("smol", "What is the capital of France?"))
        #expect(second.metering?.tier == .warm)
        #expect(second.response.coldStart == false)
        #expect(second.response.content == first.response.content)
        #expect(second.response.usage.cachedPromptTokens > 0)  // the chat preamble is shared

        try await Task.sleep(for: .milliseconds(400))
        await host.maintainOnce(now: .now)
        try await waitFor { await host.phases()["smol"] == "snapshot" }

        let third = await host.generate(Self.call("smol", "What is the capital of France?"))
        #expect(third.metering?.tier == .snapshot)
        #expect(third.response.coldStart == true)
        #expect(third.response.content == first.response.content)  // restored prefix state, same answer
        let metering = try #require(third.metering)
        #expect(metering.queueWaitNanos > 0 && metering.queueWaitNanos < metering.wallNanos)
        #expect(metering.deviceNanos > 0 && metering.deviceNanos < metering.wallNanos)
        await host.shutdown()
    }

    @Test func aMissingOrCorruptModelFailsOnlyItsOwnCalls() async throws {
        let corrupt = FileManager.default.temporaryDirectory.appendingPathComponent("corrupt-\(UUID().uuidString).gguf").path
        // A GGUF magic and version, then garbage: it passes the first glance and fails validation.
        var bytes: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0]
        bytes += (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        FileManager.default.createFile(atPath: corrupt, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: corrupt) }
        let host = LocalModelHost(
            catalog: Self.catalog([
                "smol": (Self.smol, .chat, .seconds(60)), "missing": ("/nonexistent/model.gguf", .chat, .seconds(60)),
                "corrupt": (corrupt, .chat, .seconds(60)),
            ]),
            settings: LocalHostSettings(), logger: Self.logger)
        #expect(host.missingFiles().map(\.model) == ["missing"])
        for id in ["missing", "corrupt"] {
            let outcome = await host.generate(Self.call(id, "Hello?"))
            let error = try #require(outcome.response.error)
            #expect(error.code == "model_unavailable")
            #expect(error.message.contains(id))
            #expect(outcome.metering == nil)
        }
        let good = await host.generate(Self.call("smol", "What is the capital of France?"))
        #expect(good.response.error == nil)
        #expect(good.response.content?.contains("Paris") == true)
        // A failed model is tried again on its next call (the file may have been fixed).
        #expect(await host.generate(Self.call("missing", "Hello?")).response.error?.code == "model_unavailable")
        await host.shutdown()
    }

    @Test func underATightMemoryBudgetTheIdleModelIsEvictedNeverTheBusyOne() async throws {
        let catalog = Self.catalog([
            "idle": (Self.smol, .chat, .seconds(600)), "busy": (Self.smol, .chat, .seconds(600)),
            "newcomer": (Self.smol, .chat, .seconds(600)),
        ])
        // Room for two warm SmolLM2 instances, not three (by the host's own estimate before loading).
        let warmEstimate = LocalModelHost.fileSize(Self.smol) + 1024 * LocalModelHost.estimatedKVBytesPerToken
        let host = LocalModelHost(
            catalog: catalog, settings: LocalHostSettings(memoryBudget: warmEstimate * 5 / 2), logger: Self.logger)
        #expect(await host.generate(Self.call("idle", "Say hello.")).response.error == nil)
        // "busy" is held as by a call in flight for as long as the test says.
        try await host.hold("busy")
        #expect(await host.phases() == ["idle": "warm", "busy": "warm", "newcomer": "unloaded"])

        let newcomer = await host.generate(Self.call("newcomer", "What is the capital of France?"))
        #expect(newcomer.response.error == nil)
        #expect(newcomer.response.coldStart == true)
        try await waitFor { await host.phases()["idle"] == "unloaded" }
        #expect(await host.phases() == ["idle": "unloaded", "busy": "warm", "newcomer": "warm"])

        // Now both warm models are busy: a call for the third waits for memory until one is released.
        try await host.hold("newcomer")
        let waiting = Task { await host.generate(Self.call("idle", "Say hello.")) }
        try await Task.sleep(for: .milliseconds(500))
        #expect(await host.phases() == ["idle": "unloaded", "busy": "warm", "newcomer": "warm"])
        await host.release("busy")
        let served = await waiting.value
        #expect(served.response.error == nil)
        #expect(await host.phases()["newcomer"] == "warm")  // still held: never evicted
        await host.release("newcomer")
        await host.shutdown()
    }

    static func serverCatalog(_ command: [String], idle: Duration) -> ModelCatalog {
        let server = ManagedServer(command: command, healthPath: "/_sim/health", upstreamModel: "served-model", startupTimeout: .seconds(30))
        let local = LocalModel(
            ggufPath: "", contextSize: 1024, gpuLayers: 0, maxSequences: 8, idleWindow: idle, minWarm: 0, promptStyle: .chat,
            pricePerDeviceSecond: .zero, server: server)
        return ModelCatalog(
            providers: [:], models: ["external": CatalogModel(id: "external", placement: .local(local), family: nil)], presets: [:],
            defaultPreset: nil)
    }

    /// The provider simulator stands in for llama-server / vLLM: an OpenAI-compatible HTTP server.
    @Test func aManagedModelServerStartsOnAColdStartAndStopsAfterTheIdleWindow() async throws {
        let binaries = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
        let host = LocalModelHost(
            catalog: Self.serverCatalog(["\(binaries)/provider-simulator", "--port", "{port}"], idle: .milliseconds(300)),
            settings: LocalHostSettings(), logger: Self.logger)
        #expect(host.missingFiles().isEmpty)
        let first = await host.generate(Self.call("external", "What is the capital of France?"))
        #expect(first.response.error == nil)
        #expect(first.response.content?.isEmpty == false)
        #expect(first.metering?.tier == .disk)
        #expect((first.metering?.deviceNanos ?? 0) > 0)
        #expect(first.response.usage.completionTokens > 0)
        let second = await host.generate(Self.call("external", "And of Italy?"))
        #expect(second.metering?.tier == .warm)
        #expect(await host.phases()["external"] == "warm")

        try await Task.sleep(for: .milliseconds(400))
        await host.maintainOnce(now: .now)
        try await waitFor { await host.phases()["external"] == "unloaded" }
        let third = await host.generate(Self.call("external", "What is the capital of France?"))
        #expect(third.response.error == nil)
        #expect(third.metering?.tier == .disk)  // a new server process
        await host.shutdown()
    }

    @Test func aManagedServerThatCannotStartFailsItsCallsClearly() async throws {
        let host = LocalModelHost(
            catalog: Self.serverCatalog(["sh", "-c", "exit 3", "{port}"], idle: .seconds(60)), settings: LocalHostSettings(),
            logger: Self.logger)
        let outcome = await host.generate(Self.call("external", "Hello?"))
        let error = try #require(outcome.response.error)
        #expect(error.code == "model_unavailable")
        #expect(error.message.contains("exited with status 3"))
        await host.shutdown()
    }

    @Test func concurrentCallsShareDecodeSteps() async throws {
        let host = LocalModelHost(
            catalog: Self.catalog(["smol": (Self.smol, .chat, .seconds(600))]), settings: LocalHostSettings(), logger: Self.logger)
        let questions = [
            "What is the capital of France?", "Name three colors of the rainbow.", "Write a haiku about the sea.",
            "What is 2 + 2?", "Who wrote Hamlet?", "Give me a synonym for happy.", "What is the boiling point of water?",
            "Say hello in Spanish.",
        ]
        var sequential: [String] = []
        let beforeSequential = await host.engineStatistics("smol") ?? .init()
        for question in questions {
            sequential.append(await host.generate(Self.call("smol", question, maxTokens: 32)).response.content ?? "")
        }
        let before = try #require(await host.engineStatistics("smol"))
        #expect(before.sequenceSteps - beforeSequential.sequenceSteps == before.steps - beforeSequential.steps)  // one at a time
        let concurrent = await withTaskGroup(of: (Int, ModelResponse, LocalMetering?).self) { group in
            for (index, question) in questions.enumerated() {
                group.addTask {
                    let outcome = await host.generate(Self.call("smol", question, maxTokens: 32))
                    return (index, outcome.response, outcome.metering)
                }
            }
            var results: [(Int, ModelResponse, LocalMetering?)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }
        }
        var identical = 0
        for (index, response, metering) in concurrent {
            #expect(response.error == nil)
            #expect(metering?.tier == .warm)
            if response.content == sequential[index] { identical += 1 }
        }
        // The calls shared decode steps: more than three sequences per step on average.
        let after = try #require(await host.engineStatistics("smol"))
        let occupancy = Double(after.sequenceSteps - before.sequenceSteps) / Double(after.steps - before.steps)
        #expect(occupancy > 3, "mean batch occupancy \(occupancy)")
        // Device time is apportioned, never double-counted: the calls' shares add up to the steps' time.
        let device = concurrent.compactMap { $0.2?.deviceNanos }.reduce(0, +)
        #expect(device == after.deviceNanos - before.deviceNanos)
        print("[gpu-inference] 8 concurrent calls: \(identical)/8 texts identical to sequential calls")
        await host.shutdown()
    }
}
}

func waitFor(_ condition: () async -> Bool) async throws {
    for _ in 0..<200 {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within 10 s")
}
