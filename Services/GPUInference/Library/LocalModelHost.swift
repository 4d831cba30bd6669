import Catalog
import Contracts
import Foundation
import Llama
import Logging

/// Serves the catalog's local models: loads each on its first call, keeps it loaded, and runs
/// generations on the model's own worker thread.
///
/// A model whose GGUF is missing or corrupt fails its own calls with a clear error; the host and its
/// other models keep serving. (The serverless lifecycle of issue #4 — idle unloading, snapshot tiers,
/// continuous batching — builds on this.)
public actor LocalModelHost {
    private struct Loaded: Sendable {
        var model: LlamaModel
        var worker: LlamaWorker
    }

    private let models: [String: LocalModel]
    private let threads: Int
    private let logger: Logger
    private var loaded: [String: Task<Loaded, any Error>] = [:]

    public init(catalog: ModelCatalog, threads: Int, logger: Logger) {
        var models: [String: LocalModel] = [:]
        for (id, model) in catalog.models {
            if case .local(let local) = model.placement { models[id] = local }
        }
        self.models = models
        self.threads = threads
        self.logger = logger
        LlamaBackend.bootstrap(logger: logger)
    }

    /// Problems visible without loading anything (a missing file), by model id.
    public nonisolated func missingFiles() -> [(model: String, path: String)] {
        models.compactMap { id, local in
            FileManager.default.fileExists(atPath: local.ggufPath) ? nil : (id, local.ggufPath)
        }.sorted { $0.model < $1.model }
    }

    public nonisolated var modelIDs: [String] { models.keys.sorted() }

    /// Runs one call. Never throws: failures become the response's error.
    public func generate(_ call: ModelCall) async -> (response: ModelResponse, deviceNanos: Int64) {
        let started = ContinuousClock.now
        func failure(_ code: String, _ message: String) -> (ModelResponse, Int64) {
            (ModelResponse(
                callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                model: call.model, provider: "local", content: nil, error: ErrorInfo(code: code, message: message),
                finishReason: nil, latencyMs: Self.milliseconds(ContinuousClock.now - started), usage: .zero), 0)
        }
        guard let local = models[call.model] else {
            return failure("unknown_model", "\(call.model) is not a local model of this host")
        }
        let cold = loaded[call.model] == nil
        let entry: Loaded
        do {
            entry = try await load(call.model, local)
        } catch {
            return failure("model_unavailable", "\(call.model): \(error)")
        }
        let prompt: String
        var stop: [String] = []
        switch local.promptStyle {
        case .chat:
            do {
                prompt = try entry.model.applyChatTemplate(call.messages.map {
                    Llama.ChatMessage(role: .init(rawValue: $0.role.rawValue), content: $0.content)
                })
            } catch {
                return failure("prompt_failed", "\(call.model): \(error)")
            }
        case .completion:
            prompt = CompletionFrame.prompt(for: call.messages)
            stop = CompletionFrame.stopSequences
        }
        // A seed from the call id: a redelivered call at temperature > 0 samples the same text.
        let parameters = GenerationParameters(
            maxTokens: call.maxTokens, temperature: Float(call.temperature), seed: Self.seed(call.callID), stop: stop)
        do {
            let generation = try await entry.worker.generate(prompt: prompt, parameters: parameters)
            let device = generation.timings.promptEvaluation + generation.timings.decoding
            let response = ModelResponse(
                callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                model: call.model, provider: "local", content: generation.text.trimmingCharacters(in: .whitespacesAndNewlines),
                error: nil, finishReason: generation.finishReason.rawValue, latencyMs: Self.milliseconds(ContinuousClock.now - started),
                usage: TokenUsage(
                    promptTokens: generation.promptTokens, completionTokens: generation.completionTokens,
                    cachedPromptTokens: generation.cachedPromptTokens),
                deviceNanos: Self.nanoseconds(device), coldStart: cold)
            return (response, Self.nanoseconds(device))
        } catch {
            return failure("generation_failed", "\(call.model): \(error)")
        }
    }

    private func load(_ id: String, _ local: LocalModel) async throws -> Loaded {
        if let task = loaded[id] {
            do { return try await task.value } catch {
                loaded[id] = nil  // let the next call try again (the file may have been fixed)
                throw error
            }
        }
        let threads = self.threads
        let logger = self.logger
        let task = Task<Loaded, any Error> {
            let model = try await LlamaModel.load(
                path: local.ggufPath, parameters: LlamaModelParameters(gpuLayers: local.gpuLayers))
            let worker = try await LlamaWorker(
                model: model,
                contextParameters: LlamaContextParameters(contextSize: local.contextSize, maxSequences: 1, threads: threads),
                name: "llama-\(id)")
            logger.info("model loaded", metadata: ["model": "\(id)", "load_ms": "\(Self.milliseconds(model.loadDuration))"])
            return Loaded(model: model, worker: worker)
        }
        loaded[id] = task
        do { return try await task.value } catch {
            loaded[id] = nil
            throw error
        }
    }

    /// Stops every model's worker thread.
    public func shutdown() async {
        for task in loaded.values {
            if let entry = try? await task.value { await entry.worker.shutdown() }
        }
        loaded = [:]
    }

    static func seed(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return s * 1000 + atto / 1_000_000_000_000_000
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
