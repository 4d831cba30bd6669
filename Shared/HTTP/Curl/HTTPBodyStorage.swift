import Synchronization

/// Cancels the transfer once no one can read the body any more.
final class HTTPBodyOwner: Sendable {
    let storage: HTTPBodyStorage

    init(storage: HTTPBodyStorage) {
        self.storage = storage
    }

    deinit {
        storage.cancel()
    }
}

/// The shared end of a streamed body: curl's write callback pushes, the body's iterator pulls.
final class HTTPBodyStorage: Sendable {
    typealias Waiter = CheckedContinuation<[UInt8]?, any Error>

    private let state: Mutex<BodyStreamState<Waiter>>
    let transferID: UInt64
    let target: RequestTarget
    /// Resumes a paused transfer and cancels an abandoned one. Strong: a readable body keeps its loop alive.
    private let loop: CurlMultiLoop

    init(transferID: UInt64, target: RequestTarget, highWater: Int, loop: CurlMultiLoop) {
        self.state = Mutex(BodyStreamState(highWater: highWater))
        self.transferID = transferID
        self.target = target
        self.loop = loop
    }

    // MARK: - Producer (loop thread, inside curl callbacks: never blocks, never awaits)

    /// Takes bytes from curl's write callback; returns what the callback must return to curl.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        // Copied before taking the lock; when the buffer turns out full, the copy is dropped (rare).
        let chunk = [UInt8](bytes)
        switch state.withLock({ $0.receive(chunk) }) {
        case .resume(let waiter, let chunk):
            waiter.resume(returning: chunk)
            return bytes.count
        case .buffered:
            return bytes.count
        case .pause:
            return curlWriteFunctionPause
        case .abort:
            return 0  // curl fails the transfer with CURLE_WRITE_ERROR
        }
    }

    /// Ends the body: cleanly when `error` is nil.
    func finish(error: (any Error)?) {
        if case .resume(let waiter, let error) = state.withLock({ $0.finish(error: error) }) {
            if let error {
                waiter.resume(throwing: error)
            } else {
                waiter.resume(returning: nil)
            }
        }
    }

    // MARK: - Consumer

    func next() async throws -> [UInt8]? {
        let action = state.withLock { $0.next() }
        if case .wait = action {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (waiter: Waiter) in
                    if let action = state.withLock({ $0.wait(waiter) }) {
                        complete(waiter, with: action)
                    }
                }
            } onCancel: {
                cancel()
            }
        }
        return try deliver(action)
    }

    private func deliver(_ action: BodyStreamState<Waiter>.NextAction) throws -> [UInt8]? {
        switch action {
        case .chunk(let chunk):
            return chunk
        case .chunkAndResumeTransfer(let chunk):
            loop.resumeTransfer(id: transferID)
            return chunk
        case .end:
            return nil
        case .fail(let error):
            throw error
        case .cancelled:
            throw CancellationError()
        case .busy:
            throw HTTPClientError(code: .streamAlreadyConsumed, target: target)
        case .wait:
            preconditionFailure("BodyStreamState.wait(_:) never answers .wait")
        }
    }

    private func complete(_ waiter: Waiter, with action: BodyStreamState<Waiter>.NextAction) {
        waiter.resume(with: Result { try deliver(action) })
    }

    /// The consumer was cancelled or dropped the body: stop the transfer and wake a waiting `next()`.
    func cancel() {
        guard case .cancelTransfer(let waiter) = state.withLock({ $0.cancel() }) else { return }
        waiter?.resume(throwing: CancellationError())
        loop.cancelTransfer(id: transferID)
    }
}
