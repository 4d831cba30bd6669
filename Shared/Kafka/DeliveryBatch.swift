import Synchronization

/// Delivery reports of the messages of one send call, and the task awaiting them.
///
/// Completed from the producer's poll thread (or by the sender when enqueueing fails); the sender
/// awaits ``wait()`` once every message is enqueued.
final class DeliveryBatch: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        var continuation: CheckedContinuation<[KafkaDeliveryReport], any Error>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    func complete(_ index: Int, with result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished = state.withLock { state -> (CheckedContinuation<[KafkaDeliveryReport], any Error>, Result<[KafkaDeliveryReport], KafkaError>)? in
            guard case .none = state.results[index] else { return nil }
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (continuation, Self.outcome(state.results))
        }
        if let (continuation, outcome) = finished {
            continuation.resume(with: outcome)
        }
    }

    /// Waits for every report; throws the first failure (in message order) if any message failed.
    ///
    /// Not cancellable: enqueued messages cannot be taken back, and librdkafka reports each one
    /// within the producer's delivery timeout.
    func wait() async throws -> [KafkaDeliveryReport] {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<[KafkaDeliveryReport], KafkaError>? in
                guard state.remaining == 0 else {
                    state.continuation = continuation
                    return nil
                }
                return Self.outcome(state.results)
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    private static func outcome(_ results: [Result<KafkaDeliveryReport, KafkaError>?]) -> Result<[KafkaDeliveryReport], KafkaError> {
        var reports: [KafkaDeliveryReport] = []
        reports.reserveCapacity(results.count)
        for result in results {
            switch result {
            case .success(let report): reports.append(report)
            case .failure(let error): return .failure(error)
            case nil: preconditionFailure("outcome of an unfinished batch")
            }
        }
        return .success(reports)
    }
}
