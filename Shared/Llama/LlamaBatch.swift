/// Tokens to feed to ``LlamaContext/decode(_:)`` in one step, from one or several sequences.
///
/// Each entry places one token at a position of one sequence and says whether its logits are wanted
/// (usually only for a sequence's last token). Keep one batch and ``removeAll()`` between steps: the
/// storage is reused, so a decode loop does not allocate.
public struct LlamaBatch: Sendable {
    var tokens: [LlamaToken] = []
    var positions: [Int32] = []
    var sequences: [Int32] = []
    var logits: [Bool] = []

    /// Creates an empty batch with room for `capacity` entries.
    public init(capacity: Int = 512) {
        tokens.reserveCapacity(capacity)
        positions.reserveCapacity(capacity)
        sequences.reserveCapacity(capacity)
        logits.reserveCapacity(capacity)
    }

    /// Number of entries.
    public var count: Int { tokens.count }

    /// Whether the batch has no entries.
    public var isEmpty: Bool { tokens.isEmpty }

    /// Adds a token at `position` of `sequence`.
    ///
    /// - Parameter wantsLogits: Keep the logits computed for this token, to sample the next one with
    ///   ``LlamaContext/sample(batchIndex:using:)``.
    /// - Returns: The entry's index in the batch (the `batchIndex` to sample at).
    @discardableResult
    public mutating func append(token: LlamaToken, position: Int, sequence: Int, wantsLogits: Bool) -> Int {
        tokens.append(token)
        // Out-of-range values become -1, which decode rejects with a clear error.
        positions.append(Int32(exactly: position) ?? -1)
        sequences.append(Int32(exactly: sequence) ?? -1)
        logits.append(wantsLogits)
        return tokens.count - 1
    }

    /// Removes all entries, keeping the storage.
    public mutating func removeAll() {
        tokens.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        sequences.removeAll(keepingCapacity: true)
        logits.removeAll(keepingCapacity: true)
    }
}
