import CLlama

/// How to size an inference context.
public struct LlamaContextParameters: Sendable, Hashable {
    /// KV cache size in tokens, shared by all sequences; 0 means the model's trained context length.
    /// Default 2048.
    public var contextSize: Int
    /// The most tokens one ``LlamaContext/decode(_:)`` call takes (prompt chunks, or one token per
    /// sequence in a generation step). Default 512.
    public var batchSize: Int
    /// Rows per physical compute step (libllama's micro-batch); larger batches are split into steps of
    /// this size. `nil` (the default) means ``cpuSafeMicroBatchSize`` when the model runs on the CPU,
    /// else ``batchSize``.
    ///
    /// - Important: From 32 rows on, the bundled ik_llama.cpp CPU build switches matrix kernels. On this
    ///   machine kind (AVX2 AMD EPYC, no AVX-VNNI) that path is wrong for Q4_1 weights (SmolLM2): a
    ///   32-token prompt decoded in one step gives logits 2 to 9 off from the same prompt decoded token by
    ///   token, and a 35-token chat prompt is answered with end-of-text at once. For Q4_K (Gemma 3) it
    ///   only differs by rounding (about 0.1). Below 32 rows the results are bit-identical whatever the
    ///   step size, which is also what makes batched and single-sequence decoding agree exactly. Raise
    ///   this only after comparing one-step and token-by-token logits on the target CPU and model.
    public var microBatchSize: Int?
    /// How many sequences can live in the KV cache at once (concurrent generations plus cached
    /// prefixes). Default 1.
    public var maxSequences: Int
    /// Threads for single-token steps. Default 2.
    public var threads: Int
    /// Threads for multi-token batches (prompts); `nil` means ``threads``.
    public var batchThreads: Int?
    /// Use flash attention; `nil` (the default) turns it on for single-sequence contexts only.
    ///
    /// - Important: The CPU flash attention of the bundled ik_llama.cpp build is unsound for batches
    ///   mixing sequences: it skips KV blocks by one row's mask, which gives wrong attention or aborts the
    ///   process with `GGML_ASSERT(S > 0)` (ik_llama.cpp issue #809, fixed upstream by PR #1880, later than
    ///   this build). Force it on with `maxSequences > 1` only with a library that has that fix.
    public var flashAttention: Bool?

    /// Creates parameters; the defaults suit one stream on a small CPU host.
    /// The largest CPU micro-batch that this libllama build computes correctly (see ``microBatchSize``).
    public static let cpuSafeMicroBatchSize = 31

    public init(
        contextSize: Int = 2048, batchSize: Int = 512, microBatchSize: Int? = nil, maxSequences: Int = 1,
        threads: Int = 2, batchThreads: Int? = nil, flashAttention: Bool? = nil
    ) {
        self.contextSize = contextSize
        self.batchSize = batchSize
        self.microBatchSize = microBatchSize
        self.maxSequences = maxSequences
        self.threads = threads
        self.batchThreads = batchThreads
        self.flashAttention = flashAttention
    }
}

/// An inference context: a KV cache holding one or more sequences, and the operations a scheduler
/// needs on it (decode a multi-sequence batch, sample from its logits, remove, copy, save and restore
/// sequences), plus a simple ``generate(tokens:parameters:sequence:cachedPrefixLength:onToken:)`` on top.
///
/// A sequence is an independent token stream in the shared cache, numbered `0..<maxSequences`. Several
/// sequences decoded in one batch share the step's cost; that is how continuous batching works.
///
/// - Important: Not thread-safe and not `Sendable`: one thread owns a context for its whole life
///   (``LlamaWorker`` is such an owner). Calls block that thread for the duration of the computation.
public final class LlamaContext {
    /// The model; the context keeps it alive.
    public let model: LlamaModel
    /// KV cache size in tokens, shared by all sequences.
    public let contextSize: Int
    /// The most tokens one decode call takes.
    public let batchSize: Int
    /// Rows per physical compute step.
    public let microBatchSize: Int
    /// How many sequences the cache can hold.
    public let maxSequences: Int
    /// Threads for single-token steps.
    public let threads: Int
    /// Whether attention uses the flash-attention kernels (see ``LlamaContextParameters/flashAttention``).
    /// Sequence snapshots restore only into contexts with the same setting (the V cache layout differs).
    public let flashAttention: Bool

    /// `llama_context *`, owned: freed in deinit.
    let pointer: OpaquePointer
    /// Allocated once with llama_batch_init for `batchSize` tokens of one sequence each; freed in deinit.
    private var nativeBatch: llama_batch
    /// Which entries of the last decoded batch have logits (for index checks when sampling).
    private var logitsAvailable: [Bool] = []
    /// Reused by ``generate(tokens:parameters:sequence:cachedPrefixLength:onToken:)``.
    var stepBatch: LlamaBatch
    var pieceBuffer: [UInt8] = []

