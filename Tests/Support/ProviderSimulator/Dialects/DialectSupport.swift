#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird

enum DialectSupport {
    /// Decodes `T` from `body`; failures name the field, never the body's content.
    static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer) throws(RequestProblem) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw RequestProblem(describe(error))
        } catch {
            throw RequestProblem("the request body could not be read")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing required field `\(path(context.codingPath + [key]))`"
        case .valueNotFound(_, let context):
            return "field `\(path(context.codingPath))` must not be null"
        case .typeMismatch(_, let context):
            return "field `\(path(context.codingPath))` has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "the request body is not valid JSON"
                : "field `\(path(context.codingPath))` is invalid"
        @unknown default:
            return "the request body could not be read"
        }
    }

    /// The value of the header named `name` (lowercase), without naming HTTPTypes' field type.
    static func header(_ name: String, in request: Request) -> String? {
        request.headers.first { $0.name.canonicalName == name }?.value
    }
}

/// Text from a field that is either a string or an array of parts with `text` (OpenAI content
/// parts, Anthropic content blocks); non-text parts are skipped, `null` reads as empty.
struct FlexibleText: Decodable, Sendable {
    var text: String

    private struct Part: Decodable {
        var text: String?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            text = ""
        } else if let string = try? container.decode(String.self) {
            text = string
        } else {
            text = try container.decode([Part].self).compactMap(\.text).joined()
        }
    }
}
