import Synchronization

/// The port `run()` bound, handed to whoever waits for it.
final class ListeningPort: Sendable {
    private struct State {
        var claimed = false
        var port: Int?
        var failure: (any Error)?
        var waiters: [CheckedContinuation<Int, any Error>] = []
    }

    private let state = Mutex(State())

    /// Marks the simulator as running; false when it already was.
    func claim() -> Bool {
        state.withLock { state in
            defer { state.claimed = true }
            return !state.claimed
        }
    }

    func bound(to port: Int) {
        let waiters = state.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// The server stopped: waiters still waiting learn why.
    func stopped(_ error: (any Error)?) {
        let (waiters, failure) = state.withLock { state -> ([CheckedContinuation<Int, any Error>], any Error) in
            let failure = error ?? ProviderSimulatorError(.stoppedBeforeListening, "the server stopped before it listened")
            if state.port == nil { state.failure = failure }
            defer { state.waiters = [] }
            return (state.waiters, failure)
        }
        for waiter in waiters { waiter.resume(throwing: failure) }
    }

    func port() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Int, any Error>? = state.withLock { state in
                if let port = state.port { return .success(port) }
                if let failure = state.failure { return .failure(failure) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
