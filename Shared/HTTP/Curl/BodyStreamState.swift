/// The buffer between curl's write callback (producer, loop thread) and one body consumer (any task),
/// with back-pressure: past `highWater` buffered bytes the producer is told to pause the transfer, and
/// once the consumer drains to `lowWater` it is told to resume it.
///
/// A value type behind the storage's lock; every method returns what to do, done outside the lock.
/// Generic over the waiter so tests need no continuations.
struct BodyStreamState<Waiter> {
    enum Termination {
        case finished
        case failed(any Error)
        /// The consumer cancelled or went away; the transfer is being cancelled.
        case cancelled
    }

    private var chunks: [[UInt8]] = []
    private var readIndex = 0
    private(set) var bufferedBytes = 0
    private(set) var isPaused = false
    private(set) var termination: Termination?
    private var waiter: Waiter?
    let highWater: Int
    let lowWater: Int

    init(highWater: Int) {
        self.highWater = max(highWater, 1)
        self.lowWater = self.highWater / 4
    }

    // MARK: - Producer (loop thread)

    enum ReceiveAction {
        /// The consumer was waiting: hand it the chunk directly.
        case resume(Waiter, [UInt8])
        /// Kept in the buffer.
        case buffered
        /// The buffer is full: pause the transfer; the bytes were NOT taken (curl hands them again on resume).
        case pause
        /// No one will read: abort the transfer.
        case abort
    }

    mutating func receive(_ chunk: [UInt8]) -> ReceiveAction {
        guard termination == nil else { return .abort }
        if let waiter {
            self.waiter = nil
            return .resume(waiter, chunk)
        }
        if bufferedBytes >= highWater {
            isPaused = true
            return .pause
        }
        chunks.append(chunk)
        bufferedBytes += chunk.count
        return .buffered
    }

    enum FinishAction {
        case none
        /// Resume the waiting consumer with the end (nil error) or the failure.
        case resume(Waiter, (any Error)?)
    }

    /// The transfer ended: cleanly (`error == nil`) or cut short. Buffered chunks stay readable first.
    mutating func finish(error: (any Error)?) -> FinishAction {
        guard termination == nil else { return .none }
        termination = error.map { .failed($0) } ?? .finished
        guard let waiter else { return .none }
        self.waiter = nil
        return .resume(waiter, error)
    }

    // MARK: - Consumer

    enum NextAction {
        case chunk([UInt8])
        /// A chunk, and the buffer drained enough: resume the paused transfer.
        case chunkAndResumeTransfer([UInt8])
        case end
        case fail(any Error)
        case cancelled
        /// Nothing yet: install a waiter.
        case wait
        /// Another consumer is already waiting.
        case busy
    }

    mutating func next() -> NextAction {
        if readIndex < chunks.count {
            let chunk = chunks[readIndex]
            chunks[readIndex] = []
            readIndex += 1
            bufferedBytes -= chunk.count
            if readIndex == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                readIndex = 0
            } else if readIndex >= 64, readIndex * 2 >= chunks.count {
                chunks.removeFirst(readIndex)
                readIndex = 0
            }
            if isPaused, bufferedBytes <= lowWater {
                isPaused = false
                return .chunkAndResumeTransfer(chunk)
            }
            return .chunk(chunk)
        }
        switch termination {
        case nil: return waiter == nil ? .wait : .busy
        case .finished: return .end
        case .failed(let error): return .fail(error)
        case .cancelled: return .cancelled
        }
    }

    /// Installs a waiter unless something arrived since `next()` said `.wait`; returns nil when installed.
    mutating func wait(_ newWaiter: Waiter) -> NextAction? {
        let action = next()
        guard case .wait = action else { return action }
        waiter = newWaiter
        return nil
    }

    enum CancelAction {
        case none
        /// Cancel the transfer, and resume the waiter (if any) with CancellationError.
        case cancelTransfer(waiter: Waiter?)
    }

    /// The consumer was cancelled or dropped the body.
    mutating func cancel() -> CancelAction {
        chunks.removeAll()
        readIndex = 0
        bufferedBytes = 0
        guard termination == nil else { return .none }
        termination = .cancelled
        let waiter = self.waiter
        self.waiter = nil
        return .cancelTransfer(waiter: waiter)
    }
}
