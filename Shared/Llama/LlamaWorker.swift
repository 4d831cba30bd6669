import Dispatch
import Foundation
import Synchronization

/// An async façade over one ``LlamaContext``: a dedicated thread owns the context and runs submitted
/// jobs on it, one at a time, resuming callers from that thread.
///
/// Callers on Swift's cooperative pool only await; the blocking libllama calls happen on the worker's
/// own thread. A job is a closure over the context, so anything built from the context's low-level
/// operations (a batching scheduler's step loop included) can run there.
///
/// ```swift
/// let worker = try await LlamaWorker(model: model)
/// let generation = try await worker.generate(prompt: prompt, parameters: .init(maxTokens: 64))
/// await worker.shutdown()
/// ```
public final class LlamaWorker: Sendable {
    /// A queued job: runs on the worker thread with the context, or fails if the worker closes first.
    struct Job: Sendable {
        var run: @Sendable (LlamaContext) -> Void
        var fail: @Sendable (LlamaError) -> Void
    }

    /// The model the worker's context runs.
    public let model: LlamaModel
    /// The actual size of the worker's context.
    public let contextSize: Int
    /// The actual batch size of the worker's context.
    public let batchSize: Int
    /// The actual number of sequences of the worker's context.
    public let maxSequences: Int

    /// What the worker and its thread share (the thread holds no reference to the worker itself, so
    /// dropping the worker closes it).
    private final class Shared: Sendable {
        let queue = Mutex(WorkerQueue<Job>())
        /// Counts wake-ups: one per queued job, one for close. The thread sleeps on it and wakes at once.
        let wakeUps = DispatchSemaphore(value: 0)
        /// Signalled when the thread has freed the context and ended.
        let exited = DispatchSemaphore(value: 0)
    }

    private let shared: Shared

    /// Starts a worker thread and creates its context there.
    ///
    /// - Throws: The context's creation errors (see ``LlamaContext/init(model:parameters:)``).
    public init(
        model: LlamaModel, contextParameters: LlamaContextParameters = LlamaContextParameters(),
        name: String = "llama-worker"
    ) async throws {
        let shared = Shared()
        let shape = try await withCheckedThrowingContinuation { (started: CheckedContinuation<[Int], Error>) in
            let thread = Thread {
                defer { shared.exited.signal() }
                let context: LlamaContext
                do {
                    context = try LlamaContext(model: model, parameters: contextParameters)
                } catch {
                    shared.queue.withLock { _ = $0.close() }
                    started.resume(throwing: error)
                    return
                }
                started.resume(returning: [context.contextSize, context.batchSize, context.maxSequences])
                Self.serve(context: context, shared: shared)
            }
            thread.name = name
            thread.stackSize = DedicatedThread.stackSize
            thread.start()
        }
        self.model = model
        self.contextSize = shape[0]
        self.batchSize = shape[1]
        self.maxSequences = shape[2]
        self.shared = shared
    }

    deinit {
        close()
    }

    /// The worker thread's loop; the context is freed on this thread when it returns.
    private static func serve(context: LlamaContext, shared: Shared) {
        while true {
            switch shared.queue.withLock({ $0.next() }) {
            case .run(let job):
                job.run(context)
            case .wait:
                shared.wakeUps.wait()
            case .exit:
                return
            }
        }
    }

    // MARK: - Jobs

    /// Runs `job` on the worker thread with exclusive use of the context, and returns its result.
    ///
    /// Jobs run one at a time in submission order. A job cancelled before it starts does not run.
    /// - Important: `job` blocks the worker thread while it runs; it must not wait on other jobs of the
    ///   same worker.
    public func run<Result: Sendable>(
        _ job: @escaping @Sendable (LlamaContext) throws -> Result
    ) async throws -> Result {
        let cancellation = CancellationFlag()
        return try await run(cancellation: cancellation) { context in
            try job(context)
        }
    }

    /// Generates a completion of `prompt` on the worker thread (see
    /// ``LlamaContext/generate(prompt:parameters:sequence:onToken:)``).
    ///
    /// Task cancellation stops generation at the next token, with finish reason ``FinishReason/cancelled``.
    /// - Parameter onChunk: Receives streamed text on the worker thread; it must return quickly (yield to an
    ///   `AsyncStream` continuation, say).
    public func generate(
        prompt: String, parameters: GenerationParameters = GenerationParameters(),
        onChunk: (@Sendable (GenerationChunk) -> Void)? = nil
    ) async throws -> Generation {
        let cancellation = CancellationFlag()
        return try await run(cancellation: cancellation) { context in
            try context.generate(prompt: prompt, parameters: parameters) { chunk in
                onChunk?(chunk)
                return !cancellation.isCancelled
            }
        }
    }

    private func run<Result: Sendable>(
        cancellation: CancellationFlag, _ job: @escaping @Sendable (LlamaContext) throws -> Result
    ) async throws -> Result {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, Error>) in
                let queued = Job(
                    run: { context in
                        guard !cancellation.isCancelled else {
                            continuation.resume(throwing: CancellationError())
                            return
                        }
                        continuation.resume(with: Swift.Result { try job(context) })
                    },
                    fail: { continuation.resume(throwing: $0) })
                switch shared.queue.withLock({ $0.enqueue(queued) }) {
                case .wakeWorker:
                    shared.wakeUps.signal()
                case .reject(let job):
                    job.fail(LlamaError(code: .workerClosed, detail: "the worker is closed"))
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    // MARK: - Closing

    /// Stops accepting jobs and fails the queued ones with ``LlamaError/Code/workerClosed``; the running
    /// job finishes, then the thread ends and frees the context. Returns at once.
    public func close() {
        let abandoned = shared.queue.withLock { $0.close() }
        shared.wakeUps.signal()
        for job in abandoned {
            job.fail(LlamaError(code: .workerClosed, detail: "the worker closed before the job ran"))
        }
    }

    /// Closes the worker and waits (off the cooperative pool) until its thread has freed the context.
    public func shutdown() async {
        close()
        await DedicatedThread.awaitExit(of: shared.exited, name: "llama-worker-shutdown")
    }
}

/// A cancellation flag shared between a task's cancellation handler and the job on the worker thread.
final class CancellationFlag: Sendable {
    private let cancelled = Atomic(false)

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    func cancel() {
        cancelled.store(true, ordering: .relaxed)
    }
}
