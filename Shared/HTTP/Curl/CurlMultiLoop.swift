import CCurl
import CCurlShim
import Foundation
import Logging
import Synchronization

/// libcurl's multi interface driven by one dedicated thread: every transfer of a client runs there,
/// concurrently, sharing the multi handle's connection cache and DNS cache.
///
/// Other threads never touch curl handles; they queue work in `state` and, only when the loop sleeps in
/// `curl_multi_poll`, wake it with `curl_multi_wakeup` (the one multi call that is thread-safe).
final class CurlMultiLoop: @unchecked Sendable {
    typealias State = CurlLoopState<CurlTransfer, CheckedContinuation<Void, Never>>

    private let state = Mutex(State())
    /// The multi handle. Created in init, cleaned up in deinit, so `curl_multi_wakeup` from any thread
    /// always meets a live handle; the loop thread, holding `self`, has exited by then.
    private let multi: UnsafeMutableRawPointer
    private let configuration: HTTPClient.Configuration
    private let logger: Logger
    private let nextID = Atomic<UInt64>(1)

    // MARK: Loop thread only

    /// Transfers on the multi handle. This table is what keeps each transfer alive while curl holds its
    /// unretained userdata pointer.
    private var active: [UInt64: CurlTransfer] = [:]
    /// Reset easy handles kept for reuse: `curl_easy_init` allocates several KiB per call.
    private var idleEasyHandles: [UnsafeMutableRawPointer] = []

