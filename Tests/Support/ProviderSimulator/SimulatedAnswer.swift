/// An answer resolved from a script step, the custom responder and the model's behaviour, ready
/// to be written in any provider's shape.
struct SimulatedAnswer: Sendable, Hashable {
    /// Unique per request (hex), prefixed per provider (`chatcmpl-`, `msg_`).
    var id: String
    /// Unix time in seconds.
    var created: Int
    var model: String
    var content: String
    /// All prompt tokens, cached ones included (Anthropic reports `input_tokens` without them).
    var promptTokens: Int
    var completionTokens: Int
    var cachedTokens: Int
    /// The content was cut at `max_tokens`.
    var truncated: Bool

    /// Resolves the answer: step fields first, then the responder's reply, then the model's behaviour,
    /// then content derived from the model and the prompt; `max_tokens` caps the content's words.
    init(
        request: SimulatedChatRequest, step: ScriptStep?, reply: SimulatedReply?, behavior: ModelBehavior,
        sequence: UInt64, created: Int
    ) {
        let fullContent = step?.content ?? reply?.content ?? behavior.content
            ?? AnswerText.derivedContent(model: request.model, prompt: request.lastUserMessage)
        var content = fullContent
        var completionTokens = step?.completionTokens ?? reply?.completionTokens ?? behavior.completionTokens
            ?? AnswerText.wordCount(fullContent)
        var truncated = false
        if let maxTokens = request.maxTokens, maxTokens >= 0, completionTokens > maxTokens {
            content = AnswerText.prefix(fullContent, words: maxTokens)
            completionTokens = maxTokens
            truncated = true
        }
        let promptTokens = step?.promptTokens ?? reply?.promptTokens ?? behavior.promptTokens
            ?? request.messages.reduce(0) { $0 + AnswerText.wordCount($1.content) }
        let cachedTokens = step?.cachedTokens ?? reply?.cachedTokens ?? behavior.cachedTokens ?? 0

        self.id = String(sequence, radix: 16)
        self.created = created
        self.model = request.model
        self.content = content
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = min(cachedTokens, promptTokens)
        self.truncated = truncated
    }

    /// The content in stream-sized pieces (a word with the whitespace before it) that concatenate to it.
    var chunks: [String] { AnswerText.chunks(content) }
}

/// Word-level text helpers; words are separated by ASCII whitespace, so counts are cheap and stable.
enum AnswerText {
    /// `[<model>] <4 to 11 words>.`, the same for the same model and prompt.
    static func derivedContent(model: String, prompt: String) -> String {
        var hash = FNV1a()
        hash.add(model)
        hash.add(0)
        hash.add(prompt)
        var bits = hash.value
        let count = 4 + Int(bits % 8)
        bits /= 8
        var text = "[\(model)]"
        for _ in 0..<count {
            if bits < UInt64(vocabulary.count) { bits = hash.rehash() }
            text += " " + vocabulary[Int(bits % UInt64(vocabulary.count))]
            bits /= UInt64(vocabulary.count)
        }
        return text + "."
    }

    static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for byte in text.utf8 {
            if isSpace(byte) {
                inWord = false
            } else if !inWord {
                inWord = true
                count += 1
            }
        }
        return count
    }

    /// The first `words` words of `text`, with the whitespace between them.
    static func prefix(_ text: String, words: Int) -> String {
        guard words > 0 else { return "" }
        var count = 0
        var inWord = false
        let utf8 = text.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if isSpace(utf8[index]) {
                if inWord && count == words { return String(utf8[utf8.startIndex..<index])! }
                inWord = false
            } else if !inWord {
                inWord = true
                count += 1
            }
            index = utf8.index(after: index)
        }
        return text
    }

    /// Pieces of `text`, each a word with the whitespace before it (stream deltas look like
    /// `"Hello"`, `" world"`); they concatenate to `text`.
    static func chunks(_ text: String) -> [String] {
        var pieces: [String] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var previousWasWord = false
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let space = isSpace(utf8[index])
            if space && previousWasWord && index != start {
                pieces.append(String(utf8[start..<index])!)
                start = index
            }
            previousWasWord = !space
            index = utf8.index(after: index)
        }
        let rest = String(utf8[start..<utf8.endIndex])!
        if pieces.isEmpty || wordCount(rest) > 0 {
            pieces.append(rest)
        } else {
            pieces[pieces.count - 1] += rest  // trailing whitespace joins the last word
        }
        return pieces
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    private static let vocabulary = [
        "amber", "beacon", "cedar", "delta", "ember", "fable", "granite", "harbor",
        "island", "jasper", "kernel", "lumen", "meadow", "nectar", "orbit", "prism",
        "quartz", "river", "summit", "timber", "umbra", "velvet", "willow", "xenon",
        "yonder", "zephyr", "anchor", "bramble", "cipher", "dune", "echo", "flint",
    ]
}

/// 64-bit FNV-1a: a fixed hash (Swift's `Hasher` is seeded per process).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 { add(byte) }
    }

    mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    /// Mixes the hash once more and returns it: more bits from the same input.
    mutating func rehash() -> UInt64 {
        add(0xFF)
        return value
    }
}
