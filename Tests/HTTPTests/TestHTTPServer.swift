import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A minimal loopback HTTP/1.1 server for the client tests: POSIX sockets, one thread per connection,
/// keep-alive, Content-Length and chunked responses. It stands in for an LLM provider's API.
///
/// Routes: `/echo` (body back, plus `X-Echo-*` headers describing the request), `/slow?ms=N` (answers
/// after N ms unless the client hangs up first), `/status/N` (429 carries `Retry-After: 2`), `/chunked`,
/// `/sse` (events split across chunks, with small delays), `/sse-cut` (closes mid-stream).
final class TestHTTPServer: Sendable {
    let port: Int
    private let listenSocket: Int32
    private let state = Mutex(State())
    /// Paths of requests as they arrive, for tests that must act once a request is in flight.
    let arrivals: AsyncStream<String>
    private let arrivalsContinuation: AsyncStream<String>.Continuation

    private struct State {
        var acceptedConnections = 0
        var openSockets: Set<Int32> = []
        var stopped = false
    }

    /// TCP connections accepted so far.
    var acceptedConnections: Int { state.withLock { $0.acceptedConnections } }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError.socket(errno) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 512) == 0 else {
            close(fd)
            throw ServerError.socket(errno)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listenSocket = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        (arrivals, arrivalsContinuation) = AsyncStream.makeStream(of: String.self)

        let thread = Thread { [self] in acceptLoop() }
        thread.name = "test-http-accept"
        thread.start()
    }

    /// A base URL such as `http://127.0.0.1:4242`.
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting and closes every connection.
    func stop() {
        let sockets = state.withLock { state -> Set<Int32> in
            state.stopped = true
            return state.openSockets
        }
        shutdown(listenSocket, Int32(SHUT_RDWR))
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        arrivalsContinuation.finish()
    }

    deinit {
        close(listenSocket)
    }

    enum ServerError: Error {
        case socket(Int32)
    }

    // MARK: - Connections

    private func acceptLoop() {
        while true {
            let fd = accept(listenSocket, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let accepted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.acceptedConnections += 1
                state.openSockets.insert(fd)
                return true
            }
            guard accepted else {
                close(fd)
                return
            }
            var yes: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            let thread = Thread { [self] in
                serve(fd)
                state.withLock { _ = $0.openSockets.remove(fd) }
                close(fd)
            }
            thread.name = "test-http-conn"
            thread.start()
        }
    }

    private struct Request {
        var method: String
        var path: String
        var query: [String: String]
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        while let request = readRequest(fd, &buffer) {
            arrivalsContinuation.yield(request.path)
            let keepAlive = request.header("Connection")?.lowercased() != "close"
            guard respond(to: request, on: fd), keepAlive else { return }
        }
    }

    private func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> Request? {
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while true {
            if let end = buffer.firstRange(of: terminator)?.upperBound {
                headerEnd = end
                break
            }
            guard receive(fd, into: &buffer) else { return nil }
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: buffer[..<(headerEnd - 4)], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        let target = String(requestLine[1])
        let pathAndQuery = target.split(separator: "?", maxSplits: 1)
        var query: [String: String] = [:]
        if pathAndQuery.count == 2 {
            for pair in pathAndQuery[1].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[String(parts[0])] = parts.count == 2 ? String(parts[1]) : ""
            }
        }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var request = Request(
            method: String(requestLine[0]), path: String(pathAndQuery[0]), query: query, headers: headers, body: [])
        let length = Int(request.header("Content-Length") ?? "0") ?? 0
        while buffer.count < headerEnd + length {
            guard receive(fd, into: &buffer) else { return nil }
        }
        request.body = Array(buffer[headerEnd..<(headerEnd + length)])
        buffer.removeFirst(headerEnd + length)
        return request
    }

    private func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    private func send(_ fd: Int32, _ text: String) -> Bool {
        send(fd, Array(text.utf8))
    }

    // MARK: - Routes

    /// Writes the response; false when the connection must close.
    private func respond(to request: Request, on fd: Int32) -> Bool {
        switch request.path {
        case "/echo":
            var headers = [
                ("Content-Type", "application/octet-stream"),
                ("X-Echo-Method", request.method),
                ("X-Echo-Content-Type", request.header("Content-Type") ?? "-"),
                ("X-Echo-Custom", request.header("X-Custom") ?? "-"),
                ("X-Echo-User-Agent", request.header("User-Agent") ?? "-"),
                ("X-Echo-Expect", request.header("Expect") ?? "-"),
            ]
            headers.append(("X-Multi", "a"))
            headers.append(("X-Multi", "b"))
            return sendResponse(fd, status: 200, headers: headers, body: request.body)
        case "/slow":
            // Waits for the delay, or until the client hangs up (a timed-out or cancelled request), so a
            // long delay leaves no thread sleeping behind the test.
            let milliseconds = Int32(request.query["ms"] ?? "0") ?? 0
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) == 0 else { return false }
            return sendResponse(fd, status: 200, headers: [], body: Array("slow".utf8))
        case "/chunked":
            return sendChunked(fd, contentType: "text/plain", pieces: ["hello, ", "chunked ", "world"], cut: false)
        case "/sse":
            return sendChunked(fd, contentType: "text/event-stream", pieces: Self.ssePieces, cut: false)
        case "/sse-cut":
            return sendChunked(fd, contentType: "text/event-stream", pieces: Self.ssePieces.prefix(3), cut: true)
        default:
            if request.path.hasPrefix("/status/"), let status = Int(request.path.dropFirst("/status/".count)) {
                let headers = status == 429 ? [("Retry-After", "2")] : []
                return sendResponse(fd, status: status, headers: headers, body: Array("status \(status)".utf8))
            }
            return sendResponse(fd, status: 404, headers: [], body: Array("no route".utf8))
        }
    }

    /// Four events cut at awkward places: inside field names, between CR and LF, inside the blank line.
    static let ssePieces = [
        ": keep-alive comment\n\nevent: gree",
        "ting\ndata: hel",
        "lo\n\ndata: line one\nda",
        "ta: line two\n",
        "\nid: 7\r",
        "\ndata: {\"x\":1}\r\n\r",
        "\ndata: done\n\n",
    ]

    private func sendResponse(_ fd: Int32, status: Int, headers: [(String, String)], body: [UInt8]) -> Bool {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        return send(fd, Array(head.utf8) + body)
    }

    private func sendChunked<Pieces: Sequence<String>>(_ fd: Int32, contentType: String, pieces: Pieces, cut: Bool)
        -> Bool
    {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: \(contentType)\r\nTransfer-Encoding: chunked\r\n\r\n"
        guard send(fd, head) else { return false }
        for piece in pieces {
            let bytes = Array(piece.utf8)
            guard send(fd, String(bytes.count, radix: 16) + "\r\n" + piece + "\r\n") else { return false }
            usleep(5_000)  // separate TCP segments, so the client sees separate chunks
        }
        if cut { return false }  // close without the terminating zero-length chunk
        return send(fd, "0\r\n\r\n")
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 404: "Not Found"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        default: "Status"
        }
    }
}
