import Foundation
import Postgres
import ServiceLifecycle
import Synchronization
import Trail

/// Lets HTTP requests wait for their answers: PostgreSQL notifies `chorus_answers` with the request
/// id when an answer row is inserted (a trigger), and the waiter for that id wakes at once.
///
/// A waiter also re-reads the answers table every `recheck`, so a notification lost to a listener
/// reconnect only delays an answer, never loses it.
public final class AnswerWaiters: Service, Sendable {
    private let listener: PostgresListener
    private let trail: TrailStore
    private let waiters = Mutex<[String: [UUID: WakeSignal]]>([:])
    private let recheck: Duration

    public init(listener: PostgresListener, trail: TrailStore, recheck: Duration = .milliseconds(250)) {
        self.listener = listener
        self.trail = trail
        self.recheck = recheck
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.listener.run() }
            group.addTask {
                while !Task.isCancelled {
                    do {
                        for try await notification in try await self.listener.notifications(on: "chorus_answers").cancelOnGracefulShutdown() {
                            self.wake(notification.payload)
                        }
                        return
                    } catch {
                        // The listener reconnects; waiters recheck the table meanwhile.
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The answer's JSON once it is recorded, or nil after `timeout`.
    public func answer(for id: String, timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let payload = try await trail.storedAnswer(requestID: id) { return payload }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero || Task.isCancelled { return nil }
            await wait(for: id, atMost: min(recheck, remaining))
        }
    }

    private func wake(_ id: String) {
        let woken = waiters.withLock { $0.removeValue(forKey: id) ?? [:] }
        for signal in woken.values { signal.fire() }
    }

    private func wait(for id: String, atMost limit: Duration) async {
        let token = UUID()
        let signal = WakeSignal()
        waiters.withLock { $0[id, default: [:]][token] = signal }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: limit)
                signal.fire()
            }
            await signal.wait()
            group.cancelAll()
        }
        waiters.withLock { waiters in
            waiters[id]?.removeValue(forKey: token)
            if waiters[id]?.isEmpty == true { waiters[id] = nil }
        }
    }
}

/// A one-shot wake-up: `fire` before or after `wait`, once or many times, wakes the waiter once.
final class WakeSignal: Sendable {
    private let state = Mutex<(fired: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let firedAlready = state.withLock { state -> Bool in
                if state.fired { return true }
                state.continuation = continuation
                return false
            }
            if firedAlready { continuation.resume() }
        }
    }

    func fire() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.fired else { return nil }
            state.fired = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}
