import Testing

@testable import Llama

extension RealModelTests {
    /// Prefix caching: a shared system prompt decoded once, then reused by copy or by snapshot.
    @Suite struct SequenceState {
        let model: LlamaModel
        let prefix: [LlamaToken]
        let prompt: [LlamaToken]
        let parameters = GenerationParameters(maxTokens: 24)

        init() throws {
            model = try TestModels.smol()
            let system = ChatMessage(role: .system, content: "You are a concise geography assistant. Answer in one sentence.")
            let full = try model.applyChatTemplate([system, ChatMessage(role: .user, content: "What is the capital of France?")])
            let head = try model.applyChatTemplate([system], addAssistantTurn: false)
            prompt = try model.tokenize(full)
            prefix = try model.tokenize(head)
        }

        @Test func restoredPrefixGeneratesLikeScratch() throws {
            try #require(Array(prompt.prefix(prefix.count)) == prefix, "the system turn tokenizes the same alone")
            let contextParameters = LlamaContextParameters(contextSize: 512, maxSequences: 2)
            let context = try LlamaContext(model: model, parameters: contextParameters)
            let scratch = try context.generate(tokens: prompt, parameters: parameters)

            // Decode the prefix once and snapshot it.
            var batch = LlamaBatch()
            for (position, token) in prefix.enumerated() {
                batch.append(token: token, position: position, sequence: 0, wantsLogits: false)
            }
            context.removeAllSequences()
            try context.decode(batch)
            let state = try context.saveState(of: 0)
            #expect(state.nextPosition == prefix.count)
            #expect(state.byteCount > 0)
            print("[llama] sequence state of \(prefix.count) tokens: \(state.byteCount) bytes")

            // Restore into another sequence of the same context...
            context.removeAllSequences()
            try context.restoreState(state, into: 1)
            #expect(context.positions(of: 1) == 0...(prefix.count - 1))
            let restored = try context.generate(
                tokens: prompt, parameters: parameters, sequence: 1, cachedPrefixLength: prefix.count)
            #expect(restored.tokens == scratch.tokens)
            #expect(restored.cachedPromptTokens == prefix.count)
            #expect(restored.promptTokens == prompt.count)

            // ...and into a fresh context (a warm snapshot kept across contexts).
            let other = try LlamaContext(model: model, parameters: contextParameters)
            try other.restoreState(state, into: 0)
            let elsewhere = try other.generate(tokens: prompt, parameters: parameters, cachedPrefixLength: prefix.count)
            #expect(elsewhere.tokens == scratch.tokens)
            print("[llama] from scratch: \(scratch.text.debugDescription)")
        }

        @Test func copiedPrefixGeneratesLikeScratch() throws {
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512, maxSequences: 3))
            let scratch = try context.generate(tokens: prompt, parameters: parameters)
            context.removeAllSequences()
            var batch = LlamaBatch()
            for (position, token) in prefix.enumerated() {
                batch.append(token: token, position: position, sequence: 2, wantsLogits: false)
            }
            try context.decode(batch)
            let cellsForPrefix = context.usedCells
            try context.copySequence(2, to: 0)
            try context.copySequence(2, to: 1)
            #expect(context.usedCells == cellsForPrefix, "copies share cells")
            let first = try context.generate(tokens: prompt, parameters: parameters, sequence: 0, cachedPrefixLength: prefix.count)
            let second = try context.generate(tokens: prompt, parameters: parameters, sequence: 1, cachedPrefixLength: prefix.count)
            #expect(first.tokens == scratch.tokens)
            #expect(second.tokens == scratch.tokens)
            #expect(context.positions(of: 2) == 0...(prefix.count - 1), "the cached prefix is untouched")
        }

        @Test func stateErrors() throws {
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 256, maxSequences: 2))
            let empty = try #require(throws: LlamaError.self) { try context.saveState(of: 0) }
            #expect(empty.code == .stateFailed)
            let damaged = LlamaSequenceState(data: [1, 2, 3, 4], nextPosition: 1)
            let error = try #require(throws: LlamaError.self) { try context.restoreState(damaged, into: 0) }
            #expect(error.code == .stateFailed)
            #expect(context.positions(of: 0) == nil)
            let claimed = try #require(throws: LlamaError.self) {
                try context.generate(tokens: prompt, parameters: parameters, cachedPrefixLength: prefix.count)
            }
            #expect(claimed.code == .invalidArgument)
        }
    }
}
