import Synchronization
import Testing

@testable import Llama

extension RealModelTests {
    @Suite struct Worker {
        @Test func generatesOffThePoolAndStreams() async throws {
            let model = try TestModels.smol()
            let worker = try await LlamaWorker(model: model, contextParameters: LlamaContextParameters(contextSize: 512))
            let prompt = try TestModels.smolCapitalPrompt(model)
            let streamed = Mutex("")
            let generation = try await worker.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 32)) { chunk in
                streamed.withLock { $0 += chunk.text }
            }
            #expect(generation.text.contains("Paris"))
            #expect(streamed.withLock { $0 } == generation.text)

            // Concurrent callers are served one after another on the worker thread.
            async let first = worker.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 12))
            async let second = worker.run { context in try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 12)) }
            let (a, b) = try await (first, second)
            #expect(a.tokens == b.tokens)
            #expect(a.tokens == Array(generation.tokens.prefix(a.tokens.count)))

            await worker.shutdown()
            let closed = await #expect(throws: LlamaError.self) { try await worker.generate(prompt: prompt) }
            #expect(closed?.code == .workerClosed)
        }

        @Test func cancellationStopsAtTheNextToken() async throws {
            let model = try TestModels.smol()
            let worker = try await LlamaWorker(model: model, contextParameters: LlamaContextParameters(contextSize: 1024))
            let prompt = try model.applyChatTemplate([ChatMessage(role: .user, content: "Count from 1 to 300, one number per line.")])
            let (chunks, chunkStream) = AsyncStream.makeStream(of: GenerationChunk.self)
            let task = Task {
                try await worker.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 400)) { chunk in
                    chunkStream.yield(chunk)
                }
            }
            for await _ in chunks { break }
            task.cancel()
            let generation = try await task.value
            #expect(generation.finishReason == .cancelled)
            #expect(generation.completionTokens < 400)
            await worker.shutdown()
        }

        @Test func contextCreationErrorsReachTheCaller() async throws {
            let model = try TestModels.smol()
            await #expect(throws: LlamaError.self) {
                _ = try await LlamaWorker(model: model, contextParameters: LlamaContextParameters(maxSequences: 0))
            }
        }
    }

    @Suite struct Reference {
        @Test func plainLoopDecodesTheAskedTokens() throws {
            let model = try TestModels.smol()
            let prompt = try model.applyChatTemplate([
                ChatMessage(role: .user, content: "Tell me a long story about a dragon who learns to cook.")
            ])
            let run = try LlamaReference.singleStream(model: model, prompt: prompt, tokens: 64, threads: 2)
            #expect(run.generatedTokens == 64)
            #expect(run.promptTokens == (try model.tokenize(prompt)).count)
            #expect(run.decodeDuration > .zero)
            print("[llama] reference single stream (smollm2-135m, 2 threads): \(Int(run.tokensPerSecond)) tok/s, prompt \(run.promptDuration.milliseconds) ms")

            // The same decode through LlamaContext.generate, for comparison (informational).
            let context = try LlamaContext(model: model, parameters: LlamaContextParameters(contextSize: 2048))
            let generation = try context.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 64))
            let seconds = generation.timings.decoding.milliseconds / 1000
            print("[llama] LlamaContext.generate single stream: \(Int(Double(generation.completionTokens) / seconds)) tok/s over \(generation.completionTokens) tokens")
        }
    }
}
