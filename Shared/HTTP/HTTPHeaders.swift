/// An ordered list of HTTP header fields with case-insensitive lookup.
///
/// Names keep the spelling they were given; lookups ignore ASCII case. A name may appear more than once.
/// `description` prints names only for headers known to hold secrets (`Authorization`, `x-api-key`,
/// `x-goog-api-key`, cookies), so logging a header list does not leak credentials.
public struct HTTPHeaders: Sendable, Hashable {
    /// One header field.
    public struct Field: Sendable, Hashable {
        /// The field name as given (matching ignores ASCII case).
        public var name: String
        /// The field value, without surrounding whitespace.
        public var value: String

        /// Creates a field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in order.
    public private(set) var fields: [Field]

    /// Creates a header list from fields in order.
    public init(_ fields: [Field] = []) {
        self.fields = fields
    }

    /// Appends a field, keeping fields of the same name.
    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every field of this name with one field (appends when absent).
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Removes every field of this name.
    public mutating func remove(name: String) {
        fields.removeAll { Self.namesMatch($0.name, name) }
    }

    /// The value of the first field of this name, or nil.
    public subscript(name: String) -> String? {
        fields.first { Self.namesMatch($0.name, name) }?.value
    }

    /// The values of every field of this name, in order.
    public func values(for name: String) -> [String] {
        fields.lazy.filter { Self.namesMatch($0.name, name) }.map(\.value)
    }

    /// Whether a field of this name is present.
    public func contains(name: String) -> Bool {
        fields.contains { Self.namesMatch($0.name, name) }
    }

    /// Appends folded text to the last field's value (obsolete header line folding).
    mutating func extendLastValue(with text: String) {
        guard !fields.isEmpty else { return }
        fields[fields.count - 1].value += " " + text
    }

    /// ASCII case-insensitive comparison without allocating lowercased copies.
    static func namesMatch(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs.utf8.makeIterator()
        var right = rhs.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return true
            case (let l?, let r?):
                if l != r && asciiLower(l) != asciiLower(r) { return false }
            default: return false
            }
        }
    }

    @inline(__always)
    static func asciiLower(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }

    /// Header names whose values are credentials and never printed.
    static let secretNames = [
        "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "set-cookie",
    ]

    static func isSecret(_ name: String) -> Bool {
        secretNames.contains { namesMatch($0, name) }
    }
}

extension HTTPHeaders: ExpressibleByDictionaryLiteral {
    /// Creates a header list from `["Name": "value"]` pairs, in literal order.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { Field(name: $0.0, value: $0.1) })
    }
}

extension HTTPHeaders: Sequence {
    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }
}

extension HTTPHeaders: CustomStringConvertible, CustomDebugStringConvertible {
    /// The fields with the values of credential headers replaced by `<redacted>`.
    public var description: String {
        let rendered = fields.map { field in
            "\(field.name): \(Self.isSecret(field.name) ? "<redacted>" : field.value)"
        }
        return "[" + rendered.joined(separator: ", ") + "]"
    }

    /// Same as `description`: credentials stay redacted.
    public var debugDescription: String { description }
}

extension HTTPHeaders: CustomReflectable {
    /// Mirrors the redacted rendering, so `dump(headers)` does not print credentials either.
    public var customMirror: Mirror {
        Mirror(self, children: ["fields": description], displayStyle: .struct)
    }
}