    /// Creates a context for `model`; allocates the KV cache (blocking, tens of milliseconds).
    ///
    /// - Throws: ``LlamaError/Code/invalidArgument`` for out-of-range parameters,
    ///   ``LlamaError/Code/contextCreationFailed`` when libllama cannot allocate it.
    public init(model: LlamaModel, parameters: LlamaContextParameters = LlamaContextParameters()) throws {
        func invalid(_ detail: String) -> LlamaError {
            LlamaError(code: .invalidArgument, detail: detail, path: model.path)
        }
        guard let contextSize = UInt32(exactly: parameters.contextSize) else {
            throw invalid("contextSize \(parameters.contextSize) is out of range")
        }
        guard let batchSize = UInt32(exactly: parameters.batchSize), batchSize > 0 else {
            throw invalid("batchSize \(parameters.batchSize) must be positive")
        }
        let runsOnCPU = model.parameters.gpuLayers == 0 || !LlamaBackend.supportsGPUOffload
        let defaultMicroBatch = runsOnCPU ? LlamaContextParameters.cpuSafeMicroBatchSize : parameters.batchSize
        guard let microBatchSize = UInt32(exactly: min(parameters.microBatchSize ?? defaultMicroBatch, parameters.batchSize)),
            microBatchSize > 0
        else {
            throw invalid("microBatchSize \(parameters.microBatchSize ?? 0) must be positive")
        }
        guard let maxSequences = UInt32(exactly: parameters.maxSequences), maxSequences > 0 else {
            throw invalid("maxSequences \(parameters.maxSequences) must be positive")
        }
        let batchThreadCount = parameters.batchThreads ?? parameters.threads
        guard let threads = UInt32(exactly: parameters.threads), threads > 0,
            let batchThreads = UInt32(exactly: batchThreadCount), batchThreads > 0
        else {
            throw invalid("thread counts must be positive")
        }

        var contextParameters = llama_context_default_params()
        contextParameters.n_ctx = contextSize
        contextParameters.n_batch = batchSize
        contextParameters.n_ubatch = microBatchSize
        contextParameters.n_seq_max = maxSequences
        contextParameters.n_threads = threads
        contextParameters.n_threads_batch = batchThreads
        let flashAttention = parameters.flashAttention ?? (maxSequences == 1)
        contextParameters.flash_attn = flashAttention
        let (created, reason) = LlamaLogRouter.shared.capturingErrors {
            llama_init_from_model(model.pointer, contextParameters)
        }
        guard let created else {
            throw LlamaError(
                code: .contextCreationFailed,
                detail: "libllama could not create a context of \(parameters.contextSize) tokens: \(reason.isEmpty ? "no reason given" : reason)",
                path: model.path)
        }
        self.model = model
        self.pointer = created
        // libllama may round or clamp what it was asked for: keep what it actually has.
        self.contextSize = Int(llama_n_ctx(created))
        self.batchSize = Int(llama_n_batch(created))
        self.microBatchSize = Int(llama_n_ubatch(created))
        // Not llama_n_seq_max: for non-recurrent models this build returns the KV cache size there.
        self.maxSequences = Int(maxSequences)
        self.threads = Int(llama_n_threads(created))
        self.flashAttention = flashAttention
        self.nativeBatch = llama_batch_init(Int32(self.batchSize), 0, 1)
        self.stepBatch = LlamaBatch(capacity: self.batchSize)
        self.logitsAvailable.reserveCapacity(self.batchSize)
        self.pieceBuffer.reserveCapacity(64)
    }

    deinit {
        llama_batch_free(nativeBatch)
        llama_free(pointer)
    }

    // MARK: - Decoding

    /// Runs the model over a batch, appending its tokens to their sequences' KV cache and computing
    /// logits for the entries that want them.
    ///
    /// Entries of different sequences are computed in one pass; a new sequence can join a batch of
    /// running ones at any step.
    /// - Throws: ``LlamaError/Code/contextFull`` (retriable) when the cache has no room for the batch;
    ///   ``LlamaError/Code/invalidArgument`` for an empty or oversized batch, unknown tokens, negative
    ///   positions or sequence IDs outside `0..<maxSequences`; ``LlamaError/Code/decodeFailed`` otherwise.
    public func decode(_ batch: LlamaBatch) throws {
        guard !batch.isEmpty, batch.count <= batchSize else {
            throw LlamaError(
                code: .invalidArgument,
                detail: "a batch of \(batch.count) tokens does not fit the context's batch size 1...\(batchSize)")
        }
        let vocabularySize = Int32(model.vocabularySize)
        let maxSequence = Int32(maxSequences)
        logitsAvailable.removeAll(keepingCapacity: true)
        for index in 0..<batch.count {
            let token = batch.tokens[index]
            let position = batch.positions[index]
            let sequence = batch.sequences[index]
            guard token >= 0, token < vocabularySize else {
                throw LlamaError(code: .invalidArgument, detail: "batch entry \(index) has token \(token), outside the vocabulary")
            }
            guard position >= 0 else {
                throw LlamaError(code: .invalidArgument, detail: "batch entry \(index) has a negative or oversized position")
            }
            guard sequence >= 0, sequence < maxSequence else {
                throw LlamaError(
                    code: .invalidArgument, detail: "batch entry \(index) names sequence \(sequence), outside 0..<\(maxSequence)")
            }
            nativeBatch.token[index] = token
            nativeBatch.pos[index] = position
            nativeBatch.n_seq_id[index] = 1
            nativeBatch.seq_id[index]![0] = sequence
            nativeBatch.logits[index] = batch.logits[index] ? 1 : 0
            logitsAvailable.append(batch.logits[index])
        }
        nativeBatch.n_tokens = Int32(batch.count)
        let result = llama_decode(pointer, nativeBatch)
        guard result == 0 else {
            logitsAvailable.removeAll(keepingCapacity: true)
            if result == 1 {
                throw LlamaError(
                    code: .contextFull,
                    detail: "no room in the KV cache (\(contextSize) tokens) for a batch of \(batch.count)",
                    underlyingCode: result)
            }
            throw LlamaError(code: .decodeFailed, detail: "llama_decode failed on a batch of \(batch.count) tokens", underlyingCode: result)
        }
    }

