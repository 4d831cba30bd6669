import Foundation

/// A response whose status line and headers arrived, with the body still streaming in.
///
/// Consume ``body`` (or ``HTTPBody/serverSentEvents()``) from one task. Dropping the response without
/// consuming the body to its end cancels the transfer and frees its connection slot.
public struct HTTPStreamingResponse: Sendable {
    /// The status code.
    public let status: Int
    /// The response headers.
    public let headers: HTTPHeaders
    /// The body as it arrives, chunk by chunk; an error from the sequence means the body was cut short.
    public let body: HTTPBody

    let target: RequestTarget

    init(status: Int, headers: HTTPHeaders, body: HTTPBody, target: RequestTarget) {
        self.status = status
        self.headers = headers
        self.body = body
        self.target = target
    }

    /// The typed failure this status stands for, or nil for `1xx`–`3xx`. The error's `responseBody` is empty:
    /// read ``body`` first with ``HTTPBody/collect(upTo:)`` when the error body matters.
    public func failure(now: Date = Date()) -> HTTPStatusError? {
        HTTPStatusError(status: status, headers: headers, responseBody: [], target: target, now: now)
    }

    /// Returns this response when its status is `1xx`–`3xx`, and throws ``HTTPStatusError`` otherwise
    /// (which also cancels the body transfer once the response is dropped).
    public func checked(now: Date = Date()) throws(HTTPStatusError) -> HTTPStreamingResponse {
        if let failure = failure(now: now) { throw failure }
        return self
    }
}

extension HTTPStreamingResponse: CustomStringConvertible {
    /// The status only.
    public var description: String { "HTTPStreamingResponse(status: \(status))" }
}
