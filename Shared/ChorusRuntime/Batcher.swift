import Synchronization

/// Group commit: gathers the items of many concurrent callers into batches run together, one
/// database round trip (and one commit) for many messages instead of one each.
///
/// Batching is natural: nothing waits for a batch to fill. An item submitted while no batch is
/// running starts one at once (no added latency when the load is light); items submitted while a
/// batch runs form the next one, so batches grow exactly as fast as the load does. At most one batch
/// runs at a time, at most `maxBatch` items each.
///
/// `submit` returns the item's own result once its batch ran, or throws its error, so a consumer
/// marks its message processed only after its row is committed. When a batch of several items fails,
/// each item is run again on its own: one bad item (a constraint it breaks) fails alone, never its
/// neighbours.
public final class Batcher<Item: Sendable, Output: Sendable>: Sendable {
    /// Runs a batch; returns one output per item, in order.
    public typealias Run = @Sendable ([Item]) async throws -> [Output]

    private struct Pending {
        var item: Item
        var done: CheckedContinuation<Output, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var running = false
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let run: Run

    public init(maxBatch: Int = 500, run: @escaping Run) {
        precondition(maxBatch > 0, "maxBatch must be positive")
        self.maxBatch = maxBatch
        self.run = run
    }

    /// Runs `item` in the next batch and returns its output.
    public func submit(_ item: Item) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            let leads = state.withLock { state -> Bool in
                state.pending.append(Pending(item: item, done: continuation))
                guard !state.running else { return false }
                state.running = true
                return true
            }
            // The first caller of an idle batcher drives it until nothing is pending.
            if leads { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let count = min(state.pending.count, maxBatch)
                if count == 0 { state.running = false }
                let taken = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return taken
            }
            if batch.isEmpty { return }
            await runAndResume(batch)
        }
    }

    private func runAndResume(_ batch: [Pending]) async {
        do {
            let outputs = try await run(batch.map(\.item))
            guard outputs.count == batch.count else {
                let error = BatcherError(expected: batch.count, got: outputs.count)
                for entry in batch { entry.done.resume(throwing: error) }
                return
            }
            for (entry, output) in zip(batch, outputs) { entry.done.resume(returning: output) }
        } catch {
            guard batch.count > 1 else {
                batch[0].done.resume(throwing: error)
                return
            }
            // Alone, each item fails or succeeds on its own merits.
            for entry in batch { await runAndResume([entry]) }
        }
    }
}

/// A batch's run returned a different number of outputs than it was given items (a bug in the run).
public struct BatcherError: Error, CustomStringConvertible {
    public var expected: Int
    public var got: Int

    public var description: String { "a batch of \(expected) items returned \(got) results" }
}
