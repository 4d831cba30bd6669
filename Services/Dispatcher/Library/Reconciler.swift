import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import Trail

/// The reconciler's settings (`reconciler.*` in config/chorus.yaml, `CHORUS_RECONCILER_*`).
public struct ReconcilerSettings: Sendable {
    /// `reconciler.interval`: how often PostgreSQL is scanned for overdue requests. Default 5s.
    public var interval: Duration
    /// `reconciler.grace`: how long a request may stay unanswered past its full deadline (pool,
    /// debate rounds, judge) before it is resumed. Default 30s.
    public var grace: Duration
    /// `reconciler.max_resumes`: resumes before an unanswered request is answered `failed`
    /// (code `not_recovered`), so that no request stays open forever. Default 3.
    public var maxResumes: Int
    /// `reconciler.batch`: requests resumed per scan at most. Default 100.
    public var batch: Int

    public init(interval: Duration = .seconds(5), grace: Duration = .seconds(30), maxResumes: Int = 3, batch: Int = 100) {
        self.interval = interval
        self.grace = grace
        self.maxResumes = maxResumes
        self.batch = batch
    }

    public init(reader: ConfigurationReader) throws {
        let defaults = ReconcilerSettings()
        interval = try reader.duration("reconciler.interval", default: defaults.interval)
        grace = try reader.duration("reconciler.grace", default: defaults.grace)
        maxResumes = try reader.int("reconciler.max_resumes", default: defaults.maxResumes, range: 0...1000)
        batch = try reader.int("reconciler.batch", default: defaults.batch, range: 1...10_000)
    }
}

/// Resumes requests that have no answer past their deadline, from PostgreSQL, the source of truth.
///
/// Kafka is transport only: the broker may lose every topic, and any service may die between
/// recording and publishing. Ingest opens an `open_requests` row with each request; recording the
/// answer closes it. Every `interval`, the reconciler claims the rows overdue by more than `grace`
/// (`FOR UPDATE SKIP LOCKED`, then pushed one full request span into the future, so several
/// dispatcher instances never resume the same request at once) and hands each to
/// ``DispatcherStage/dispatch(_:resumingAtMs:)``: the plan again, the recorded pool responses again,
/// the missing pool calls again. The judge rebuilds the fusion from them and re-issues its own calls,
/// which the workers answer from the record when they ran before: nothing is paid for twice, and the
/// answer row is written once (first write wins). After `max_resumes` the request is answered
/// `failed` with the reason.
public final class Reconciler: Service, Sendable {
    private let settings: ReconcilerSettings
    private let dispatcher: DispatcherStage
    private let catalog: ModelCatalog
    private let infrastructure: StageInfrastructure
    private let resumed = Counter(label: "chorus_reconciler_resumed_total")
    private let givenUp = Counter(label: "chorus_reconciler_given_up_total")
    private var logger: Logger { infrastructure.logger }

    public init(settings: ReconcilerSettings, dispatcher: DispatcherStage, catalog: ModelCatalog, infrastructure: StageInfrastructure) {
        self.settings = settings
        self.dispatcher = dispatcher
        self.catalog = catalog
        self.infrastructure = infrastructure
    }

    public func run() async throws {
        // A graceful shutdown cancels the wait between scans at once; a scan cut short is repeated
        // by the next reconciler (its claims expire after one request span).
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.settings.interval)
                guard !Task.isCancelled else { return }
                do {
                    _ = try await self.reconcile()
                } catch {
                    // A database or broker outage: the next scan tries again, nothing is lost meanwhile.
                    self.logger.warning(
                        "reconciler scan failed; retrying next interval", metadata: [LogKey.error: "\(ServiceMain.describe(error))"])
                }
            }
        }
    }

    /// One scan: resumes (or, past `max_resumes`, fails) every overdue request; returns how many it handled.
    @discardableResult
    public func reconcile() async throws -> Int {
        let graceMs = settings.grace.wholeMilliseconds
        let claimed = try await infrastructure.database.query("""
            UPDATE open_requests o
            SET resumes = o.resumes + 1, next_check_at = now() + o.span_ms * interval '1 millisecond'
            WHERE o.request_id IN (
                SELECT request_id FROM open_requests
                WHERE namespace = \(Topics.current.namespace) AND next_check_at <= now() - \(graceMs) * interval '1 millisecond'
                ORDER BY next_check_at LIMIT \(settings.batch)
                FOR UPDATE SKIP LOCKED)
            RETURNING o.request_id, o.resumes
            """).map { try $0.decode((String, Int).self) }
        let store = TrailStore(database: infrastructure.database)
        for (position, (id, resumes)) in claimed.enumerated() {
            do {
                guard let request = try await store.storedRequest(id: id) else { continue }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                if resumes > settings.maxResumes {
                    try await giveUp(request, after: resumes - 1, nowMs: now)
                    givenUp.increment()
                    continue
                }
                logger.warning(
                    "resuming a request with no answer past its deadline",
                    metadata: [LogKey.requestID: "\(id)", "resume": "\(resumes)"])
                try await dispatcher.dispatch(request, resumingAtMs: now)
                resumed.increment()
            } catch {
                // The broker or the database is away: this resume and the ones not reached did not
                // happen, so they must not count toward max_resumes (best effort: the claims expire anyway).
                for (unreached, _) in claimed[position...] {
                    try? await infrastructure.database.execute(
                        "UPDATE open_requests SET resumes = greatest(resumes - 1, 0) WHERE request_id = \(unreached)")
                }
                throw error
            }
        }
        return claimed.count
    }

    /// Answers `failed` a request that resumes did not bring to an answer.
    private func giveUp(_ request: FusionRequest, after resumes: Int, nowMs: Int64) async throws {
        let store = TrailStore(database: infrastructure.database)
        let responses = try await store.storedResponses(requestID: request.id)
        let pool = Dictionary(responses.filter { $0.role == .pool }.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        let candidates = request.pool.indices.map { index in
            let (model, pinned) = ModelCall.splitReference(request.pool[index])
            let response = pool[index]
            return Candidate(
                model: model, provider: response?.provider ?? pinned, content: response?.error == nil ? response?.content : nil,
                error: response?.error ?? (response == nil ? ErrorInfo(code: "no_answer", message: "\(model) gave no answer") : nil),
                latencyMs: response?.latencyMs ?? 0, usage: response?.usage ?? .zero)
        }
        let answer = Answer(
            id: request.id, project: request.project, status: .failed, mode: request.mode, answer: nil, candidates: candidates,
            verdict: nil, usage: responses.reduce(.zero) { $0 + $1.usage },
            costUSD: responses.reduce(Money.zero) { $0 + catalog.cost(of: $1) }, latencyMs: nowMs - request.acceptedAtMs,
            error: ErrorInfo(
                code: "not_recovered",
                message: "the request had no answer past its deadline and \(resumes) resumes did not complete it"))
        logger.error("giving up on a request", metadata: [LogKey.requestID: "\(request.id)", "resumes": "\(resumes)"])
        if try await store.recordAnswer(answer) {
            try await infrastructure.publish(answer, to: Topics.answers, key: request.id)
        }
    }
}
