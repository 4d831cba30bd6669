import CCurl
import CCurlShim
import Synchronization

/// One request's life on the multi loop: it configures an easy handle, receives curl's header and body
/// callbacks, and resolves the caller's continuation exactly once.
///
/// Thread rules: `completion` is locked (callers cancel from any thread). Everything under "Loop thread
/// only" is touched only by the loop thread, in `attach`, curl's callbacks, `finish` and `detach` (or by
/// a thread failing a transfer the loop never saw); that is why the class is `@unchecked Sendable`.
final class CurlTransfer: @unchecked Sendable {
    enum Outcome: Sendable {
        case response(HTTPResponse)
        case head(HTTPStreamingResponse)
    }

    typealias Continuation = CheckedContinuation<Outcome, any Error>

    private enum Completion {
        case created
        case waiting(Continuation)
        case cancelled
        case completed
    }

    let id: UInt64
    let request: HTTPRequest
    let target: RequestTarget
    /// Non-nil for `stream(_:)`: where body chunks go once the head is delivered.
    let bodyStorage: HTTPBodyStorage?
    private let completion = Mutex(Completion.created)

    // MARK: Loop thread only

    /// The easy handle while the transfer is on the multi handle (borrowed from the loop's pool).
    private(set) var easy: UnsafeMutableRawPointer?
    /// Request headers. libcurl does not copy the list: freed in `detach()` after the handle is reset.
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// CURLOPT_ERRORBUFFER target. Allocated here, freed in deinit; curl writes it only while attached.
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var status = 0
    private var headers = HTTPHeaders()
    /// The final (non-1xx) header block ended; later header lines are trailers.
    private var headComplete = false
    private var headDelivered = false
    private var body: [UInt8] = []
    private let maxBodyBytes: Int
    private var bodyLimitExceeded = false

    init(id: UInt64, request: HTTPRequest, bodyStorage: HTTPBodyStorage?, maxBodyBytes: Int) {
        self.id = id
        self.request = request
        self.target = request.target
        self.bodyStorage = bodyStorage
        self.maxBodyBytes = maxBodyBytes
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        precondition(easy == nil && headerList == nil, "CurlTransfer released while attached to an easy handle")
        errorBuffer.deallocate()
    }

    // MARK: - Completion (any thread)

    /// Installs the caller's continuation; false when the transfer was cancelled first (already resumed).
    func install(_ continuation: Continuation) -> Bool {
        let cancelledFirst = completion.withLock { state -> Bool in
            guard case .created = state else { return true }
            state = .waiting(continuation)
            return false
        }
        if cancelledFirst { continuation.resume(throwing: CancellationError()) }
        return !cancelledFirst
    }

    /// Resolves the caller with CancellationError; true when this call did it (the loop must drop the transfer).
    func cancel() -> Bool {
        let continuation = completion.withLock { state -> Continuation?? in
            switch state {
            case .created:
                state = .cancelled
                return .some(nil)
            case .waiting(let continuation):
                state = .cancelled
                return .some(continuation)
            case .cancelled, .completed:
                return nil
            }
        }
        guard let continuation else { return false }
        continuation?.resume(throwing: CancellationError())
        return true
    }

    var isCancelled: Bool {
        completion.withLock { if case .cancelled = $0 { true } else { false } }
    }

    /// Resolves the caller; false when it was cancelled first.
    @discardableResult
    func complete(_ result: Result<Outcome, any Error>) -> Bool {
        let continuation = completion.withLock { state -> Continuation? in
            guard case .waiting(let continuation) = state else { return nil }
            state = .completed
            return continuation
        }
        continuation?.resume(with: result)
        return continuation != nil
    }

    /// Fails the caller (and a started body) with `error`. Loop thread, or any thread for a transfer the loop
    /// never took (rejected at submission).
    func fail(_ error: HTTPClientError) {
        if headDelivered {
            bodyStorage?.finish(error: error)
        } else {
            complete(.failure(error))
            bodyStorage?.finish(error: error)
        }
    }

    // MARK: - Easy handle set-up and tear-down (loop thread)

