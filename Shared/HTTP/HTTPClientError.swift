/// A request that got no complete HTTP response: timeout, refused connection, DNS or TLS failure,
/// a response cut short, or a client that is shut down.
///
/// Responses that did arrive, whatever their status, are not errors here; turn them into
/// ``HTTPStatusError`` with ``HTTPResponse/checked(now:)``.
///
/// The description names the method, scheme, host, port and path, never the query string, headers or bodies.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. A struct with static members, so new codes do not break exhaustive switches.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: Sendable, Hashable {
            case timedOut, connectionFailed, hostResolutionFailed, tlsFailed, sendFailed, responseIncomplete
            case invalidRequest, responseTooLarge, shutDown, streamAlreadyConsumed, other
        }

        private let kind: Kind

        /// The request's `timeout` or `connectTimeout` ran out.
        public static let timedOut = Code(kind: .timedOut)
        /// The TCP connection was refused or the host unreachable.
        public static let connectionFailed = Code(kind: .connectionFailed)
        /// The host name (or proxy name) did not resolve.
        public static let hostResolutionFailed = Code(kind: .hostResolutionFailed)
        /// The TLS handshake or certificate check failed.
        public static let tlsFailed = Code(kind: .tlsFailed)
        /// Sending the request failed (the peer closed or reset the connection).
        public static let sendFailed = Code(kind: .sendFailed)
        /// The connection closed or failed before the whole response arrived (including empty replies).
        public static let responseIncomplete = Code(kind: .responseIncomplete)
        /// The request was malformed: bad URL, unsupported scheme, a header with CR/LF, an unknown method.
        public static let invalidRequest = Code(kind: .invalidRequest)
        /// A buffered response body passed the client's `maxResponseBodyBytes`.
        public static let responseTooLarge = Code(kind: .responseTooLarge)
        /// The client was shut down before or during the request.
        public static let shutDown = Code(kind: .shutDown)
        /// A streamed body was iterated twice at once; iterate a body from one task only.
        public static let streamAlreadyConsumed = Code(kind: .streamAlreadyConsumed)
        /// Any other libcurl failure; see `curlCode`.
        public static let other = Code(kind: .other)

        public var description: String {
            switch kind {
            case .timedOut: "timed out"
            case .connectionFailed: "connection failed"
            case .hostResolutionFailed: "host resolution failed"
            case .tlsFailed: "TLS failed"
            case .sendFailed: "sending failed"
            case .responseIncomplete: "response incomplete"
            case .invalidRequest: "invalid request"
            case .responseTooLarge: "response too large"
            case .shutDown: "client shut down"
            case .streamAlreadyConsumed: "stream already being consumed"
            case .other: "transfer failed"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// The libcurl `CURLcode`, when libcurl reported the failure.
    public let curlCode: Int?
    /// The request method.
    public let method: HTTPMethod
    /// The host the request went to.
    public let host: String
    /// The port the request went to (explicit or the scheme's default), when known.
    public let port: Int?
    /// The URL path, without query string.
    public let path: String
    /// libcurl's detail message (from its error buffer), with the query string scrubbed; may be empty.
    public let detail: String

    /// Whether sending the same request again may succeed: timeouts, refused connections, DNS failures,
    /// connections dropped mid-exchange. Not for TLS failures, invalid requests, oversize bodies or shutdown.
    ///
    /// - Important: A retried non-idempotent request (a POST) may run twice on the server when the first
    ///   attempt failed after sending; the caller's retry policy decides whether that is acceptable.
    public var isRetriable: Bool {
        switch code {
        case .timedOut, .connectionFailed, .hostResolutionFailed, .sendFailed, .responseIncomplete: true
        default: false
        }
    }

    init(code: Code, curlCode: Int? = nil, target: RequestTarget, detail: String = "") {
        self.code = code
        self.curlCode = curlCode
        self.method = target.method
        self.host = target.host
        self.port = target.port
        self.path = target.path
        self.detail = detail
    }

    public var description: String {
        let hostAndPort = port.map { "\(host):\($0)" } ?? host
        var text = "HTTP \(method.rawValue) \(hostAndPort)\(path): \(code)"
        if let curlCode {
            text += " (curl \(curlCode)"
            text += detail.isEmpty ? ")" : ": \(detail))"
        } else if !detail.isEmpty {
            text += " (\(detail))"
        }
        return text
    }
}