    init(configuration: HTTPClient.Configuration, logger: Logger) {
        let globalInit = curlGlobalInitResult
        guard globalInit == CURLE_OK else {
            fatalError("libcurl failed to initialise: \(curlDescription(globalInit))")
        }
        guard let multi = curl_multi_init() else {
            fatalError("curl_multi_init failed (out of memory)")
        }
        self.multi = multi
        self.configuration = configuration
        self.logger = logger
        // Connection reuse: idle connections stay in the multi handle's cache (up to maxCachedConnections,
        // each for at most curl's 118 s idle age); transfers beyond maxConnectionsPerHost queue inside curl.
        _ = chorus_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxCachedConnections)
        _ = chorus_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        _ = chorus_curl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxTotalConnections)
    }

    deinit {
        for easy in idleEasyHandles { curl_easy_cleanup(easy) }
        // Closes the cached connections. Every easy handle has been removed by the loop's exit.
        curl_multi_cleanup(multi)
    }

    func makeTransferID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    // MARK: - Any thread

    /// Starts the loop thread now rather than on the first request.
    func start() {
        if state.withLock({ $0.start() }) { spawnThread() }
    }

    /// Hands a transfer to the loop (starting it on first use).
    func submit(_ transfer: CurlTransfer) {
        switch state.withLock({ $0.submit(transfer) }) {
        case .reject(let transfer):
            transfer.fail(HTTPClientError(code: .shutDown, target: transfer.target))
        case .startLoop:
            spawnThread()
        case .wakeLoop:
            curl_multi_wakeup(multi)
        case .none:
            break
        }
    }

    /// Removes a transfer from the multi handle (its caller has already been resolved).
    func cancelTransfer(id: UInt64) {
        if state.withLock({ $0.cancel(transferID: id) }) { curl_multi_wakeup(multi) }
    }

    /// Resumes a transfer paused by body back-pressure.
    func resumeTransfer(id: UInt64) {
        if state.withLock({ $0.resume(transferID: id) }) { curl_multi_wakeup(multi) }
    }

    /// Asks the loop to stop: `.drain` lets running transfers finish and refuses new ones; `.abort` fails
    /// them all with `.shutDown`.
    func shutdown(_ mode: State.StopMode) {
        switch state.withLock({ $0.shutdown(mode) }) {
        case .none:
            break
        case .wakeLoop:
            curl_multi_wakeup(multi)
        case .stoppedWithoutLoop(let waiters, let pending):
            for transfer in pending { transfer.fail(HTTPClientError(code: .shutDown, target: transfer.target)) }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Returns once the loop thread has exited (at once if it never ran and shutdown was requested).
    func waitUntilStopped() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            if !state.withLock({ $0.addStopWaiter(waiter) }) { waiter.resume() }
        }
    }

    private func spawnThread() {
        // The thread holds `self` until the loop exits.
        let thread = Thread {
            chorus_set_current_thread_name("chorus-http")
            self.runLoop()
        }
        thread.start()
    }

    // MARK: - The loop thread

    private func runLoop() {
        logger.debug("HTTP client loop started")
        var stopMode: State.StopMode?
        while true {
            let work = state.withLock { $0.takeWork() }
            if let requested = work.stop { stopMode = max(stopMode ?? requested, requested) }

            for id in work.cancellations {
                if let transfer = active.removeValue(forKey: id) { remove(transfer) }
            }
            if stopMode == .abort {
                for transfer in work.submissions {
                    transfer.fail(HTTPClientError(code: .shutDown, target: transfer.target))
                }
                abortAll()
                break
            }
            for transfer in work.submissions { add(transfer) }
            for id in work.resumes {
                if let easy = active[id]?.easy { _ = chorus_curl_easy_unpause(easy) }
            }

            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            completeFinishedTransfers()

            if stopMode == .drain && active.isEmpty { break }
            if state.withLock({ $0.prepareToPoll() }) {
                // Sleeps until socket activity, curl's next timer (timeouts, retries), a wakeup, or 1 s.
                _ = curl_multi_poll(multi, nil, 0, 1000, nil)
            }
        }
        let (waiters, leftovers) = state.withLock { $0.loopExited() }
        for transfer in leftovers { transfer.fail(HTTPClientError(code: .shutDown, target: transfer.target)) }
        logger.debug("HTTP client loop stopped")
        for waiter in waiters { waiter.resume() }
    }

    private func add(_ transfer: CurlTransfer) {
        guard !transfer.isCancelled else { return }
        guard let easy = idleEasyHandles.popLast() ?? curl_easy_init() else {
            transfer.fail(HTTPClientError(code: .other, target: transfer.target, detail: "curl_easy_init failed"))
            return
        }
        do {
            try transfer.attach(to: easy, configuration: configuration)
        } catch {
            recycle(transfer.detach())
            transfer.fail(error)
            return
        }
        let code = curl_multi_add_handle(multi, easy)
        guard code == CURLM_OK else {
            recycle(transfer.detach())
            let detail = String(cString: curl_multi_strerror(code))
            transfer.fail(HTTPClientError(code: .other, target: transfer.target, detail: detail))
            return
        }
        active[transfer.id] = transfer
    }

    private func completeFinishedTransfers() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let result = chorus_curl_msg_result(message)
            var userdata: UnsafeMutableRawPointer?
            guard chorus_curl_easy_getinfo_private(easy, &userdata) == CURLE_OK, let userdata else { continue }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
            // `message` is invalid after the next multi call; everything needed was read above.
            curl_multi_remove_handle(multi, easy)
            transfer.finish(result: result)
            if result != CURLE_OK {
                logger.debug(
                    "HTTP transfer failed",
                    metadata: [
                        LogKey.method: "\(transfer.target.method)", LogKey.host: "\(transfer.target.hostAndPort)",
                        LogKey.path: "\(transfer.target.path)", LogKey.curlCode: "\(result.rawValue)",
                    ])
            }
            recycle(transfer.detach())
            active.removeValue(forKey: transfer.id)
        }
    }

    /// Takes a transfer off the multi handle without resolving its caller (who cancelled it).
    private func remove(_ transfer: CurlTransfer) {
        if let easy = transfer.easy { curl_multi_remove_handle(multi, easy) }
        recycle(transfer.detach())
    }

    private func abortAll() {
        for transfer in active.values {
            transfer.fail(HTTPClientError(code: .shutDown, target: transfer.target))
            remove(transfer)
        }
        active.removeAll()
    }

    private func recycle(_ easy: UnsafeMutableRawPointer?) {
        guard let easy else { return }
        // `detach()` already reset the handle.
        if idleEasyHandles.count < configuration.maxCachedConnections {
            idleEasyHandles.append(easy)
        } else {
            curl_easy_cleanup(easy)
        }
    }
}
