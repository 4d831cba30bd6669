import Testing

@testable import Llama

extension RealModelTests {
    @Suite struct Generating {
        @Test func smolAnswersWithItsChatTemplate() throws {
            let model = try TestModels.smol()
            let prompt = try TestModels.smolCapitalPrompt(model)
            #expect(prompt.contains("<|im_start|>assistant"))
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            let generation = try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 32))
            print("[llama] smollm2 answer: \(generation.text.debugDescription) (\(generation.finishReason))")
            #expect(generation.text.contains("Paris"))
            #expect(generation.finishReason == .endOfText)
            let decodeRate = Double(generation.completionTokens) / (generation.timings.decoding.milliseconds / 1000)
            print(
                "[llama] smollm2 generate: \(generation.promptTokens) prompt tokens in \(generation.timings.promptEvaluation.milliseconds) ms, "
                    + "\(generation.completionTokens) tokens in \(generation.timings.decoding.milliseconds) ms (\(Int(decodeRate)) tok/s), "
                    + "TTFT \(generation.timings.timeToFirstToken.milliseconds) ms")
        }

        @Test func gemmaBaseAnswersFewShot() throws {
            let model = try TestModels.gemma()
            let error = try #require(throws: LlamaError.self) {
                try model.applyChatTemplate([ChatMessage(role: .user, content: "Hi")])
            }
            #expect(error.code == .noChatTemplate)

            let prompt = """
                Q: What is the capital of Italy?
                A: Rome
                Q: What is the capital of Japan?
                A: Tokyo
                Q: What is the capital of France?
                A:
                """
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            let generation = try context.generate(
                prompt: prompt, parameters: GenerationParameters(maxTokens: 16, stop: ["\n"]))
            print("[llama] gemma3 answer: \(generation.text.debugDescription) (\(generation.finishReason))")
            #expect(generation.text.contains("Paris"))
            #expect(!generation.text.contains("\n"))
        }

        @Test func greedyIsDeterministicAndCountsAddUp() throws {
            let model = try TestModels.smol()
            let prompt = try model.applyChatTemplate([
                ChatMessage(role: .system, content: "You are a storyteller."),
                ChatMessage(role: .user, content: "Tell me a long story about a dragon who learns to cook."),
            ])
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            let parameters = GenerationParameters(maxTokens: 20)
            let first = try context.generate(prompt: prompt, parameters: parameters)
            let second = try context.generate(prompt: prompt, parameters: parameters)
            #expect(first.text == second.text)
            #expect(first.tokens == second.tokens)
            #expect(first.promptTokens == (try model.tokenize(prompt)).count)
            #expect(first.cachedPromptTokens == 0)
            #expect(first.completionTokens == 20)
            #expect(first.completionTokens == first.tokens.count)
            #expect(first.finishReason == .length)
            #expect(first.text == model.detokenize(first.tokens))
        }

        @Test func seededSamplingIsReproducible() throws {
            let model = try TestModels.smol()
            let prompt = try TestModels.smolCapitalPrompt(model)
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            let parameters = GenerationParameters(maxTokens: 24, temperature: 1.2, topP: 0.95, topK: 50, seed: 42)
            let first = try context.generate(prompt: prompt, parameters: parameters)
            let second = try context.generate(prompt: prompt, parameters: parameters)
            #expect(first.tokens == second.tokens)
            #expect(first.completionTokens <= 24)
        }

        @Test func stopStringEndsGenerationWithoutIt() throws {
            let model = try TestModels.smol()
            let prompt = try TestModels.smolCapitalPrompt(model)
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            let full = try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 32))
            try #require(full.text.contains(" Paris"))

            var streamed = ""
            let stopped = try context.generate(
                prompt: prompt, parameters: GenerationParameters(maxTokens: 32, stop: [" Paris", "never appears"])
            ) { chunk in
                streamed += chunk.text
                return true
            }
            #expect(stopped.finishReason == .stop)
            #expect(!stopped.text.contains("Paris"))
            #expect(full.text.hasPrefix(stopped.text))
            #expect(stopped.text + " Paris" == String(full.text.prefix(stopped.text.count + 6)))
            #expect(streamed == stopped.text)
            #expect(stopped.completionTokens < full.completionTokens)
        }

        @Test func streamedChunksAddUpToTheText() throws {
            let model = try TestModels.smol()
            let prompt = try TestModels.smolCapitalPrompt(model)
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            var chunks: [GenerationChunk] = []
            let generation = try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 32)) {
                chunks.append($0)
                return true
            }
            #expect(chunks.map(\.text).joined() == generation.text)
            #expect(chunks.compactMap(\.token) == generation.tokens)
        }

        @Test func callbackCanCancel() throws {
            let model = try TestModels.smol()
            let prompt = try TestModels.smolCapitalPrompt(model)
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 512))
            var calls = 0
            let generation = try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 32)) { _ in
                calls += 1
                return calls < 3
            }
            #expect(generation.finishReason == .cancelled)
            #expect(generation.completionTokens == 3)
        }

        @Test func promptTooLong() throws {
            let model = try TestModels.smol()
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 64))
            // libllama rounds the context up (to 256 with flash attention): fill what it really has.
            let prompt = String(repeating: "word ", count: context.contextSize + 10)
            let error = try #require(throws: LlamaError.self) { try context.generate(prompt: prompt) }
            #expect(error.code == .promptTooLong)
            #expect(!error.description.contains("word"))
        }

        @Test func contextEndEndsGenerationWithLength() throws {
            let model = try TestModels.smol()
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 64))
            let prompt = try model.applyChatTemplate([ChatMessage(role: .user, content: "Write a long essay about rivers.")])
            let promptTokens = try model.tokenize(prompt).count
            let generation = try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 500))
            #expect(generation.finishReason == .length)
            #expect(promptTokens + generation.completionTokens <= context.contextSize)
        }
    }

    @Suite struct Vocabulary {
        @Test func tokenizeRoundTrips() throws {
            let model = try TestModels.smol()
            let text = "Hello, world! Ünïcödé ✓ 東京"
            let tokens = try model.tokenize(text, addSpecial: false, parseSpecial: false)
            #expect(!tokens.isEmpty)
            #expect(model.detokenize(tokens) == text)
        }

        @Test func specialTokens() throws {
            let smol = try TestModels.smol()
            let parsed = try smol.tokenize("<|im_start|>user", addSpecial: false, parseSpecial: true)
            let plain = try smol.tokenize("<|im_start|>user", addSpecial: false, parseSpecial: false)
            #expect(parsed.count < plain.count)
            #expect(smol.isControl(parsed[0]))
            #expect(smol.piece(of: parsed[0]).isEmpty)
            #expect(String(decoding: smol.piece(of: parsed[0], renderSpecial: true), as: UTF8.self) == "<|im_start|>")
            let endOfSequence = try #require(smol.endOfSequenceToken)
            #expect(smol.isEndOfGeneration(endOfSequence))
            #expect(!smol.isEndOfGeneration(plain[0]))
            #expect(!smol.isEndOfGeneration(-5))
            #expect(smol.piece(of: LlamaToken(smol.vocabularySize)).isEmpty)

            let gemma = try TestModels.gemma()
            let withBOS = try gemma.tokenize("Hello")
            #expect(withBOS.first == gemma.beginningOfSequenceToken)
            #expect(try gemma.tokenize("Hello", addSpecial: false).first != gemma.beginningOfSequenceToken)
        }
    }
}
