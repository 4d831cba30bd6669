import Foundation
import Synchronization
import Testing

@testable import Llama

/// The real models under `<repo>/.deps/models`, loaded once per test process.
enum TestModels {
    static let repositoryRoot: String = {
        // <repo>/Tests/LlamaTests/TestSupport.swift
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// SmolLM2-135M-Instruct (chat template: ChatML).
    static let smolPath = repositoryRoot + "/.deps/models/smollm2-135m.gguf"
    /// Gemma 3 270M base model (no chat template).
    static let gemmaPath = repositoryRoot + "/.deps/models/gemma3-270m.gguf"

    private static let cache = Mutex<[String: LlamaModel]>([:])

    static func smol() throws -> LlamaModel { try load(smolPath) }
    static func gemma() throws -> LlamaModel { try load(gemmaPath) }

    private static func load(_ path: String) throws -> LlamaModel {
        if let model = cache.withLock({ $0[path] }) { return model }
        let model = try LlamaModel(path: path)
        return cache.withLock { cache in
            if let existing = cache[path] { return existing }
            cache[path] = model
            return model
        }
    }

    /// The chat prompt SmolLM2 answers with "The capital of France is Paris."
    static func smolCapitalPrompt(_ model: LlamaModel) throws -> String {
        try model.applyChatTemplate([ChatMessage(role: .user, content: "What is the capital of France?")])
    }
}

/// A scratch file in the temporary directory, removed by the caller.
func temporaryFile(named name: String, contents: some Collection<UInt8>) throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("llama-tests-\(UUID().uuidString)-\(name)").path
    guard FileManager.default.createFile(atPath: path, contents: Data(contents)) else {
        throw CocoaError(.fileWriteUnknown)
    }
    return path
}

/// Model tests run one after another: each runs libllama on all cores, and parallel runs would only
/// thrash the two-core machine.
@Suite(.serialized)
enum RealModelTests {}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) * 1e-15
    }
}
