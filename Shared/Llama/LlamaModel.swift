import CLlama
import Foundation

/// A token ID in a model's vocabulary.
public typealias LlamaToken = Int32

/// How to load a model's weights.
public struct LlamaModelParameters: Sendable, Hashable {
    /// How many layers to offload to a GPU; 0 keeps everything on the CPU. Ignored by CPU-only builds
    /// (see ``LlamaBackend/supportsGPUOffload``). Default 0.
    public var gpuLayers: Int
    /// Map the file instead of reading it into memory, so that weights are shared through the page cache
    /// and load fast when cached. Default `true`.
    public var useMmap: Bool
    /// Lock the weights in RAM so that they are never paged out. Default `false`.
    public var useMlock: Bool

    /// Creates parameters; the defaults suit a CPU host.
    public init(gpuLayers: Int = 0, useMmap: Bool = true, useMlock: Bool = false) {
        self.gpuLayers = gpuLayers
        self.useMmap = useMmap
        self.useMlock = useMlock
    }
}

/// A GGUF model loaded into memory: weights, vocabulary and chat template.
///
/// A model is immutable once loaded, so one instance can back any number of ``LlamaContext``s on any
/// threads. It is freed when the last reference (including contexts' references) goes away.
public final class LlamaModel: @unchecked Sendable {
    // @unchecked: the pointers are written once in init; libllama reads a loaded model from many
    // contexts and threads at once (tokenizer, weights and metadata are not mutated after load).
    /// `llama_model *`, owned: freed in deinit.
    let pointer: OpaquePointer
    /// `const llama_vocab *`, owned by the model.
    let vocabulary: OpaquePointer

    /// The file the model was loaded from.
    public let path: String
    /// The parameters it was loaded with.
    public let parameters: LlamaModelParameters
    /// The architecture named in the file (`general.architecture`), e.g. `llama`, `gemma3`.
    public let architecture: String
    /// libllama's one-line description (architecture, size, quantization).
    public let summary: String
    /// Number of tokens in the vocabulary.
    public let vocabularySize: Int
    /// The context length the model was trained with.
    public let trainedContextLength: Int
    /// Number of transformer layers (what ``LlamaModelParameters/gpuLayers`` counts).
    public let layerCount: Int
    /// Number of weights.
    public let parameterCount: Int
    /// Size of the model file in bytes.
    public let fileSize: Int64
    /// How long loading took, including header validation.
    public let loadDuration: Duration
    /// The template text stored in the file, if any.
    let chatTemplate: String?
    /// The beginning-of-sequence token, if the vocabulary has one.
    public let beginningOfSequenceToken: LlamaToken?
    /// The end-of-sequence token, if the vocabulary has one.
    public let endOfSequenceToken: LlamaToken?
    /// Whether tokenizing with `addSpecial: true` puts a beginning-of-sequence token first.
    public let addsBeginningOfSequenceToken: Bool

    /// Whether the model carries a chat template (instruct models do; base models usually don't).
    public var hasChatTemplate: Bool { chatTemplate != nil }

    /// Loads a GGUF model, blocking the calling thread (tens to hundreds of milliseconds from page cache).
    ///
    /// The file is checked before libllama sees it: a missing file throws ``LlamaError/Code/fileNotFound``;
    /// a file that is not GGUF, has an unsupported version, or is corrupt or truncated throws
    /// ``LlamaError/Code/invalidModel`` naming the problem; a well-formed file libllama still refuses
    /// throws ``LlamaError/Code/modelLoadFailed`` with libllama's reason.
    ///
    /// - Important: Blocks. From async code use ``load(path:parameters:)``.
    public init(path: String, parameters: LlamaModelParameters = LlamaModelParameters()) throws {
        let start = ContinuousClock.now
        LlamaBackend.ensureInitialized()
        let header = try GGUFFile.validate(path: path)
        guard let gpuLayers = Int32(exactly: parameters.gpuLayers), gpuLayers >= 0 else {
            throw LlamaError(code: .invalidArgument, detail: "gpuLayers \(parameters.gpuLayers) is out of range", path: path)
        }

        var modelParameters = llama_model_default_params()
        modelParameters.n_gpu_layers = gpuLayers
        modelParameters.use_mmap = parameters.useMmap
        modelParameters.use_mlock = parameters.useMlock
        let (loaded, reason) = LlamaLogRouter.shared.capturingErrors {
            llama_model_load_from_file(path, modelParameters)
        }
        guard let loaded else {
            throw LlamaError(
                code: .modelLoadFailed,
                detail: "libllama refused the model: \(reason.isEmpty ? "no reason given" : reason)", path: path)
        }
        guard let vocabulary = llama_model_get_vocab(loaded) else {
            llama_free_model(loaded)
            throw LlamaError(code: .modelLoadFailed, detail: "the model has no vocabulary", path: path)
        }

        self.pointer = loaded
        self.vocabulary = vocabulary
        self.path = path
        self.parameters = parameters
        self.architecture =
            Self.metadataString(loaded, key: "general.architecture") ?? header.architecture ?? "unknown"
        self.summary = Self.readString { llama_model_desc(loaded, $0, $1) } ?? architecture
        self.vocabularySize = Int(llama_n_vocab(loaded))
        self.trainedContextLength = Int(llama_n_ctx_train(loaded))
        self.layerCount = Int(llama_n_layer(loaded))
        self.parameterCount = Int(llama_model_n_params(loaded))
        self.fileSize = header.fileSize
        self.chatTemplate = llama_model_chat_template(loaded, nil).map { String(cString: $0) }
        let bos = llama_token_bos(loaded)
        let eos = llama_token_eos(loaded)
        self.beginningOfSequenceToken = bos == LLAMA_TOKEN_NULL ? nil : bos
        self.endOfSequenceToken = eos == LLAMA_TOKEN_NULL ? nil : eos
        self.addsBeginningOfSequenceToken = llama_vocab_get_add_bos(vocabulary)
        self.loadDuration = ContinuousClock.now - start
    }

    /// Loads a GGUF model on a dedicated thread, so that the cooperative pool never blocks on the file.
    ///
    /// See ``init(path:parameters:)`` for the errors.
    public static func load(
        path: String, parameters: LlamaModelParameters = LlamaModelParameters()
    ) async throws -> LlamaModel {
        try await DedicatedThread.run(name: "llama-load") {
            try LlamaModel(path: path, parameters: parameters)
        }
    }

    deinit {
        llama_free_model(pointer)
    }

    /// Reads a string metadata value from the file (e.g. `general.name`), or `nil` if absent.
    public func metadata(_ key: String) -> String? {
        Self.metadataString(pointer, key: key)
    }

    private static func metadataString(_ model: OpaquePointer, key: String) -> String? {
        readString { llama_model_meta_val_str(model, key, $0, $1) }
    }

    /// Calls a libllama "write into this buffer, return the length" function, growing the buffer once.
    private static func readString(_ read: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> String? {
        var capacity = 256
        while true {
            let result: String?? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
                let length = Int(read(buffer.baseAddress!, capacity))
                if length < 0 { return .some(nil) }
                if length >= capacity {
                    capacity = length + 1
                    return nil
                }
                return .some(String(cString: buffer.baseAddress!))
            }
            if let result { return result }
        }
    }
}
