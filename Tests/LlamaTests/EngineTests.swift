import Synchronization
import Testing

@testable import Llama

@Suite struct StepPlanTests {
    @Test func generatingSequencesComeFirstAndPromptsShareTheRest() {
        let plan = StepPlan(generating: [2, 0], prefilling: [(slot: 1, remaining: 100), (slot: 3, remaining: 5)], batchSize: 512)
        #expect(plan.entries.map(\.slot) == [2, 0, 1])
        #expect(plan.entries.map(\.rows) == [1, 1, StepPlan.promptRowsWhileGenerating])
        #expect(plan.entries[2].completesPrompt == false)
    }

    @Test func promptsFillTheWholeBatchWhenNothingGenerates() {
        let plan = StepPlan(generating: [], prefilling: [(slot: 1, remaining: 500), (slot: 3, remaining: 40)], batchSize: 512)
        #expect(plan.entries.map(\.rows) == [500, 12])
        #expect(plan.entries.map(\.completesPrompt) == [true, false])
        #expect(plan.rowCount == 512)
    }

    @Test func apportioningAddsUpExactly() {
        let plan = StepPlan(generating: [0, 1, 2], prefilling: [(slot: 3, remaining: 7)], batchSize: 512)
        let shares = plan.apportion(1_000_003)
        #expect(shares.reduce(0, +) == 1_000_003)
        #expect(shares[3] > shares[0] * 6)
        #expect(StepPlan(generating: [], prefilling: [], batchSize: 8).apportion(10).isEmpty)
    }
}

extension RealModelTests {
    @Suite struct Engine {
        let model: LlamaModel
        let prompts: [String]

        init() throws {
            let model = try TestModels.smol()
            self.model = model
            prompts = try [
                "What is the capital of France?", "Name three colors of the rainbow.", "Write a haiku about the sea.",
                "What is 2 + 2?", "Who wrote Hamlet?", "Give me a synonym for happy.", "What is the boiling point of water?",
                "Say hello in Spanish.",
            ].map { try model.applyChatTemplate([ChatMessage(role: .user, content: $0)]) }
        }

        /// The chat template's preamble, as the host computes it.
        func preamble() throws -> [LlamaToken] {
            let rendered = try model.applyChatTemplate([ChatMessage(role: .user, content: "\u{E000}")])
            let head = String(rendered[..<rendered.range(of: "\u{E000}")!.lowerBound])
            return Array(try model.tokenize(head).dropLast())
        }

