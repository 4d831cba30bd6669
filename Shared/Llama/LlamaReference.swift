import CLlama

/// A plain single-stream decode loop straight over libllama, as the baseline for benchmarks.
///
/// It uses only what the simplest llama.cpp example does (`llama_batch_get_one`, greedy argmax over
/// `llama_get_logits_ith(-1)`) and none of this module's machinery, so that comparing its rate with a
/// service's single-stream rate measures the service's overhead.
public enum LlamaReference {
    /// The outcome of a reference run.
    public struct Run: Sendable, Hashable {
        /// Tokens in the prompt.
        public var promptTokens: Int
        /// Tokens generated (exactly as many as asked; end-of-generation tokens are not honoured).
        public var generatedTokens: Int
        /// Time to decode the prompt.
        public var promptDuration: Duration
        /// Time to generate the tokens.
        public var decodeDuration: Duration

        /// Generated tokens per second of decode time.
        public var tokensPerSecond: Double {
            let seconds = Double(decodeDuration.components.seconds) + Double(decodeDuration.components.attoseconds) * 1e-18
            return seconds > 0 ? Double(generatedTokens) / seconds : 0
        }
    }

    /// Decodes `prompt`, then generates `tokens` tokens greedily, one `llama_decode` per token, in a fresh
    /// context of `contextSize` with `threads` threads.
    ///
    /// - Important: Blocks the calling thread for the whole run.
    public static func singleStream(
        model: LlamaModel, prompt: String, tokens: Int, threads: Int = 2, contextSize: Int = 2048
    ) throws -> Run {
        var promptTokens = try model.tokenize(prompt)
        guard !promptTokens.isEmpty, promptTokens.count + tokens <= contextSize, tokens >= 0, threads > 0 else {
            throw LlamaError(
                code: .invalidArgument,
                detail: "a reference run needs a non-empty prompt (\(promptTokens.count) tokens) plus \(tokens) tokens within \(contextSize)")
        }
        var parameters = llama_context_default_params()
        parameters.n_ctx = UInt32(contextSize)
        parameters.n_batch = UInt32(max(promptTokens.count, 1))
        // The same correctness cap as LlamaContext (see LlamaContextParameters.microBatchSize).
        parameters.n_ubatch = min(parameters.n_batch, UInt32(LlamaContextParameters.cpuSafeMicroBatchSize))
        parameters.n_threads = UInt32(threads)
        parameters.n_threads_batch = UInt32(threads)
        guard let context = llama_init_from_model(model.pointer, parameters) else {
            throw LlamaError(code: .contextCreationFailed, detail: "reference context of \(contextSize) tokens", path: model.path)
        }
        defer { llama_free(context) }
        let vocabularySize = model.vocabularySize

        let clock = ContinuousClock()
        let promptStart = clock.now
        let promptResult = promptTokens.withUnsafeMutableBufferPointer { buffer in
            llama_decode(context, llama_batch_get_one(buffer.baseAddress, Int32(buffer.count), 0, 0))
        }
        guard promptResult == 0 else {
            throw LlamaError(code: .decodeFailed, detail: "reference prompt decode", underlyingCode: promptResult)
        }
        let decodeStart = clock.now
        var position = Int32(promptTokens.count)
        var token: LlamaToken = 0
        for _ in 0..<tokens {
            let logits = llama_get_logits_ith(context, -1)!
            var best: Int32 = 0
            for index in 1..<vocabularySize where logits[index] > logits[Int(best)] {
                best = Int32(index)
            }
            token = best
            let result = llama_decode(context, llama_batch_get_one(&token, 1, position, 0))
            guard result == 0 else {
                throw LlamaError(code: .decodeFailed, detail: "reference decode at position \(position)", underlyingCode: result)
            }
            position += 1
        }
        let end = clock.now
        return Run(
            promptTokens: promptTokens.count, generatedTokens: tokens, promptDuration: decodeStart - promptStart,
            decodeDuration: end - decodeStart)
    }
}
