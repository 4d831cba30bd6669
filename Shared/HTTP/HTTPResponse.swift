import Foundation

/// A complete HTTP response: status, headers and the whole body.
///
/// Any status counts as a response; ``checked(now:)`` turns a failure status into ``HTTPStatusError``.
public struct HTTPResponse: Sendable {
    /// The status code (`200`, `429`).
    public var status: Int
    /// The response headers of the final response (interim `1xx` responses are dropped).
    public var headers: HTTPHeaders
    /// The response body, decoded from chunked transfer encoding.
    public var body: [UInt8]

    /// The request this answers, kept to name it in errors (its query string is never printed).
    let target: RequestTarget

    init(status: Int, headers: HTTPHeaders, body: [UInt8], target: RequestTarget) {
        self.status = status
        self.headers = headers
        self.body = body
        self.target = target
    }

    /// The typed failure this status stands for, or nil for `1xx`–`3xx`.
    ///
    /// - Parameter now: The wall-clock time that an HTTP-date `Retry-After` is measured from.
    public func failure(now: Date = Date()) -> HTTPStatusError? {
        HTTPStatusError(status: status, headers: headers, responseBody: body, target: target, now: now)
    }

    /// Returns this response when its status is `1xx`–`3xx`, and throws ``HTTPStatusError`` otherwise.
    ///
    /// `let response = try await client.execute(request).checked()`
    public func checked(now: Date = Date()) throws(HTTPStatusError) -> HTTPResponse {
        if let failure = failure(now: now) { throw failure }
        return self
    }
}

extension HTTPResponse: CustomStringConvertible {
    /// Status and body size; no header values, no body.
    public var description: String { "HTTPResponse(status: \(status), body: \(body.count) bytes)" }
}
