import CLibPQ
import Dispatch
import Foundation
import Synchronization

/// Cancels the statement a worker is running, on behalf of a cancelled task.
///
/// `PQcancel` opens a connection to the server, so it runs on a short-lived thread of its own,
/// never on the cancelling task's. The worker does not start its next job until the cancel request
/// has been delivered, so the request cannot hit a later statement (PostgreSQL ignores a cancel that
/// reaches an idle backend).
final class PQCancellation: Sendable {
    private struct State {
        /// The job running now; 0 when none or an internal one.
        var runningJob: UInt64 = 0
        var target: PQCancelTarget?
        /// Signalled when the cancel request in flight has been delivered.
        var requestInFlight: DispatchSemaphore?
    }

    private let state = Mutex(State())

    /// Sets the connection that cancel requests go to (after connecting or resetting).
    func setTarget(_ target: PQCancelTarget?) {
        self.state.withLock { $0.target = target }
    }

    /// Called by the worker thread before each job: waits for a cancel request in flight.
    func willRun(job: UInt64) {
        if let inFlight = self.state.withLock({ $0.requestInFlight }) {
            inFlight.wait()
            inFlight.signal()
        }
        self.state.withLock { $0.runningJob = job }
    }

    func didRun() {
        self.state.withLock { $0.runningJob = 0 }
    }

    /// Asks the server to cancel `job`'s statement if the worker is running it now.
    func cancel(job: UInt64) {
        let request: (PQCancelTarget, DispatchSemaphore)? = self.state.withLock { state in
            guard job != 0, state.runningJob == job, state.requestInFlight == nil, let target = state.target else {
                return nil
            }
            let delivered = DispatchSemaphore(value: 0)
            state.requestInFlight = delivered
            return (target, delivered)
        }
        guard let (target, delivered) = request else {
            return
        }
        let thread = Thread {
            target.sendCancelRequest()
            self.state.withLock { $0.requestInFlight = nil }
            delivered.signal()
        }
        thread.name = "chorus-postgres-cancel"
        thread.start()
    }
}

/// Owns a `PGcancel`: the backend's address and key, for sending it a cancel request.
///
/// `@unchecked Sendable`: libpq documents `PQcancel` as safe to call from any thread while the
/// connection is in use elsewhere, and the `PGcancel` is immutable after `PQgetCancel` and freed
/// only when the last reference goes.
final class PQCancelTarget: @unchecked Sendable {
    private let cancel: OpaquePointer

    /// Takes ownership of a `PGcancel` from `PQgetCancel`.
    init(_ cancel: OpaquePointer) {
        self.cancel = cancel
    }

    deinit {
        PQfreeCancel(self.cancel)
    }

    /// Sends the cancel request (blocking: connects to the server). Best effort: failure is ignored,
    /// the statement then simply runs to its end.
    func sendCancelRequest() {
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(self.cancel, &message, Int32(message.count))
    }
}
