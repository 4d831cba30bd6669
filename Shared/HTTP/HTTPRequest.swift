/// One HTTP request: method, absolute URL, headers, body and time limits.
///
/// `description` and `dump` show the method, scheme, host, port and path only: never the query string
/// (Gemini takes `?key=`), header values or the body.
public struct HTTPRequest: Sendable {
    /// The request method.
    public var method: HTTPMethod
    /// The absolute `http://` or `https://` URL, query string included.
    ///
    /// - Important: The query string may hold a secret; it is sent but never printed by this module.
    public var url: String
    /// The request headers. `Content-Length`, `Host` and `Expect` are managed by the client.
    public var headers: HTTPHeaders
    /// The request body (sent when non-empty, or always for `POST`).
    public var body: [UInt8]
    /// The limit on the whole exchange, connecting through the last body byte; nil takes the client's default.
    ///
    /// For a streamed response this covers the whole stream too: give long streams a long limit.
    public var timeout: Duration?
    /// The limit on establishing the connection (DNS, TCP, TLS); nil takes the client's default.
    public var connectTimeout: Duration?

    /// Creates a request.
    public init(
        method: HTTPMethod = .get,
        url: String,
        headers: HTTPHeaders = [:],
        body: [UInt8] = [],
        timeout: Duration? = nil,
        connectTimeout: Duration? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// What errors and logs may say about this request: method, scheme, host, port and path.
    var target: RequestTarget { RequestTarget(method: method, url: url) }
}

extension HTTPRequest: CustomStringConvertible, CustomReflectable {
    /// `METHOD scheme://host:port/path`, without query string, headers or body.
    public var description: String { target.description }

    /// Mirrors `description` only, so `dump(request)` prints no secrets.
    public var customMirror: Mirror {
        Mirror(self, children: ["target": description, "bodyBytes": body.count], displayStyle: .struct)
    }
}
