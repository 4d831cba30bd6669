import Foundation

/// Reads a judge's best-of reply strictly.
///
/// The reply must be exactly one JSON object `{"winner": "<label>", "reason": "<text>"}` (a
/// surrounding Markdown code fence is tolerated, nothing else). Anything else is an unusable verdict
/// (never a pass), and the caller falls back to a deterministic rule and says so.
public enum VerdictParser {
    public struct Verdict: Sendable, Hashable {
        public var winner: String
        public var reason: String?
    }

    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ reply: String, labels: [String]) -> Result<Verdict, Failure> {
        var text = reply.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("```") {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.count >= 3, lines.last?.trimmingCharacters(in: .whitespaces) == "```" else {
                return .failure(Failure(description: "the verdict is an unterminated code block"))
            }
            lines.removeFirst()
            lines.removeLast()
            text = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard text.hasPrefix("{"), text.hasSuffix("}") else {
            return .failure(Failure(description: "the verdict is not a single JSON object"))
        }
        struct Wire: Decodable {
            var winner: String
            var reason: String?
        }
        let wire: Wire
        do {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
            guard let dictionary = object as? [String: Any] else {
                return .failure(Failure(description: "the verdict is not a JSON object"))
            }
            let unexpected = Set(dictionary.keys).subtracting(["winner", "reason"])
            guard unexpected.isEmpty else {
                return .failure(
                    Failure(description: "the verdict has unexpected fields: \(unexpected.sorted().joined(separator: ", "))"))
            }
            wire = try JSONDecoder().decode(Wire.self, from: Data(text.utf8))
        } catch {
            return .failure(Failure(description: "the verdict is not valid JSON with a string \"winner\""))
        }
        let winner = wire.winner.trimmingCharacters(in: .whitespaces).uppercased()
        guard labels.contains(winner) else {
            return .failure(
                Failure(
                    description: "the verdict names \"\(wire.winner.prefix(20))\", not one of \(labels.joined(separator: ", "))"))
        }
        return .success(Verdict(winner: winner, reason: wire.reason))
    }
}
