import Dispatch
import Foundation

/// Runs one blocking job on a fresh thread and resumes the caller from there.
///
/// For rare, long blocking calls (model loading); steady work goes through ``LlamaWorker``'s own thread.
enum DedicatedThread {
    /// Stack for threads that run libllama (ggml's graph code keeps sizeable buffers on the stack).
    static let stackSize = 8 << 20

    static func run<T: Sendable>(
        name: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.stackSize = stackSize
            thread.start()
        }
    }

    /// Waits, on a fresh thread so that the cooperative pool never blocks, until `exited` is signalled
    /// (a worker thread's last act); signals it again so that later waiters pass too.
    static func awaitExit(of exited: DispatchSemaphore, name: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiter = Thread {
                exited.wait()
                exited.signal()
                continuation.resume()
            }
            waiter.name = name
            waiter.start()
        }
    }
}
