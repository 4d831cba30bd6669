import Foundation
import Testing

@testable import Llama

extension RealModelTests {
    @Suite struct ModelLoading {
        @Test func smolMetadata() throws {
            let model = try LlamaModel(path: TestModels.smolPath)
            #expect(model.architecture == "llama")
            #expect(model.vocabularySize == 49152)
            #expect(model.trainedContextLength == 8192)
            #expect(model.hasChatTemplate)
            #expect(model.fileSize > 50_000_000)
            #expect(model.layerCount > 0)
            #expect(model.loadDuration > .zero)
            print("[llama] smollm2-135m: \(model.summary), load \(model.loadDuration.milliseconds) ms")
        }

        @Test func gemmaMetadata() async throws {
            let model = try await LlamaModel.load(path: TestModels.gemmaPath)
            #expect(model.architecture == "gemma3")
            #expect(model.vocabularySize == 262144)
            #expect(!model.hasChatTemplate)
            #expect(model.addsBeginningOfSequenceToken)
            print("[llama] gemma3-270m: \(model.summary), load \(model.loadDuration.milliseconds) ms")
        }

        @Test func missingFile() throws {
            let path = "/nonexistent/dir/model-\(UUID().uuidString).gguf"
            let error = try #require(throws: LlamaError.self) { try LlamaModel(path: path) }
            #expect(error.code == .fileNotFound)
            #expect(error.path == path)
            #expect(error.description.contains(path))
            #expect(!error.isRetriable)
        }

        @Test func directoryIsNotAModel() throws {
            let error = try #require(throws: LlamaError.self) {
                try LlamaModel(path: FileManager.default.temporaryDirectory.path)
            }
            #expect(error.code == .invalidModel)
            #expect(error.detail.contains("not a regular file"))
        }

        @Test func randomBytes() throws {
            var generator = SystemRandomNumberGenerator()
            var bytes = (0..<1_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
            bytes[0] = 0x7F  // never "GGUF" by chance
            let path = try temporaryFile(named: "random.gguf", contents: bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let error = try #require(throws: LlamaError.self) { try LlamaModel(path: path) }
            #expect(error.code == .invalidModel)
            #expect(error.detail.contains("not a GGUF file"))
            #expect(error.path == path)
        }

        @Test func magicFollowedByGarbage() throws {
            var bytes = Array("GGUF".utf8)
            bytes += [3, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 4096)
            let path = try temporaryFile(named: "garbage.gguf", contents: bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let error = try #require(throws: LlamaError.self) { try LlamaModel(path: path) }
            #expect(error.code == .invalidModel)
            #expect(error.detail.contains("truncated or corrupt"))
        }

        /// Cut the real model inside the fixed header, inside the metadata (the tokenizer's vocabulary)
        /// and inside the tensor data: each is a clear invalidModel error, and the process lives on.
        @Test(arguments: [10, 100_000, 1_000_000, 60_000_000])
        func truncatedModel(length: Int) throws {
            let original = try Data(contentsOf: URL(fileURLWithPath: TestModels.smolPath), options: .alwaysMapped)
            let path = try temporaryFile(named: "truncated-\(length).gguf", contents: original.prefix(length))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let error = try #require(throws: LlamaError.self) { try LlamaModel(path: path) }
            #expect(error.code == .invalidModel)
            #expect(error.detail.contains("truncated"), "\(error)")
            #expect(error.path == path)
            print("[llama] truncated at \(length): \(error.detail)")
        }
    }
}

/// Header validation against hand-made GGUF files (no libllama involved).
@Suite struct GGUFValidation {
    /// A GGUF v`version` file with one F32 tensor of `elements` elements and `dataBytes` bytes of data.
    private func makeFile(version: UInt32 = 3, tensorType: UInt32 = 0, elements: UInt64 = 8, dataBytes: Int = 32) -> [UInt8] {
        var bytes: [UInt8] = []
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func string(_ value: String) { u64(UInt64(value.utf8.count)); bytes += value.utf8 }
        bytes += Array("GGUF".utf8)
        u32(version)
        u64(1)  // tensors
        u64(2)  // metadata
        string("general.architecture"); u32(8); string("llama")
        string("tokenizer.scores"); u32(9); u32(6); u64(3); bytes += [UInt8](repeating: 0, count: 12)
        string("weight"); u32(1); u64(elements); u32(tensorType); u64(0)
        while bytes.count % 32 != 0 { bytes.append(0) }
        bytes += [UInt8](repeating: 0, count: dataBytes)
        return bytes
    }

    private func validate(_ bytes: [UInt8]) throws -> GGUFSummary {
        let path = try temporaryFile(named: "synthetic.gguf", contents: bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try GGUFFile.validate(path: path)
    }

    @Test func wellFormed() throws {
        let summary = try validate(makeFile())
        #expect(summary.version == 3)
        #expect(summary.tensorCount == 1)
        #expect(summary.metadataCount == 2)
        #expect(summary.architecture == "llama")
        #expect(summary.dataEnd == summary.fileSize)
    }

    @Test func truncatedTensorData() throws {
        let error = try #require(throws: LlamaError.self) { try validate(makeFile(dataBytes: 16)) }
        #expect(error.code == .invalidModel)
        #expect(error.detail.contains("truncated: tensor 'weight' needs bytes up to"))
    }

    @Test func unsupportedVersion() throws {
        let error = try #require(throws: LlamaError.self) { try validate(makeFile(version: 1)) }
        #expect(error.detail.contains("unsupported GGUF version 1"))
    }

    @Test func unknownTensorType() throws {
        let error = try #require(throws: LlamaError.self) { try validate(makeFile(tensorType: 9999)) }
        #expect(error.detail.contains("unknown type 9999"))
    }

    @Test func absurdTensorSize() throws {
        let error = try #require(throws: LlamaError.self) { try validate(makeFile(elements: UInt64(Int64.max))) }
        #expect(error.code == .invalidModel)
    }

    @Test func tooSmall() throws {
        let error = try #require(throws: LlamaError.self) { try validate(Array("GGUF".utf8)) }
        #expect(error.detail.contains("too small for a GGUF header"))
    }
}
