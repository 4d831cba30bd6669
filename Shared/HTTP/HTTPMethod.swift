/// An HTTP request method.
///
/// A struct rather than an enum, so uncommon methods need no new case.
public struct HTTPMethod: Sendable, Hashable, CustomStringConvertible {
    /// The method token as sent (`GET`, `POST`).
    public let rawValue: String

    /// Creates a method from its token.
    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public static let get = HTTPMethod("GET")
    public static let head = HTTPMethod("HEAD")
    public static let post = HTTPMethod("POST")
    public static let put = HTTPMethod("PUT")
    public static let patch = HTTPMethod("PATCH")
    public static let delete = HTTPMethod("DELETE")
    public static let options = HTTPMethod("OPTIONS")

    public var description: String { rawValue }
}
