import Foundation

/// Chooses the next token from a row of logits: greedy, or temperature with top-k and top-p, from a
/// seeded random generator.
///
/// One sampler per generation (it owns that generation's random stream, so sequences sharing a batch
/// do not disturb each other's draws). Scratch storage is kept between calls, so sampling does not
/// allocate once warm.
///
/// Order of operations, as in Hugging Face `generate`: temperature, then top-k, then top-p over the
/// tempered probabilities, then a draw. Temperature 0 is greedy (ties go to the lowest token ID) and
/// ignores top-k, top-p and the seed.
public struct LlamaSampler: Sendable {
    /// Softmax temperature; 0 (or less) means greedy.
    public let temperature: Float
    /// Keep only the `topK` most likely tokens; 0 keeps all.
    public let topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP`; 1 keeps all.
    public let topP: Float

    private var random: Xoshiro256StarStar
    private var weights: [Float] = []
    private var candidates: [Candidate] = []

    private struct Candidate {
        var token: Int32
        var value: Float
    }

    /// Creates a sampler.
    ///
    /// - Parameter seed: Seeds the random draws, so that the same seed, logits and parameters give the
    ///   same tokens; `nil` draws a seed from the system.
    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64? = nil) {
        self.temperature = temperature.isFinite ? temperature : 0
        self.topK = max(0, topK)
        self.topP = topP.isNaN ? 1 : min(max(topP, 0), 1)
        var system = SystemRandomNumberGenerator()
        self.random = Xoshiro256StarStar(seed: seed ?? system.next())
    }

    /// Creates a sampler from generation parameters.
    public init(_ parameters: GenerationParameters) {
        self.init(temperature: parameters.temperature, topK: parameters.topK, topP: parameters.topP, seed: parameters.seed)
    }

    /// Whether this sampler always takes the most likely token.
    public var isGreedy: Bool { temperature <= 0 }

    /// Picks a token from one row of logits (one value per vocabulary entry).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> LlamaToken {
        guard !logits.isEmpty else { return 0 }
        if isGreedy || topK == 1 {
            return Self.argmax(logits)
        }
        if topK > 0, topK < logits.count {
            return sampleTopK(logits)
        }
        return sampleAll(logits)
    }

    // MARK: - Strategies

    static func argmax(_ logits: UnsafeBufferPointer<Float>) -> LlamaToken {
        var best = 0
        var bestValue = -Float.infinity
        for index in logits.indices where logits[index] > bestValue {
            best = index
            bestValue = logits[index]
        }
        return LlamaToken(best)
    }

    /// Top-k by a bounded min-heap (O(n log k)), then top-p and a draw among the k.
    private mutating func sampleTopK(_ logits: UnsafeBufferPointer<Float>) -> LlamaToken {
        let k = topK
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(k)
        for index in logits.indices {
            let value = logits[index]
            guard !value.isNaN else { continue }
            if candidates.count < k {
                candidates.append(Candidate(token: Int32(index), value: value))
                Self.siftUp(&candidates, from: candidates.count - 1)
            } else if value > candidates[0].value {
                candidates[0] = Candidate(token: Int32(index), value: value)
                Self.siftDown(&candidates, from: 0)
            }
        }
        guard !candidates.isEmpty else { return Self.argmax(logits) }
        candidates.sort { $0.value != $1.value ? $0.value > $1.value : $0.token < $1.token }
        let maximum = candidates[0].value
        var total: Double = 0
        for index in candidates.indices {
            let weight = expf((candidates[index].value - maximum) / temperature)
            candidates[index].value = weight
            total += Double(weight)
        }
        return drawFromSorted(total: total)
    }

    /// Softmax over the whole vocabulary; top-p without sorting it all.
    private mutating func sampleAll(_ logits: UnsafeBufferPointer<Float>) -> LlamaToken {
        var maximum = -Float.infinity
        for value in logits where value > maximum {
            maximum = value
        }
        guard maximum.isFinite else { return Self.argmax(logits) }
        if weights.count != logits.count {
            weights = [Float](repeating: 0, count: logits.count)
        }
        let temperature = self.temperature
        let total = weights.withUnsafeMutableBufferPointer { weights -> Double in
            var total: Double = 0
            for index in logits.indices {
                let value = logits[index]
                let weight = value.isNaN ? 0 : expf((value - maximum) / temperature)
                weights[index] = weight
                total += Double(weight)
            }
            return total
        }
        if topP >= 1 {
            var target = Double(random.nextUnitInterval()) * total
            for index in weights.indices {
                target -= Double(weights[index])
                if target < 0 { return LlamaToken(index) }
            }
            return Self.argmax(logits)
        }
        // Tokens lighter than (1 - p) / n of the mass cannot be in the nucleus: together they weigh less
        // than 1 - p, so the heavier ones alone reach p. Only those need sorting; usually a handful.
        let threshold = Float((1 - Double(topP)) / Double(weights.count) * total)
        candidates.removeAll(keepingCapacity: true)
        for index in weights.indices where weights[index] >= threshold && weights[index] > 0 {
            candidates.append(Candidate(token: Int32(index), value: weights[index]))
        }
        candidates.sort { $0.value != $1.value ? $0.value > $1.value : $0.token < $1.token }
        return drawFromSorted(total: total)
    }

    /// Cuts the descending `candidates` (weights in `value`) to the top-p nucleus and draws from it.
    private mutating func drawFromSorted(total: Double) -> LlamaToken {
        var kept = candidates.count
        var keptMass: Double = 0
        if topP < 1 {
            let goal = Double(topP) * total
            for index in candidates.indices {
                keptMass += Double(candidates[index].value)
                if keptMass >= goal {
                    kept = index + 1
                    break
                }
            }
            if kept == candidates.count {
                keptMass = candidates.reduce(0) { $0 + Double($1.value) }
            }
        } else {
            keptMass = candidates.reduce(0) { $0 + Double($1.value) }
        }
        var target = Double(random.nextUnitInterval()) * keptMass
        for index in 0..<kept {
            target -= Double(candidates[index].value)
            if target < 0 { return candidates[index].token }
        }
        return candidates[kept - 1].token
    }

    // MARK: - Min-heap on value

    private static func siftUp(_ heap: inout [Candidate], from start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.lighter(heap[child], than: heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func siftDown(_ heap: inout [Candidate], from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, Self.lighter(heap[left], than: heap[smallest]) { smallest = left }
            if right < heap.count, Self.lighter(heap[right], than: heap[smallest]) { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    /// Heap order: lower value first; among equals the higher token ID goes first (is evicted first),
    /// so that ties keep the lowest IDs like the greedy path.
    private static func lighter(_ a: Candidate, than b: Candidate) -> Bool {
        a.value != b.value ? a.value < b.value : a.token > b.token
    }
}

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: small, fast, and the same on every
/// platform, unlike `SystemRandomNumberGenerator`.
struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// A uniform value in [0, 1) with 53 random bits.
    mutating func nextUnitInterval() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
