/// What the multi loop and the threads that feed it share: submissions, cancellations and resumes waiting
/// for the loop, whether the loop is asleep in `curl_multi_poll` (so only then is a wakeup sent), and
/// the lifecycle.
///
/// A value type behind the loop's lock; methods return what to do, done outside the lock. Generic over the
/// submission and waiter types so tests need no curl and no continuations.
struct CurlLoopState<Submission, StopWaiter> {
    enum Lifecycle: Equatable {
        /// No loop thread yet; submissions queue up and the first one starts it.
        case idle
        case running
        /// Graceful shutdown: no new submissions; the loop exits once its transfers are done.
        case draining
        /// Hard shutdown: the loop fails every transfer and exits.
        case aborting
        case stopped
    }

    enum StopMode: Equatable, Comparable {
        case drain
        case abort
    }

    private(set) var lifecycle: Lifecycle = .idle
    private var submissions: [Submission] = []
    private var cancellations: [UInt64] = []
    private var resumes: [UInt64] = []
    private var stopRequest: StopMode?
    /// The loop is in (or about to enter) `curl_multi_poll`.
    private var isPolling = false
    /// A wakeup was sent since the loop last took its work: no need for another.
    private var wakeupSent = false
    private var stopWaiters: [StopWaiter] = []

    // MARK: - Callers (any thread)

    enum SubmitAction {
        /// The client is shut down: fail the submission.
        case reject(Submission)
        /// Queued, and the loop thread must be started.
        case startLoop
        /// Queued; the loop sleeps: wake it.
        case wakeLoop
        /// Queued; the loop will see it on its next turn.
        case none
    }

    mutating func submit(_ submission: Submission) -> SubmitAction {
        switch lifecycle {
        case .draining, .aborting, .stopped:
            return .reject(submission)
        case .idle:
            submissions.append(submission)
            lifecycle = .running
            return .startLoop
        case .running:
            submissions.append(submission)
            return wakeIfPolling() ? .wakeLoop : .none
        }
    }

    /// Starts the loop thread ahead of the first request; true when the caller must start it.
    mutating func start() -> Bool {
        guard lifecycle == .idle else { return false }
        lifecycle = .running
        return true
    }

    /// Queues the removal of a transfer; true when the loop must be woken.
    mutating func cancel(transferID: UInt64) -> Bool {
        guard lifecycle != .stopped else { return false }
        cancellations.append(transferID)
        return wakeIfPolling()
    }

    /// Queues the resumption of a paused transfer; true when the loop must be woken.
    mutating func resume(transferID: UInt64) -> Bool {
        guard lifecycle != .stopped else { return false }
        resumes.append(transferID)
        return wakeIfPolling()
    }

    enum ShutdownAction {
        case none
        case wakeLoop
        /// No loop ever ran: the shutdown is complete; resume these waiters and fail these submissions.
        case stoppedWithoutLoop([StopWaiter], [Submission])
    }

    mutating func shutdown(_ mode: StopMode) -> ShutdownAction {
        switch lifecycle {
        case .idle:
            lifecycle = .stopped
            let waiters = stopWaiters
            let pending = submissions
            stopWaiters = []
            submissions = []
            return .stoppedWithoutLoop(waiters, pending)
        case .running, .draining:
            if lifecycle == .draining && mode == .drain { return .none }
            lifecycle = mode == .drain ? .draining : .aborting
            stopRequest = max(stopRequest ?? mode, mode)
            return wakeIfPolling() ? .wakeLoop : .none
        case .aborting, .stopped:
            return .none
        }
    }

    /// Registers a waiter for the loop's exit; false when it has already exited (resume it now).
    mutating func addStopWaiter(_ waiter: StopWaiter) -> Bool {
        guard lifecycle != .stopped else { return false }
        stopWaiters.append(waiter)
        return true
    }

    private mutating func wakeIfPolling() -> Bool {
        guard isPolling, !wakeupSent else { return false }
        wakeupSent = true
        return true
    }

    // MARK: - The loop thread

    struct Work {
        var submissions: [Submission] = []
        var cancellations: [UInt64] = []
        var resumes: [UInt64] = []
        var stop: StopMode?
    }

    /// Takes everything queued for the loop; the loop is awake from here until `prepareToPoll()`.
    mutating func takeWork() -> Work {
        isPolling = false
        wakeupSent = false
        defer {
            submissions.removeAll(keepingCapacity: true)
            cancellations.removeAll(keepingCapacity: true)
            resumes.removeAll(keepingCapacity: true)
            stopRequest = nil
        }
        return Work(submissions: submissions, cancellations: cancellations, resumes: resumes, stop: stopRequest)
    }

    /// True when the loop may sleep in `curl_multi_poll`: nothing arrived since `takeWork()`. From here on,
    /// callers wake it.
    mutating func prepareToPoll() -> Bool {
        guard submissions.isEmpty, cancellations.isEmpty, resumes.isEmpty, stopRequest == nil else { return false }
        isPolling = true
        return true
    }

    /// The loop exited: resume these waiters, and fail any submissions that slipped in.
    mutating func loopExited() -> (waiters: [StopWaiter], leftovers: [Submission]) {
        lifecycle = .stopped
        isPolling = false
        defer {
            stopWaiters = []
            submissions = []
        }
        return (stopWaiters, submissions)
    }
}
