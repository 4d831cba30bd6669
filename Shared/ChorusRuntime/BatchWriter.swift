import ServiceLifecycle
import Synchronization

/// Gathers items from many concurrent callers into batches written together: one transaction for
/// hundreds of rows instead of one each.
///
/// A caller's `submit` returns once the batch holding its item is written (or throws that batch's
/// error), so a consumer can mark its message processed only after its row is committed. A batch is
/// written when it is full or `linger` after its first item, whichever comes first; items arriving
/// while a batch is being written form the next one.
public final class BatchWriter<Item: Sendable>: Service, Sendable {
    public typealias Write = @Sendable ([Item]) async throws -> Void

    private struct State {
        var pending: [(item: Item, done: CheckedContinuation<Void, any Error>)] = []
        var closed = false
    }

    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let maxBatch: Int
    private let linger: Duration
    private let write: Write

    public init(maxBatch: Int = 500, linger: Duration = .milliseconds(2), write: @escaping Write) {
        self.maxBatch = maxBatch
        self.linger = linger
        self.write = write
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `item` and waits until it is written.
    public func submit(_ item: Item) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.pending.append((item, continuation))
                return true
            }
            if accepted { wake.yield() } else { continuation.resume(throwing: CancellationError()) }
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                await drain()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.closed = true }
            self.wake.finish()
        }
        await drain()
    }

    private func drain() async {
        while true {
            let full = state.withLock { $0.pending.count >= maxBatch }
            if !full { try? await Task.sleep(for: linger) }
            let batch = state.withLock { state -> [(item: Item, done: CheckedContinuation<Void, any Error>)] in
                let count = min(state.pending.count, maxBatch)
                let taken = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return taken
            }
            if batch.isEmpty { return }
            do {
                try await write(batch.map(\.item))
                for entry in batch { entry.done.resume() }
            } catch {
                for entry in batch { entry.done.resume(throwing: error) }
            }
        }
    }
}