    /// Sets every option this transfer needs on a fresh or reset easy handle and attaches to it.
    func attach(to easy: UnsafeMutableRawPointer, configuration: HTTPClient.Configuration) throws(HTTPClientError) {
        self.easy = easy
        errorBuffer[0] = 0
        let userdata = Unmanaged.passUnretained(self).toOpaque()
        // userdata is unretained: the loop's `active` table keeps this transfer alive until it is detached.
        try check(chorus_curl_easy_setopt_pointer(easy, CURLOPT_PRIVATE, userdata))
        try check(chorus_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(chorus_curl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback))
        try check(chorus_curl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, userdata))
        try check(chorus_curl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback))
        try check(chorus_curl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, userdata))

        try check(chorus_curl_easy_setopt_string(easy, CURLOPT_URL, request.url))
        try check(chorus_curl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        // No signals: several threads use libcurl, and timeouts must not arrive as SIGALRM.
        try check(chorus_curl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        try check(chorus_curl_easy_setopt_long(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1))
        try check(chorus_curl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        let timeout = request.timeout ?? configuration.requestTimeout
        try check(chorus_curl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, timeout.curlMilliseconds))
        let connectTimeout = request.connectTimeout ?? configuration.connectTimeout
        try check(chorus_curl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, connectTimeout.curlMilliseconds))
        if target.scheme == "https" {
            // Wait for a connection that is still handshaking to learn whether it multiplexes (HTTP/2) rather
            // than open one connection per request in a burst. Not for cleartext: HTTP/1.1 cannot multiplex and
            // waiting would hold a burst until the first response's headers.
            try check(chorus_curl_easy_setopt_long(easy, CURLOPT_PIPEWAIT, 1))
        }

        try setMethodAndBody(easy)
        try setHeaders(easy, userAgent: configuration.userAgent)
    }

    private func setMethodAndBody(_ easy: UnsafeMutableRawPointer) throws(HTTPClientError) {
        let method = request.method.rawValue
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenByte) else {
            throw HTTPClientError(code: .invalidRequest, target: target, detail: "method is not an HTTP token")
        }
        if request.method == .get && request.body.isEmpty {
            try check(chorus_curl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1))
        } else if request.method == .head {
            try check(chorus_curl_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        } else if request.method == .post || !request.body.isEmpty {
            try check(chorus_curl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            // COPYPOSTFIELDS: curl copies the bytes (freed by reset/cleanup), so no pointer escapes this scope.
            // The size set just above makes binary bodies with NUL bytes safe.
            let copied =
                request.body.isEmpty
                ? chorus_curl_easy_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, "")
                : request.body.withUnsafeBytes { bytes in
                    chorus_curl_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                }
            try check(copied)
            if request.method != .post {
                try check(chorus_curl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method))
            }
        } else {
            try check(chorus_curl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method))
        }
    }

    private func setHeaders(_ easy: UnsafeMutableRawPointer, userAgent: String?) throws(HTTPClientError) {
        var list: UnsafeMutablePointer<curl_slist>?
        // Own the list from the first append, so a failure below still frees it in detach().
        defer { headerList = list }
        func append(_ line: String) throws(HTTPClientError) {
            guard let extended = curl_slist_append(list, line) else {
                throw HTTPClientError(code: .other, target: target, detail: "out of memory building headers")
            }
            list = extended
        }
        var hasContentType = false
        var hasExpect = false
        var hasUserAgent = false
        for field in request.headers {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(Self.isTokenByte),
                !field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
            else {
                // Name the header, never its value: it may be a key.
                throw HTTPClientError(
                    code: .invalidRequest, target: target, detail: "header '\(field.name.prefix(64))' is malformed")
            }
            hasContentType = hasContentType || HTTPHeaders.namesMatch(field.name, "Content-Type")
            hasExpect = hasExpect || HTTPHeaders.namesMatch(field.name, "Expect")
            hasUserAgent = hasUserAgent || HTTPHeaders.namesMatch(field.name, "User-Agent")
            // "Name;" sends an empty header; "Name:" would remove it.
            try append(field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)")
        }
        // curl adds "Expect: 100-continue" to large bodies and then waits up to a second for a server that
        // may never send 100; LLM APIs answer without it.
        if !hasExpect { try append("Expect:") }
        // curl would otherwise label every body application/x-www-form-urlencoded.
        if !hasContentType && !request.body.isEmpty { try append("Content-Type:") }
        if !hasUserAgent, let userAgent { try append("User-Agent: \(userAgent)") }
        try check(chorus_curl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list))
    }

    /// Gives the easy handle back: resets it (dropping every pointer it held into this transfer) and frees
    /// the header list, which curl no longer references after the reset. The caller recycles the handle.
    func detach() -> UnsafeMutableRawPointer? {
        guard let easy else { return nil }
        curl_easy_reset(easy)
        curl_slist_free_all(headerList)
        headerList = nil
        self.easy = nil
        return easy
    }

    private func check(_ code: CURLcode) throws(HTTPClientError) {
        guard code != CURLE_OK else { return }
        throw HTTPClientError(
            code: code == CURLE_OUT_OF_MEMORY ? .other : .invalidRequest, curlCode: Int(code.rawValue),
            target: target, detail: curlDescription(code))
    }

    /// RFC 9110 tchar.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    // MARK: - curl callbacks (loop thread; buffer or resume, never block)

    /// One header line from curl, CRLF included: the status line, a field, or the blank line ending a block.
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard !headComplete else { return bytes.count }  // trailers after a chunked body: ignored
        var line = bytes[...]
        while let last = line.last, last == 0x0A || last == 0x0D { line = line.dropLast() }

        if line.isEmpty {
            // End of a header block. 1xx blocks (100 Continue, 103 Early Hints) precede the real response.
            if status >= 200 || status == 0 {
                headComplete = true
                if bodyStorage != nil { deliverHead() }
            }
        } else if line.starts(with: Self.httpPrefix) {
            // A new status line starts a new block: "HTTP/1.1 200 OK", "HTTP/2 429".
            status = Self.parseStatus(line)
            headers = HTTPHeaders()
        } else if line.first == 0x20 || line.first == 0x09 {
            // Obsolete line folding: continues the previous value.
            headers.extendLastValue(with: String(decoding: line, as: UTF8.self).trimmingASCIISpaces())
        } else if let colon = line.firstIndex(of: 0x3A) {
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingASCIISpaces()
            if bodyStorage == nil, HTTPHeaders.namesMatch(name, "Content-Length"), let length = Int(value) {
                body.reserveCapacity(min(length, maxBodyBytes))
            }
            headers.add(name: name, value: value)
        }
        return bytes.count
    }

    /// Body bytes from curl. Returns the count taken, 0 to abort, or CURL_WRITEFUNC_PAUSE.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        if let bodyStorage {
            if !headDelivered { deliverHead() }
            return bodyStorage.receive(bytes)
        }
        guard body.count + bytes.count <= maxBodyBytes else {
            bodyLimitExceeded = true
            return 0
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    private func deliverHead() {
        guard let bodyStorage, !headDelivered else { return }
        headDelivered = true
        let response = HTTPStreamingResponse(
            status: status, headers: headers, body: HTTPBody(storage: bodyStorage), target: target)
        if !complete(.success(.head(response))) {
            // Cancelled before the head arrived: make the write callback abort the transfer.
            bodyStorage.cancel()
        }
    }

    // MARK: - Completion from the loop

    /// The transfer left the multi handle with `result`; resolve the caller or end the body.
    func finish(result: CURLcode) {
        guard result == CURLE_OK else {
            fail(transportError(result))
            return
        }
        if bodyStorage != nil {
            if !headDelivered { deliverHead() }
            bodyStorage?.finish(error: nil)
            return
        }
        var responseCode = 0
        if let easy, chorus_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &responseCode) == CURLE_OK,
            responseCode != 0
        {
            status = responseCode
        }
        let response = HTTPResponse(status: status, headers: headers, body: body, target: target)
        body = []
        complete(.success(.response(response)))
    }

    /// The error for a failed transfer; reads the error buffer, so call it before `detach()`.
    func transportError(_ result: CURLcode) -> HTTPClientError {
        if result == CURLE_WRITE_ERROR && bodyLimitExceeded {
            return HTTPClientError(
                code: .responseTooLarge, curlCode: Int(result.rawValue), target: target,
                detail: "body exceeds \(maxBodyBytes) bytes")
        }
        var detail = String(cString: errorBuffer)
        if detail.isEmpty { detail = curlDescription(result) }
        return HTTPClientError(
            code: HTTPClientError.Code(curlCode: result), curlCode: Int(result.rawValue), target: target,
            detail: redactingURL(detail))
    }

    /// libcurl's messages name hosts and ports, not URLs; this is a guard should one ever quote the query.
    private func redactingURL(_ detail: String) -> String {
        guard let queryStart = request.url.firstIndex(of: "?") else { return detail }
        let query = request.url[request.url.index(after: queryStart)...]
        guard !query.isEmpty else { return detail }
        return detail.replacing(query, with: "<redacted>")
    }

    private static let httpPrefix = Array("HTTP/".utf8)

    private static func parseStatus(_ line: Slice<UnsafeRawBufferPointer>) -> Int {
        guard let space = line.firstIndex(of: 0x20) else { return 0 }
        var code = 0
        for byte in line[(space + 1)...].prefix(3) {
            guard byte >= 0x30 && byte <= 0x39 else { return 0 }
            code = code * 10 + Int(byte - 0x30)
        }
        return code
    }
}

// MARK: - C entry points

/// CURLOPT_WRITEFUNCTION: userdata is the unretained CurlTransfer (see `attach`).
private let curlWriteCallback: chorus_curl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
}

/// CURLOPT_HEADERFUNCTION: userdata is the unretained CurlTransfer (see `attach`).
private let curlHeaderCallback: chorus_curl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
}

extension String {
    func trimmingASCIISpaces() -> String {
        let utf8 = self.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        return String(self[first...last])
    }
}
