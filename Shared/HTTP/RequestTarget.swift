/// The printable part of a request: method, scheme, host, port and path, parsed from the URL only when an
/// error or log line needs it (never on the success path).
///
/// The query string, fragment and any `user:password@` are dropped: they may hold secrets.
struct RequestTarget: Sendable, CustomStringConvertible {
    let method: HTTPMethod
    let scheme: String
    let host: String
    /// The explicit port, or the scheme's default (80 / 443), or nil when neither is known.
    let port: Int?
    let path: String

    init(method: HTTPMethod, url: String) {
        self.method = method
        var rest = Substring(url)
        if let schemeEnd = rest.range(of: "://") {
            scheme = rest[..<schemeEnd.lowerBound].lowercased()
            rest = rest[schemeEnd.upperBound...]
        } else {
            scheme = ""
        }
        // Authority ends at the first '/', '?' or '#'.
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        var hostPart = authority
        var explicitPort: Int?
        if authority.hasPrefix("[") {
            // IPv6 literal: [::1]:8080
            if let close = authority.firstIndex(of: "]") {
                hostPart = authority[...close]
                let afterClose = authority[authority.index(after: close)...]
                if afterClose.hasPrefix(":") { explicitPort = Int(afterClose.dropFirst()) }
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            explicitPort = Int(authority[authority.index(after: colon)...])
        }
        host = String(hostPart)
        port = explicitPort ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : nil)

        let afterAuthority = rest[authorityEnd...]
        let pathEnd = afterAuthority.firstIndex { $0 == "?" || $0 == "#" } ?? afterAuthority.endIndex
        let rawPath = afterAuthority[..<pathEnd]
        path = rawPath.isEmpty ? "/" : String(rawPath)
    }

    /// `host:port`, the way connection errors name a peer.
    var hostAndPort: String {
        port.map { "\(host):\($0)" } ?? host
    }

    var description: String {
        let schemePrefix = scheme.isEmpty ? "" : "\(scheme)://"
        return "\(method.rawValue) \(schemePrefix)\(hostAndPort)\(path)"
    }
}
