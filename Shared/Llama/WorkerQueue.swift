/// The job queue of a ``LlamaWorker`` as a value-type state machine: callers hold a lock around it and
/// carry out the actions its methods return outside the lock.
struct WorkerQueue<Job> {
    private var jobs: [Job] = []
    private var head = 0
    private(set) var isClosed = false

    enum EnqueueAction {
        /// Queued: wake the worker thread.
        case wakeWorker
        /// The worker is closed: fail the job.
        case reject(Job)
    }

    enum NextAction {
        case run(Job)
        /// Nothing queued: sleep until woken.
        case wait
        /// Closed and drained: end the thread.
        case exit
    }

    var pendingCount: Int { jobs.count - head }

    mutating func enqueue(_ job: Job) -> EnqueueAction {
        guard !isClosed else { return .reject(job) }
        jobs.append(job)
        return .wakeWorker
    }

    mutating func next() -> NextAction {
        if head < jobs.count {
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64, head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            return .run(job)
        }
        return isClosed ? .exit : .wait
    }

    /// Closes the queue.
    /// - Returns: The jobs that will never run (to fail); the running one, if any, finishes.
    mutating func close() -> [Job] {
        guard !isClosed else { return [] }
        isClosed = true
        let abandoned = Array(jobs[head...])
        jobs.removeAll()
        head = 0
        return abandoned
    }
}
