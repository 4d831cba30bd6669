import Foundation
import Testing

@testable import Llama

@Suite struct SamplerTests {
    private func sample(_ sampler: inout LlamaSampler, _ logits: [Float]) -> LlamaToken {
        logits.withUnsafeBufferPointer { sampler.sample($0) }
    }

    @Test func greedyTakesTheMaximumAndTheLowestOnTies() {
        var sampler = LlamaSampler()
        #expect(sampler.isGreedy)
        #expect(sample(&sampler, [0.1, 3, -2, 2.9]) == 1)
        #expect(sample(&sampler, [5, 1, 5]) == 0)
        #expect(sample(&sampler, [-.infinity, .nan, -1]) == 2)
    }

    @Test func topKOfOneAndTinyTopPAreGreedy() {
        let logits: [Float] = (0..<1000).map { Float(($0 * 7919) % 1000) / 100 }
        let best = LlamaSampler.argmax(logits.withUnsafeBufferPointer { $0 })
        var topK = LlamaSampler(temperature: 1, topK: 1, seed: 1)
        var topP = LlamaSampler(temperature: 1, topP: 0, seed: 1)
        var topKTopP = LlamaSampler(temperature: 1, topK: 40, topP: 0, seed: 1)
        for _ in 0..<50 {
            #expect(sample(&topK, logits) == best)
            #expect(sample(&topP, logits) == best)
            #expect(sample(&topKTopP, logits) == best)
        }
    }

    @Test func sameSeedSameDraws() {
        let logits: [Float] = (0..<5000).map { Float($0 % 97) / 10 }
        for (topK, topP) in [(0, Float(1)), (0, 0.9), (50, 1), (50, 0.8)] {
            var first = LlamaSampler(temperature: 0.9, topK: topK, topP: topP, seed: 7)
            var second = LlamaSampler(temperature: 0.9, topK: topK, topP: topP, seed: 7)
            let a = (0..<100).map { _ in sample(&first, logits) }
            let b = (0..<100).map { _ in sample(&second, logits) }
            #expect(a == b)
            #expect(Set(a).count > 1, "temperature sampling varies")
        }
    }

    @Test func drawsStayInsideTopKAndNucleus() {
        // Token i has logit i/10 over 300 tokens: the top 5 are 295...299.
        let logits: [Float] = (0..<300).map { Float($0) / 10 }
        var topK = LlamaSampler(temperature: 1, topK: 5, seed: 3)
        for _ in 0..<200 {
            #expect((295...299).contains(sample(&topK, logits)))
        }
        // Two heavy tokens hold ~all the mass: top-p 0.9 never leaves them.
        var peaked = [Float](repeating: 0, count: 1000)
        peaked[10] = 20
        peaked[20] = 20
        var nucleus = LlamaSampler(temperature: 1, topP: 0.9, seed: 3)
        let draws = (0..<200).map { _ in sample(&nucleus, peaked) }
        #expect(Set(draws) == [10, 20])
    }

    @Test func frequenciesFollowTheSoftmax() {
        // logits ln(1), ln(3): probabilities 1/4, 3/4.
        let logits: [Float] = [0, log(3)]
        var sampler = LlamaSampler(temperature: 1, seed: 11)
        let ones = (0..<4000).filter { _ in sample(&sampler, logits) == 1 }.count
        #expect((2700...3300).contains(ones))
    }
}

@Suite struct GeneratedTextTests {
    private func feed(_ pieces: [String], stop: [String]) -> (text: GeneratedText, deltas: [String]) {
        var text = GeneratedText(stop: stop)
        var deltas: [String] = []
        for piece in pieces {
            deltas.append(text.append(Array(piece.utf8)))
            if text.isStopped { break }
        }
        deltas.append(text.finish())
        return (text, deltas)
    }

    @Test func stopStringAcrossPieces() {
        let (text, deltas) = feed(["Hello", " wo", "rld", "END", "more"], stop: ["world"])
        #expect(text.isStopped)
        #expect(text.text == "Hello ")
        #expect(deltas.joined() == "Hello ")
        #expect(!deltas.joined().contains("wo"))
    }

    @Test func heldBackPrefixIsReleasedWhenItDoesNotComplete() {
        let (text, deltas) = feed(["The ans", "w", "er is 42"], stop: ["answer!"])
        #expect(!text.isStopped)
        #expect(text.text == "The answer is 42")
        #expect(deltas[0] == "The ")
        #expect(deltas.joined() == "The answer is 42")
    }

    @Test func earliestOfSeveralStops() {
        let (text, _) = feed(["a b c d"], stop: ["c", "b"])
        #expect(text.text == "a ")
    }

    @Test func stopAtTheVeryStart() {
        let (text, deltas) = feed(["\n", "x"], stop: ["\n"])
        #expect(text.text == "")
        #expect(deltas.joined() == "")
    }

    @Test func splitCharactersAreHeldBack() {
        var text = GeneratedText()
        let bytes = Array("é東".utf8)  // 2 + 3 bytes
        #expect(text.append(bytes[0..<1]) == "")
        #expect(text.append(bytes[1..<3]) == "é")
        #expect(text.append(bytes[3..<5]) == "東")
        #expect(text.finish() == "")
        #expect(text.text == "é東")
    }

    @Test func incompleteTailIsRepairedAtFinish() {
        var text = GeneratedText()
        let bytes = Array("ok東".utf8)
        #expect(text.append(bytes.dropLast()) == "ok")
        #expect(text.finish() == "\u{FFFD}")
        #expect(text.text == "ok\u{FFFD}")
    }
}

@Suite struct WorkerQueueTests {
    @Test func runsInOrderThenWaitsThenExits() {
        var queue = WorkerQueue<Int>()
        guard case .wait = queue.next() else { Issue.record("empty queue should wait"); return }
        for job in 1...3 {
            guard case .wakeWorker = queue.enqueue(job) else { Issue.record("open queue should accept"); return }
        }
        #expect(queue.pendingCount == 3)
        guard case .run(1) = queue.next() else { Issue.record("first in, first out"); return }
        let abandoned = queue.close()
        #expect(abandoned == [2, 3])
        #expect(queue.close().isEmpty, "closing twice abandons nothing more")
        guard case .reject(4) = queue.enqueue(4) else { Issue.record("closed queue should reject"); return }
        guard case .exit = queue.next() else { Issue.record("closed, drained queue should exit"); return }
    }

    @Test func manyJobsKeepOrder() {
        var queue = WorkerQueue<Int>()
        var taken: [Int] = []
        for job in 0..<500 {
            _ = queue.enqueue(job)
            if job % 3 == 0, case .run(let next) = queue.next() { taken.append(next) }
        }
        while case .run(let next) = queue.next() { taken.append(next) }
        #expect(taken == Array(0..<500))
    }
}
