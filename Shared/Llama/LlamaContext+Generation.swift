extension LlamaContext {
    /// Generates a completion of a prompt in one sequence, built on ``decode(_:)``, ``sample(batchIndex:using:)``
    /// and ``GeneratedText``.
    ///
    /// The prompt is tokenized with special tokens added and parsed (what a chat-template prompt needs).
    /// - Parameters:
    ///   - sequence: The sequence to generate in; its previous contents are removed.
    ///   - onToken: Called on this thread after each generated token with the text that became final
    ///     (possibly empty, see ``GeneratedText``), and once more without a token if text was still held
    ///     back at the end; the chunks' texts add up to the generation's text. Return `false` to stop
    ///     (finish reason ``FinishReason/cancelled``).
    /// - Throws: ``LlamaError/Code/promptTooLong`` when the prompt leaves no room in the context; decode
    ///   errors. In a context shared with other sequences, a cache that fills up mid-generation throws
    ///   ``LlamaError/Code/contextFull`` (one sequence alone ends with ``FinishReason/length`` instead).
    public func generate(
        prompt: String, parameters: GenerationParameters = GenerationParameters(), sequence: Int = 0,
        onToken: ((GenerationChunk) -> Bool)? = nil
    ) throws -> Generation {
        let start = ContinuousClock.now
        let tokens = try model.tokenize(prompt)
        return try generate(tokens: tokens, parameters: parameters, sequence: sequence, onToken: onToken, startedAt: start)
    }

    /// Generates a completion of a tokenized prompt in one sequence.
    ///
    /// - Parameters:
    ///   - cachedPrefixLength: How many leading prompt tokens the sequence already holds at positions
    ///     `0..<cachedPrefixLength` (restored with ``restoreState(_:into:)`` or shared with
    ///     ``copySequence(_:to:positions:)``); only the rest is decoded. Anything the sequence holds past
    ///     the prefix is removed. Must be less than the prompt's length (the last prompt token is always
    ///     decoded, for its logits).
    ///   - sequence: The sequence to generate in.
    ///   - onToken: See ``generate(prompt:parameters:sequence:onToken:)``.
    public func generate(
        tokens prompt: [LlamaToken], parameters: GenerationParameters = GenerationParameters(),
        sequence: Int = 0, cachedPrefixLength: Int = 0,
        onToken: ((GenerationChunk) -> Bool)? = nil
    ) throws -> Generation {
        try generate(
            tokens: prompt, parameters: parameters, sequence: sequence, cachedPrefixLength: cachedPrefixLength,
            onToken: onToken, startedAt: .now)
    }

    private func generate(
        tokens prompt: [LlamaToken], parameters: GenerationParameters, sequence: Int, cachedPrefixLength: Int = 0,
        onToken: ((GenerationChunk) -> Bool)?, startedAt start: ContinuousClock.Instant
    ) throws -> Generation {
        guard (0..<maxSequences).contains(sequence) else {
            throw LlamaError(code: .invalidArgument, detail: "sequence \(sequence) is outside 0..<\(maxSequences)")
        }
        guard !prompt.isEmpty else {
            throw LlamaError(code: .invalidArgument, detail: "the prompt is empty")
        }
        guard parameters.maxTokens >= 0 else {
            throw LlamaError(code: .invalidArgument, detail: "maxTokens \(parameters.maxTokens) is negative")
        }
        guard (0..<prompt.count).contains(cachedPrefixLength) else {
            throw LlamaError(
                code: .invalidArgument,
                detail: "cachedPrefixLength \(cachedPrefixLength) must be less than the prompt's \(prompt.count) tokens")
        }
        guard prompt.count < contextSize else {
            throw LlamaError(
                code: .promptTooLong,
                detail: "the prompt has \(prompt.count) tokens; the context holds \(contextSize) including the answer")
        }

        // MARK: Prompt
        if cachedPrefixLength == 0 {
            removeSequence(sequence)
        } else {
            guard let cached = positions(of: sequence), cached.lowerBound == 0, cached.upperBound >= cachedPrefixLength - 1
            else {
                throw LlamaError(
                    code: .invalidArgument,
                    detail: "sequence \(sequence) does not hold the \(cachedPrefixLength) cached prompt tokens it was said to")
            }
            removeTokens(of: sequence, at: cachedPrefixLength...)
        }
        let evaluationStart = ContinuousClock.now
        var position = cachedPrefixLength
        var lastIndex = 0
        while position < prompt.count {
            stepBatch.removeAll()
            let end = min(prompt.count, position + batchSize)
            for index in position..<end {
                lastIndex = stepBatch.append(
                    token: prompt[index], position: index, sequence: sequence, wantsLogits: index == prompt.count - 1)
            }
            try decode(stepBatch)
            position = end
        }
        let promptDone = ContinuousClock.now

        // MARK: Completion
        var sampler = LlamaSampler(parameters)
        var text = GeneratedText(stop: parameters.stop)
        var generated: [LlamaToken] = []
        generated.reserveCapacity(min(parameters.maxTokens, 1024))
        var firstToken: ContinuousClock.Instant?
        var finishReason = FinishReason.length
        while generated.count < parameters.maxTokens, position < contextSize {
            let token = try sample(batchIndex: lastIndex, using: &sampler)
            if firstToken == nil { firstToken = .now }
            if model.isEndOfGeneration(token), !parameters.ignoresEndOfText {
                finishReason = .endOfText
                break
            }
            generated.append(token)
            pieceBuffer.removeAll(keepingCapacity: true)
            model.appendPiece(of: token, renderSpecial: false, to: &pieceBuffer)
            let delta = text.append(pieceBuffer)
            if let onToken, !onToken(GenerationChunk(token: token, text: delta)) {
                finishReason = .cancelled
                break
            }
            if text.isStopped {
                finishReason = .stop
                break
            }
            guard generated.count < parameters.maxTokens else { break }
            stepBatch.removeAll()
            lastIndex = stepBatch.append(token: token, position: position, sequence: sequence, wantsLogits: true)
            try decode(stepBatch)
            position += 1
        }
        let rest = text.finish()
        if let onToken, !rest.isEmpty, finishReason != .cancelled {
            _ = onToken(GenerationChunk(token: nil, text: rest))
        }
        let end = ContinuousClock.now
        return Generation(
            text: text.text, tokens: generated, promptTokens: prompt.count, cachedPromptTokens: cachedPrefixLength,
            finishReason: finishReason,
            timings: GenerationTimings(
                promptEvaluation: promptDone - evaluationStart, decoding: end - promptDone,
                timeToFirstToken: (firstToken ?? end) - start))
    }
}
