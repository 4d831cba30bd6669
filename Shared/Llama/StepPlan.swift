/// How one continuous-batching step is composed: a token for every sequence that is generating, then
/// prompt chunks of the sequences still reading their prompts, within a row budget.
///
/// Pure and value-typed, so the engine's fairness rules are tested without a model.
struct StepPlan: Equatable {
    /// Prompt rows a step may carry while other sequences are generating. Small, so that a long prompt
    /// joining the batch delays the running sequences' next tokens by a few micro-batches at most.
    static let promptRowsWhileGenerating = 64

    /// One sequence's share of the step.
    struct Entry: Equatable {
        /// The slot (the engine's index of the sequence).
        var slot: Int
        /// Rows in this step: 1 for a generating sequence, a prompt chunk's length otherwise.
        var rows: Int
        /// Whether this is the sequence's last prompt chunk (so its logits are wanted).
        var completesPrompt: Bool
    }

    private(set) var entries: [Entry] = []

    /// Plans a step.
    /// - Parameters:
    ///   - generating: Slots with a sampled token to decode, in admission order.
    ///   - prefilling: Slots still reading their prompt with how many prompt tokens remain, in admission
    ///     order (the oldest is served first, so prompts complete one after another rather than all late).
    ///   - batchSize: The most rows one decode call takes.
    init(generating: [Int], prefilling: [(slot: Int, remaining: Int)], batchSize: Int) {
        var rows = 0
        for slot in generating where rows < batchSize {
            entries.append(Entry(slot: slot, rows: 1, completesPrompt: false))
            rows += 1
        }
        let promptBudget = generating.isEmpty ? batchSize : min(batchSize, rows + Self.promptRowsWhileGenerating)
        for (slot, remaining) in prefilling where rows < promptBudget && remaining > 0 {
            let take = min(remaining, promptBudget - rows)
            entries.append(Entry(slot: slot, rows: take, completesPrompt: take == remaining))
            rows += take
        }
    }

    /// Rows in the whole step.
    var rowCount: Int { entries.reduce(0) { $0 + $1.rows } }

    /// Splits a step's compute time among its entries in proportion to their rows, in whole nanoseconds
    /// that add up exactly to `nanoseconds` (the remainder goes to the first entries, one each).
    func apportion(_ nanoseconds: Int64) -> [Int64] {
        let total = Int64(rowCount)
        guard total > 0 else { return [] }
        var shares = entries.map { nanoseconds * Int64($0.rows) / total }
        var remainder = nanoseconds - shares.reduce(0, +)
        var index = 0
        while remainder > 0 {
            shares[index % shares.count] += 1
            remainder -= 1
            index += 1
        }
        return shares
    }
}
