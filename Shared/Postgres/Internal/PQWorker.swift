import Dispatch
import Foundation
import Logging
import Synchronization

/// A dedicated thread that owns one connection and runs jobs on it in submission order.
///
/// libpq calls block, so they run here and never on Swift's cooperative pool: callers submit a job
/// and await a continuation that this thread resumes. The thread sleeps on a semaphore and wakes
/// as soon as a job arrives.
///
/// A task cancelled while its statement runs sends the server a cancel request, so that a long
/// statement (or a wait for a lock) ends early.
final class PQWorker: Sendable {
    typealias Job = @Sendable (PQSession) -> Void

    private struct QueuedJob {
        /// Identifies the job for cancellation; 0 for internal jobs, which are never cancelled.
        var id: UInt64
        var run: Job
    }

    private struct Queue {
        var jobs: [QueuedJob] = []
        var isStopped = false
    }

    /// The worker's position in its pool, for logs.
    let index: Int
    private let settings: PQConnectionSettings
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let nextJobID = Atomic<UInt64>(0)
    let cancellation = PQCancellation()

    init(index: Int, settings: PQConnectionSettings, logger: Logger) {
        self.index = index
        self.settings = settings
        self.logger = logger
        // The thread keeps the worker alive until `stop` ends its loop.
        let thread = Thread { [self] in
            self.runLoop()
        }
        thread.name = "chorus-postgres-\(index)"
        thread.start()
    }

    /// Runs `body` on the worker thread and returns its result.
    ///
    /// If the task is cancelled while `body` runs, the server is asked to cancel the statement
    /// (which then fails with SQLSTATE 57014); `body` itself is never interrupted.
    func perform<Value: Sendable>(_ body: @escaping @Sendable (PQSession) throws -> Value) async throws -> Value {
        let id = self.nextJobID.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                self.submit(id: id) { session in
                    continuation.resume(with: Result { try body(session) })
                }
            }
        } onCancel: {
            self.cancellation.cancel(job: id)
        }
    }

    /// Queues `job`; after `stop`, runs it at once against a closed session (which refuses work).
    func submit(id: UInt64 = 0, _ job: @escaping Job) {
        let accepted = self.queue.withLock { queue in
            guard !queue.isStopped else {
                return false
            }
            queue.jobs.append(QueuedJob(id: id, run: job))
            return true
        }
        if accepted {
            self.wakeUp.signal()
        } else {
            job(PQSession(settings: self.settings, logger: self.logger, index: self.index, isClosed: true))
        }
    }

    /// Closes the connection after the jobs already queued, ends the thread, then calls `completion`
    /// on it.
    func stop(then completion: @escaping @Sendable () -> Void) {
        let alreadyStopped = self.queue.withLock { queue in
            guard !queue.isStopped else {
                return true
            }
            queue.jobs.append(
                QueuedJob(id: 0) { session in
                    session.close()
                    completion()
                })
            queue.isStopped = true
            return false
        }
        if alreadyStopped {
            completion()
        } else {
            self.wakeUp.signal()
        }
    }

    private func runLoop() {
        let session = PQSession(
            settings: self.settings, logger: self.logger, index: self.index, isClosed: false,
            cancellation: self.cancellation)
        while true {
            self.wakeUp.wait()
            // Take everything queued; extra semaphore counts then wake the loop to an empty queue.
            let (jobs, isStopped) = self.queue.withLock { queue in
                var jobs: [QueuedJob] = []
                swap(&jobs, &queue.jobs)
                return (jobs, queue.isStopped)
            }
            for job in jobs {
                self.cancellation.willRun(job: job.id)
                job.run(session)
                self.cancellation.didRun()
            }
            if isStopped {
                return
            }
        }
    }
}
