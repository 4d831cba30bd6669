import Foundation
import LoadGenerator
import Synchronization

/// Runs a schedule open loop: each request starts when due, in its own task, whatever the others do.
enum OpenLoop {
    /// What one answered request tells: its id in the system under test, the model time if the answer
    /// carried it, and when the answer was seen.
    struct Answer: Sendable {
        var id: String
        var modelMilliseconds: Double?
        var answeredAt: ContinuousClock.Instant
    }

    enum Outcome: Sendable {
        case answered(id: String, milliseconds: Double, modelMilliseconds: Double?, at: ContinuousClock.Instant)
        case failed(String)
    }

    /// The outcomes in due order (nil: still unanswered at the drain timeout) and how the sender kept time.
    struct Run: Sendable {
        var schedule: ArrivalSchedule
        var outcomes: [Outcome?]
        var maxSlip: Duration
        var start: ContinuousClock.Instant
        var lastDue: ContinuousClock.Instant
    }

    /// Sends `schedule.count` requests at their due times and waits for them (at most `drainTimeout`
    /// after the last due time; then `onGiveUp` runs and the stragglers are cancelled).
    static func run(
        _ load: LoadOptions, send: @escaping @Sendable (Int) async throws -> Answer, onGiveUp: @Sendable () -> Void
    ) async throws -> Run {
        let schedule = load.schedule
        let outcomes = Locked<[Outcome?]>(Array(repeating: nil, count: schedule.count))
        let drainTimeout = load.drainTimeout
        var maxSlip = Duration.zero
        let start = ContinuousClock.now + .milliseconds(20)
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<schedule.count {
                let due = start + schedule.offset(of: index)
                try? await Task.sleep(until: due, tolerance: .zero, clock: .continuous)
                maxSlip = max(maxSlip, ContinuousClock.now - due)
                group.addTask {
                    let outcome: Outcome
                    do {
                        let answer = try await send(index)
                        outcome = .answered(
                            id: answer.id, milliseconds: (answer.answeredAt - due).milliseconds,
                            modelMilliseconds: answer.modelMilliseconds, at: answer.answeredAt)
                    } catch {
                        outcome = .failed(String(describing: error).prefix(200).description)
                    }
                    outcomes.withLock { $0[index] = outcome }
                    return false
                }
            }
            guard schedule.count > 0 else { return }
            group.addTask {
                try? await Task.sleep(for: drainTimeout)
                return !Task.isCancelled
            }
            var done = 0
            while let timedOut = await group.next() {
                if timedOut {
                    onGiveUp()
                    group.cancelAll()
                    break
                }
                done += 1
                if done == schedule.count {
                    group.cancelAll()
                    break
                }
            }
        }
        return Run(
            schedule: schedule, outcomes: outcomes.withLock { $0 }, maxSlip: maxSlip, start: start,
            lastDue: start + schedule.span)
    }
}

/// A value behind a lock that escaping closures can share (a `Mutex` itself cannot be captured).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { value in body(&value) }
    }
}

extension OpenLoop.Run {
    /// Prints the summary line (JSON) and writes the per-request records.
    func report(_ load: LoadOptions) throws {
        var latencies: [Double?] = []
        var records = ""
        var failures: [String: Int] = [:]
        var answeredAt: [ContinuousClock.Instant] = []
        for outcome in outcomes {
            switch outcome {
            case .answered(let id, let milliseconds, let model, let at):
                latencies.append(milliseconds)
                answeredAt.append(at)
                records += "\(id)\t\(milliseconds)\t\(model.map { String($0) } ?? "")\n"
            case .failed(let reason):
                latencies.append(nil)
                failures[reason, default: 0] += 1
            case nil:
                latencies.append(nil)
                failures["unanswered at the drain timeout", default: 0] += 1
            }
        }
        answeredAt.sort()
        // Throughput of answers: answers per second between the first and the last one.
        let achieved: Double
        if answeredAt.count > 1, let first = answeredAt.first, let last = answeredAt.last, last > first {
            achieved = Double(answeredAt.count - 1) / ((last - first).milliseconds / 1000)
        } else {
            achieved = 0
        }
        let summary = LatencySummary(milliseconds: latencies.compactMap { $0 })
        let verdict = RunVerdict(latenciesInDueOrder: latencies)
        let drain = answeredAt.last.map { max(.zero, $0 - lastDue).milliseconds } ?? 0
        let line = Summary(
            label: load.label, rate: schedule.rate, sent: schedule.count, answered: summary.count,
            failed: schedule.count - summary.count, achieved: (achieved * 10).rounded() / 10,
            p50_ms: summary.p50, p90_ms: summary.p90, p99_ms: summary.p99, max_ms: summary.max,
            max_send_slip_ms: maxSlip.milliseconds, drain_ms: drain,
            first_quarter_p50_ms: verdict.firstQuarterP50.isFinite ? verdict.firstQuarterP50 : -1,
            last_quarter_p50_ms: verdict.lastQuarterP50.isFinite ? verdict.lastQuarterP50 : -1,
            // A pipeline that stalls answers late from the first request on: flat latency, but answers
            // slower than offered, or in a catch-up burst faster than offered.
            sustained: verdict.sustained && abs(achieved - schedule.rate) <= 0.1 * schedule.rate, failures: failures.sorted { $0.value > $1.value }.prefix(3).map { "\($0.value)× \($0.key)" })
        if let path = load.records { try records.write(toFile: path, atomically: true, encoding: .utf8) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        print(String(decoding: try encoder.encode(line), as: UTF8.self))
    }

    struct Summary: Encodable {
        var label: String
        var rate: Double
        var sent: Int
        var answered: Int
        var failed: Int
        var achieved: Double
        var p50_ms, p90_ms, p99_ms, max_ms: Double
        var max_send_slip_ms: Double
        var drain_ms: Double
        var first_quarter_p50_ms, last_quarter_p50_ms: Double
        var sustained: Bool
        var failures: [String]
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return ((Double(seconds) * 1000 + Double(attoseconds) / 1e15) * 1000).rounded() / 1000
    }
}