    /// Gives `body` the logits (one per vocabulary entry) computed for an entry of the last decoded batch.
    ///
    /// - Important: The buffer is valid only inside `body` and until the next decode.
    public func withLogits<Result>(
        batchIndex: Int, _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) throws -> Result {
        guard batchIndex >= 0, batchIndex < logitsAvailable.count, logitsAvailable[batchIndex],
            let logits = llama_get_logits_ith(pointer, Int32(batchIndex))
        else {
            throw LlamaError(
                code: .invalidArgument,
                detail: "entry \(batchIndex) of the last decoded batch has no logits (was wantsLogits set?)")
        }
        return try body(UnsafeBufferPointer(start: logits, count: model.vocabularySize))
    }

    /// Picks the next token from the logits of an entry of the last decoded batch.
    public func sample(batchIndex: Int, using sampler: inout LlamaSampler) throws -> LlamaToken {
        try withLogits(batchIndex: batchIndex) { sampler.sample($0) }
    }

    // MARK: - KV cache

    /// Removes a whole sequence from the KV cache, freeing its cells for others.
    public func removeSequence(_ sequence: Int) {
        guard let id = Int32(exactly: sequence) else { return }
        _ = llama_kv_cache_seq_rm(pointer, id, -1, -1)
    }

    /// Removes a sequence's tokens at `positions` (for example everything after a shared prefix).
    ///
    /// - Returns: `false` when libllama cannot cut the sequence there (recurrent models); removing a
    ///   whole sequence never fails.
    @discardableResult
    public func removeTokens(of sequence: Int, at positions: PartialRangeFrom<Int>) -> Bool {
        guard let id = Int32(exactly: sequence), let start = Int32(exactly: positions.lowerBound) else { return false }
        return llama_kv_cache_seq_rm(pointer, id, start, -1)
    }

    /// Makes `destination` share `source`'s cached tokens (all, or those at `positions`), without copying
    /// memory: the cells are tagged with both sequences.
    ///
    /// This is how a cached prompt prefix (say, a common system prompt decoded once into a spare
    /// sequence) is reused by a new generation: copy it, then decode only the rest of the prompt.
    public func copySequence(_ source: Int, to destination: Int, positions: Range<Int>? = nil) throws {
        let maximum = maxSequences
        guard (0..<maximum).contains(source), (0..<maximum).contains(destination) else {
            throw LlamaError(code: .invalidArgument, detail: "sequences \(source) and \(destination) must be in 0..<\(maximum)")
        }
        let start = positions.map { Int32(clamping: $0.lowerBound) } ?? -1
        let end = positions.map { Int32(clamping: $0.upperBound) } ?? -1
        llama_kv_cache_seq_cp(pointer, Int32(source), Int32(destination), start, end)
    }

    /// Removes every sequence from the KV cache.
    public func removeAllSequences() {
        llama_kv_cache_clear(pointer)
    }

    /// The positions a sequence occupies in the KV cache, or `nil` when it holds nothing.
    public func positions(of sequence: Int) -> ClosedRange<Int>? {
        guard let id = Int32(exactly: sequence) else { return nil }
        let low = llama_kv_cache_seq_pos_min(pointer, id)
        let high = llama_kv_cache_seq_pos_max(pointer, id)
        guard low >= 0, high >= low else { return nil }
        return Int(low)...Int(high)
    }

    /// Number of KV cells in use (a cell shared by several sequences counts once).
    public var usedCells: Int {
        Int(llama_get_kv_cache_used_cells(pointer))
    }
}

@available(*, unavailable, message: "a LlamaContext belongs to one thread; share it through a LlamaWorker")
extension LlamaContext: Sendable {}
