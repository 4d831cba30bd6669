/// A secret value (an API key, a password) that never prints itself.
///
/// `description`, `debugDescription` and string interpolation show `<redacted>`; the value is
/// reachable only through ``exposed``, which a reader of the code can grep for.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself. Pass it only to the one place that needs it (an HTTP header, a C API).
    public var exposed: String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
