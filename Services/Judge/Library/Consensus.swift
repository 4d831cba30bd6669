import Foundation

/// Deterministic choices that need no model: the fallback when a judge's verdict is unusable, and
/// majority voting.
public enum Consensus {
    /// The candidate that agrees most with the others (highest mean word-set Jaccard similarity);
    /// ties go to the earlier pool index. With fewer than three candidates agreement says nothing,
    /// so the first candidate in pool order is chosen.
    ///
    /// - Returns: the chosen position in `texts`, and the rule as a sentence for the answer's rationale.
    public static func fallbackChoice(_ texts: [String]) -> (position: Int, rule: String) {
        precondition(!texts.isEmpty, "fallbackChoice needs at least one candidate")
        guard texts.count >= 3 else {
            return (0, "the first candidate in pool order was chosen")
        }
        let sets = texts.map { Set(words($0)) }
        var best = 0
        var bestScore = -1.0
        for i in sets.indices {
            var total = 0.0
            for j in sets.indices where j != i { total += jaccard(sets[i], sets[j]) }
            // Scores are compared as exact rationals would be: the same texts give the same winner.
            if total > bestScore + 1e-12 {
                best = i
                bestScore = total
            }
        }
        return (best, "the candidate agreeing most with the others was chosen")
    }

    /// The outcome of a vote.
    public enum VoteOutcome: Sendable, Hashable {
        /// One normalized answer has strictly the most votes; `position` is its first candidate.
        case majority(position: Int, votes: Int, of: Int)
        /// Several answers share the most votes; positions of the first candidate of each.
        case tie(positions: [Int], votes: Int)
    }

    /// Majority over the answers' extracted final answers (self-consistency).
    public static func vote(_ texts: [String]) -> VoteOutcome {
        var counts: [String: (first: Int, votes: Int)] = [:]
        for (position, text) in texts.enumerated() {
            let key = finalAnswer(text)
            counts[key, default: (position, 0)].votes += 1
        }
        let top = counts.values.map(\.votes).max() ?? 0
        let leaders = counts.values.filter { $0.votes == top }.map(\.first).sorted()
        if leaders.count == 1 { return .majority(position: leaders[0], votes: top, of: texts.count) }
        return .tie(positions: leaders, votes: top)
    }

    /// What a short answer answers, as self-consistency votes on it: the last number of a short
    /// answer ("2 + 2 = 4" and "The answer is 4." both say 4), a leading yes or no, else the whole
    /// normalized text. Long answers are compared whole: extraction would be a guess.
    public static func finalAnswer(_ text: String) -> String {
        let normalized = normalize(text)
        let words = normalized.split(separator: " ")
        guard words.count <= 12 else { return normalized }
        if let first = words.first, first == "yes" || first == "no" { return String(first) }
        if let number = words.last(where: { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "."))) != nil }) {
            return String(number).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        return normalized
    }

    /// A short answer reduced to what it says: case, punctuation, Markdown emphasis and lead-ins
    /// ("The answer is", "Answer:") removed, whitespace collapsed.
    public static func normalize(_ text: String) -> String {
        var s = text.lowercased()
        s = s.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "__", with: "")
        for lead in ["the answer is", "final answer:", "answer:", "a:"] where s.trimmingCharacters(in: .whitespaces).hasPrefix(lead) {
            s = String(s.trimmingCharacters(in: .whitespaces).dropFirst(lead.count))
        }
        let kept = s.unicodeScalars.map { scalar -> Character in
            (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == ".") ? Character(scalar) : " "
        }
        let collapsed = String(kept).split(separator: " ").joined(separator: " ")
        return collapsed.trimmingCharacters(in: CharacterSet(charactersIn: ". "))
    }

    static func words(_ text: String) -> [String] {
        normalize(text).split(separator: " ").map(String.init)
    }

    static func jaccard(_ a: Set<String>, _ b: Set<String>) -> Double {
        if a.isEmpty && b.isEmpty { return 1 }
        return Double(a.intersection(b).count) / Double(a.union(b).count)
    }
}
