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

    /// `GET`
    public static let get = HTTPMethod("GET")
    /// `HEAD`
    public static let head = HTTPMethod("HEAD")
    /// `POST`
    public static let post = HTTPMethod("POST")
    /// `PUT`
    public static let put = HTTPMethod("PUT")
    /// `PATCH`
    public static let patch = HTTPMethod("PATCH")
    /// `DELETE`
    public static let delete = HTTPMethod("DELETE")
    /// `OPTIONS`
    public static let options = HTTPMethod("OPTIONS")

    /// The method token.
    public var description: String { rawValue }
}
