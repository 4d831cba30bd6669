import CLlama

extension LlamaModel {
    /// Splits text into tokens.
    ///
    /// - Parameters:
    ///   - addSpecial: Add the tokens the model wants around a whole input (a beginning-of-sequence token
    ///     for models with ``addsBeginningOfSequenceToken``). Use `true` for a complete prompt.
    ///   - parseSpecial: Turn the text of control tokens (`<|im_start|>`, `<start_of_turn>`) into those
    ///     tokens. Needed for prompts built by ``applyChatTemplate(_:addAssistantTurn:)``.
    /// - Important: With `parseSpecial`, text that came from a user can forge control tokens. Chat templates
    ///   need it for their own markers; tokenize untrusted text on its own with `parseSpecial: false` where
    ///   that matters.
    public func tokenize(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) throws -> [LlamaToken] {
        var text = text
        return try text.withUTF8 { utf8 -> [LlamaToken] in
            guard let length = Int32(exactly: utf8.count) else {
                throw LlamaError(code: .tokenizationFailed, detail: "text of \(utf8.count) bytes is too long to tokenize")
            }
            // A token covers at least one byte; the extra room is for the special tokens added around it.
            var capacity = utf8.count + 8
            for _ in 0..<2 {
                var needed: Int32 = 0
                let tokens = [LlamaToken](unsafeUninitializedCapacity: capacity) { buffer, count in
                    let result = utf8.withMemoryRebound(to: CChar.self) { chars in
                        llama_tokenize(
                            pointer, chars.baseAddress, length, buffer.baseAddress, Int32(capacity),
                            addSpecial, parseSpecial)
                    }
                    count = max(Int(result), 0)
                    needed = result
                }
                if needed >= 0 { return tokens }
                capacity = Int(-needed)
            }
            throw LlamaError(code: .tokenizationFailed, detail: "tokenizer gave inconsistent lengths for \(utf8.count) bytes of text")
        }
    }

    /// The bytes a token stands for.
    ///
    /// Bytes, not a `String`: one character can be split across tokens. Out-of-vocabulary IDs give no bytes.
    /// - Parameter renderSpecial: Render control tokens (`<|im_end|>`) as their text instead of nothing.
    public func piece(of token: LlamaToken, renderSpecial: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        appendPiece(of: token, renderSpecial: renderSpecial, to: &bytes)
        return bytes
    }

    /// Text for a sequence of tokens (the inverse of ``tokenize(_:addSpecial:parseSpecial:)`` up to
    /// special tokens and normalization).
    public func detokenize(_ tokens: some Sequence<LlamaToken>, renderSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for token in tokens {
            appendPiece(of: token, renderSpecial: renderSpecial, to: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether a token ends generation (end-of-sequence, end-of-turn and the like).
    public func isEndOfGeneration(_ token: LlamaToken) -> Bool {
        isInVocabulary(token) && llama_token_is_eog(pointer, token)
    }

    /// Whether a token is a control token (rendered as nothing by default).
    public func isControl(_ token: LlamaToken) -> Bool {
        isInVocabulary(token) && llama_token_is_control(pointer, token)
    }

    func isInVocabulary(_ token: LlamaToken) -> Bool {
        token >= 0 && Int(token) < vocabularySize
    }

    /// Appends a token's bytes without allocating beyond `bytes`' own growth.
    func appendPiece(of token: LlamaToken, renderSpecial: Bool, to bytes: inout [UInt8]) {
        guard isInVocabulary(token) else { return }
        // Pieces are short (a handful of bytes); the second round covers the rare long user-defined token.
        var capacity = 64
        for _ in 0..<2 {
            let written = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer -> Int32 in
                let length = llama_token_to_piece(pointer, token, buffer.baseAddress, Int32(capacity), 0, renderSpecial)
                if length > 0 {
                    buffer.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0.prefix(Int(length))) }
                }
                return length
            }
            guard written < 0 else { return }
            capacity = Int(-written)
        }
    }
}
