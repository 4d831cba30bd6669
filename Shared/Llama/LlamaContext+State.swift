import CLlama

/// A snapshot of one sequence's KV cache, to restore into the same or another context of the same model.
///
/// The warm-prefix tool: decode a common prompt prefix once, save it, and restore it in front of every
/// request that starts with it (then decode only the rest of the prompt from ``nextPosition``).
public struct LlamaSequenceState: Sendable {
    /// libllama's serialized sequence state (token cells, keys, values).
    public let data: [UInt8]
    /// The position after the last cached token: where decoding continues.
    public let nextPosition: Int

    /// Size of the snapshot in bytes.
    public var byteCount: Int { data.count }

    /// Re-creates a snapshot from stored bytes (for example read back from disk).
    public init(data: [UInt8], nextPosition: Int) {
        self.data = data
        self.nextPosition = nextPosition
    }
}

extension LlamaContext {
    /// Snapshots a sequence's KV cache (`llama_state_seq_get_data`).
    ///
    /// - Throws: ``LlamaError/Code/stateFailed`` when the sequence is empty or libllama cannot serialize it.
    public func saveState(of sequence: Int) throws -> LlamaSequenceState {
        guard (0..<maxSequences).contains(sequence), let range = positions(of: sequence) else {
            throw LlamaError(code: .stateFailed, detail: "sequence \(sequence) holds no tokens to save")
        }
        let id = Int32(sequence)
        let size = llama_state_seq_get_size(pointer, id, 0)
        var written = 0
        let data = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            written = llama_state_seq_get_data(pointer, buffer.baseAddress, size, id, 0)
            count = min(written, size)
        }
        guard written > 0, written == size else {
            throw LlamaError(code: .stateFailed, detail: "libllama wrote \(written) of \(size) bytes of sequence \(sequence)'s state")
        }
        return LlamaSequenceState(data: data, nextPosition: range.upperBound + 1)
    }

    /// Replaces a sequence's KV cache with a snapshot (`llama_state_seq_set_data`).
    ///
    /// The next decode for this sequence must start at ``LlamaSequenceState/nextPosition`` and include at
    /// least one token: a snapshot holds no logits.
    /// - Throws: ``LlamaError/Code/stateFailed`` when the snapshot does not fit this context (another
    ///   model, too small a cache) or is damaged.
    public func restoreState(_ state: LlamaSequenceState, into sequence: Int) throws {
        guard (0..<maxSequences).contains(sequence) else {
            throw LlamaError(code: .invalidArgument, detail: "sequence \(sequence) is outside 0..<\(maxSequences)")
        }
        removeSequence(sequence)
        let (read, reason) = LlamaLogRouter.shared.capturingErrors {
            state.data.withUnsafeBufferPointer { buffer in
                llama_state_seq_set_data(pointer, buffer.baseAddress, buffer.count, Int32(sequence), 0)
            }
        }
        guard read > 0 else {
            removeSequence(sequence)
            throw LlamaError(
                code: .stateFailed,
                detail: "libllama could not restore a \(state.byteCount)-byte state into sequence \(sequence): \(reason.isEmpty ? "no reason given" : reason)")
        }
    }
}
