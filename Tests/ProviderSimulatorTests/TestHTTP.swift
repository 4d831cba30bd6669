import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What a real HTTP client (URLSession over libcurl on Linux) saw of one exchange.
struct HTTPExchange: Sendable {
    /// `nil` when no response head arrived (a hang, a refused connection).
    var status: Int?
    /// Lowercased names.
    var headers: [String: String]
    /// The body bytes received, even when the transfer then failed.
    var body: [UInt8]
    /// The transport error that ended the exchange (a timeout, a connection closed mid-body).
    var failure: URLError.Code?

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object; throws when it is not one.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw NotAnObject()
        }
        return object
    }

    /// The `data:` payloads of a server-sent event stream, in order (CRLF or LF framing).
    var eventData: [String] {
        text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .filter { $0.hasPrefix("data: ") }
            .map { String($0.dropFirst("data: ".count)) }
    }

    /// The `event:` names of a server-sent event stream, in order.
    var eventNames: [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .filter { $0.hasPrefix("event: ") }
            .map { String($0.dropFirst("event: ".count)) }
    }

    struct NotAnObject: Error {}
}

enum TestHTTP {
    /// Sends one request on a fresh session and collects whatever comes back.
    static func send(
        _ url: String, method: String = "POST", headers: [String: String] = [:], body: String? = nil,
        timeout: TimeInterval = 30
    ) async -> HTTPExchange {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = timeout
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        return await withCheckedContinuation { continuation in
            let delegate = CollectingDelegate(continuation)
            let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
            session.dataTask(with: request).resume()
            session.finishTasksAndInvalidate()
        }
    }

    /// JSON-encodes `object` (test request bodies).
    static func json(_ object: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}

/// Collects the body as it arrives, so a transfer that fails half-way still shows what came.
private final class CollectingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var body: [UInt8] = []
    private var continuation: CheckedContinuation<HTTPExchange, Never>?

    init(_ continuation: CheckedContinuation<HTTPExchange, Never>) {
        self.continuation = continuation
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.withLock { body.append(contentsOf: data) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let response = task.response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in response?.allHeaderFields ?? [:] {
            headers[String(describing: name).lowercased()] = String(describing: value)
        }
        let failure: URLError.Code? = error.map { ($0 as? URLError)?.code ?? URLError.Code.unknown }
        let (body, continuation) = lock.withLock { () -> ([UInt8], CheckedContinuation<HTTPExchange, Never>?) in
            defer { self.continuation = nil }
            return (self.body, self.continuation)
        }
        continuation?.resume(
            returning: HTTPExchange(status: response?.statusCode, headers: headers, body: body, failure: failure))
    }
}