        /// One generation alone in the engine is the generation of a plain multi-sequence context (flash
        /// attention off, as in the engine), token for token, with or without the shared prefix (its cells
        /// sit where the sequence's own would).
        @Test func aloneItMatchesAPlainContext() async throws {
            let parameters = GenerationParameters(maxTokens: 24)
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 1024, maxSequences: 5))
            let expected = try context.generate(prompt: prompts[1], parameters: parameters)
            for prefix in [nil, LlamaEngine.PrefixSeed.tokens(try preamble())] {
                let engine = try await LlamaEngine(
                    model: model, slots: 4, contextParameters: LlamaContextParameters(contextSize: 1024), prefix: prefix)
                let generation = try await engine.generate(prompt: prompts[1], parameters: parameters)
                #expect(generation.tokens == expected.tokens)
                #expect(generation.text == expected.text)
                #expect(generation.cachedPromptTokens == engine.prefix.count)
                await engine.shutdown()
            }
        }

        /// Concurrent generations share decode steps (occupancy above one), every one completes, the
        /// device time of the steps is split among them exactly, and their texts agree with sequential runs
        /// (bit-exactness is not promised: see `BatchingTests.continuousBatchingStaysCloseToAlone`).
        @Test func concurrentCallsShareSteps() async throws {
            let engine = try await LlamaEngine(
                model: model, slots: 8, contextParameters: LlamaContextParameters(contextSize: 2048), prefix: .tokens(try preamble()))
            let parameters = GenerationParameters(maxTokens: 32)
            var sequential: [Generation] = []
            for prompt in prompts { sequential.append(try await engine.generate(prompt: prompt, parameters: parameters)) }
            let before = engine.statistics
            let concurrent = try await withThrowingTaskGroup(of: (Int, Generation).self) { group in
                for (index, prompt) in prompts.enumerated() {
                    group.addTask { (index, try await engine.generate(prompt: prompt, parameters: parameters)) }
                }
                var results = [Generation?](repeating: nil, count: prompts.count)
                for try await (index, generation) in group { results[index] = generation }
                return results.map { $0! }
            }
            let after = engine.statistics
            let steps = after.steps - before.steps
            let sequenceSteps = after.sequenceSteps - before.sequenceSteps
            #expect(Double(sequenceSteps) / Double(steps) > 3, "mean occupancy \(sequenceSteps)/\(steps)")
            let device = concurrent.reduce(Int64(0)) { $0 + $1.timings.deviceTime.wholeNanoseconds }
            #expect(device == after.deviceNanos - before.deviceNanos)
            var identical = 0
            for (alone, together) in zip(sequential, concurrent) {
                #expect(together.completionTokens > 0)
                #expect(together.tokens.first == alone.tokens.first, "the first token comes from the prompt alone")
                if together.tokens == alone.tokens { identical += 1 }
            }
            print("[llama] engine: \(identical)/\(prompts.count) concurrent generations identical to sequential; occupancy \(Double(sequenceSteps) / Double(steps))")
            await engine.shutdown()
        }

        /// Parking empties the cache; resuming restores the prefix from its state, and the engine answers
        /// exactly as before (the snapshot tier's round trip).
        @Test func parkedAndResumedItAnswersAsBefore() async throws {
            let engine = try await LlamaEngine(
                model: model, slots: 2, contextParameters: LlamaContextParameters(contextSize: 1024), prefix: .tokens(try preamble()))
            let parameters = GenerationParameters(maxTokens: 16)
            let before = try await engine.generate(prompt: prompts[0], parameters: parameters)
            try await engine.park()
            try await engine.resume()
            let after = try await engine.generate(prompt: prompts[0], parameters: parameters)
            #expect(after.tokens == before.tokens)
            #expect(after.cachedPromptTokens == engine.prefix.count)
            await engine.shutdown()
            await #expect(throws: LlamaError.self) { try await engine.park() }
        }

        @Test func aGenerationCancelledWhileQueuedFailsClearly() async throws {
            let engine = try await LlamaEngine(model: model, slots: 1, contextParameters: LlamaContextParameters(contextSize: 512))
            let started = Atomic(false)
            let long = Task {
                try await engine.generate(
                    prompt: prompts[2], parameters: GenerationParameters(maxTokens: 200, ignoresEndOfText: true),
                    onChunk: { _ in started.store(true, ordering: .relaxed) })
            }
            while !started.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
            let queued = Task { try await engine.generate(prompt: prompts[0], parameters: GenerationParameters(maxTokens: 8)) }
            queued.cancel()
            let error = await #expect(throws: LlamaError.self) { try await queued.value }
            #expect(error?.code == .cancelled)
            long.cancel()
            _ = try await long.value
            await engine.shutdown()
        }

        @Test func cancellationAndClosing() async throws {
            let engine = try await LlamaEngine(model: model, slots: 1, contextParameters: LlamaContextParameters(contextSize: 512))
            let started = Atomic(false)
            let long = Task {
                try await engine.generate(
                    prompt: prompts[2], parameters: GenerationParameters(maxTokens: 400, ignoresEndOfText: true),
                    onChunk: { _ in started.store(true, ordering: .relaxed) })
            }
            // Cancelled once it runs (a generation cancelled while queued fails with .cancelled instead).
            while !started.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
            let queued = Task { try await engine.generate(prompt: prompts[0], parameters: GenerationParameters(maxTokens: 8)) }
            try await Task.sleep(for: .milliseconds(50))
            long.cancel()
            let cancelled = try await long.value
            #expect(cancelled.finishReason == .cancelled)
            #expect(cancelled.completionTokens < 400)
            let next = try await queued.value
            #expect(next.completionTokens > 0)
            #expect(next.timings.queueWait > .zero)
            await engine.shutdown()
            let error = await #expect(throws: LlamaError.self) { try await engine.generate(prompt: prompts[0]) }
            #expect(error?.code == .workerClosed)
        }
    }
}
