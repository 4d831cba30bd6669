import Synchronization

/// Resumes one waiter once `fire()` is called, whichever comes first.
final class OneShotSignal: Sendable {
    private struct State {
        var fired = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { continuation in
            let firedAlready = state.withLock { state in
                if !state.fired { state.waiter = continuation }
                return state.fired
            }
            if firedAlready { continuation.resume() }
        }
    }

    func fire() {
        let waiter = state.withLock { state in
            state.fired = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
