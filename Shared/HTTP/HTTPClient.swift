import Logging
import ServiceLifecycle

/// An HTTP/1.1 and HTTP/2 client over libcurl's multi interface: one dedicated thread runs every transfer
/// of the client concurrently, reusing connections (keep-alive, HTTP/2 multiplexing) across requests.
///
/// Requests cost no thread and no pool task while in flight: the caller's task suspends on a continuation
/// that the loop thread resumes. Task cancellation removes the transfer and throws `CancellationError`.
///
/// Lifecycle: the loop thread starts with ``start()``, ``run()`` or the first request. Run the client in a
/// `ServiceGroup` (``run()`` drains in-flight requests on graceful shutdown, aborts them on cancellation),
/// or call ``shutdown(gracefully:)`` yourself. After shutdown, requests fail with `.shutDown`.
///
/// - Important: Register the client in the `ServiceGroup` before the services that use it, so it shuts
///   down after them.
public final class HTTPClient: Sendable, Service {
    /// The client's settings.
    public let configuration: Configuration
    private let loop: CurlMultiLoop

    /// Creates a client; its thread starts on first use.
    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "chorus.http")) {
        self.configuration = configuration
        self.loop = CurlMultiLoop(configuration: configuration, logger: logger)
    }

    deinit {
        // Let whatever is still in flight (a body someone still reads) finish, then end the thread.
        loop.shutdown(.drain)
    }

    // MARK: - Lifecycle

    /// Starts the loop thread now instead of on the first request. Does nothing once started or shut down.
    public func start() {
        loop.start()
    }

    /// Stops the client and returns once its thread has exited.
    ///
    /// - Parameter gracefully: `true` lets in-flight requests finish; `false` (the default) fails them
    ///   with `.shutDown` at once. New requests fail with `.shutDown` either way.
    public func shutdown(gracefully: Bool = false) async {
        loop.shutdown(gracefully ? .drain : .abort)
        await loop.waitUntilStopped()
    }

    /// Runs the client until graceful shutdown (in-flight requests finish) or cancellation (they fail).
    public func run() async throws {
        loop.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await self.loop.waitUntilStopped()
            } onCancel: {
                self.loop.shutdown(.abort)
            }
        } onGracefulShutdown: {
            self.loop.shutdown(.drain)
        }
    }

    // MARK: - Requests

    /// Sends a request and returns the whole response, whatever its status.
    ///
    /// Throws ``HTTPClientError`` when no complete response arrived, `CancellationError` when the task was
    /// cancelled. Turn failure statuses into ``HTTPStatusError`` with ``HTTPResponse/checked(now:)``.
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = CurlTransfer(
            id: loop.makeTransferID(), request: request, bodyStorage: nil,
            maxBodyBytes: configuration.maxResponseBodyBytes)
        guard case .response(let response) = try await perform(transfer) else {
            preconditionFailure("a buffered transfer resolves with a whole response")
        }
        return response
    }

    /// Sends a request and returns as soon as the status line and headers arrived; the body follows as an
    /// `AsyncSequence` of chunks (``HTTPBody``), for server-sent events and other long responses.
    ///
    /// Throws as ``execute(_:)`` does until the head arrives; later failures (a stream cut short, the
    /// request's `timeout`) are thrown by the body sequence.
    ///
    /// - Important: `HTTPRequest.timeout` covers the whole stream: set it to the longest stream you accept.
    public func stream(_ request: HTTPRequest) async throws -> HTTPStreamingResponse {
        let id = loop.makeTransferID()
        let storage = HTTPBodyStorage(
            transferID: id, target: request.target, highWater: configuration.streamBufferBytes, loop: loop)
        let transfer = CurlTransfer(
            id: id, request: request, bodyStorage: storage, maxBodyBytes: configuration.maxResponseBodyBytes)
        guard case .head(let response) = try await perform(transfer) else {
            preconditionFailure("a streaming transfer resolves with its head")
        }
        return response
    }

    private func perform(_ transfer: CurlTransfer) async throws -> CurlTransfer.Outcome {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CurlTransfer.Continuation) in
                if transfer.install(continuation) { loop.submit(transfer) }
            }
        } onCancel: {
            if transfer.cancel() { loop.cancelTransfer(id: transfer.id) }
        }
    }
}
