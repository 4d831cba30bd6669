import Catalog
import ChorusRuntime
import Contracts
import Foundation
import HTTP
import Logging
import Metrics
import Synchronization

/// One upstream attempt, as recorded for billing and the trail: failed attempts are visible too.
public struct AttemptRecord: Sendable, Equatable {
    public var attempt: Int
    public var provider: String
    public var failure: ErrorInfo?
    public var usage: TokenUsage
    public var latencyMs: Int64
    /// Whether the provider bills it (it produced tokens).
    public var billable: Bool
}

/// The outcome of one model call: the response for the judge, every attempt for billing.
public struct CallResult: Sendable {
    public var response: ModelResponse
    public var attempts: [AttemptRecord]
}

/// Calls a remote model for a ``ModelCall``: the catalog's providers in order (or the pinned one),
/// each with bounded retries, a concurrency limit and a circuit breaker, within the call's deadline.
public final class ProviderCaller: Sendable {
    public let catalog: ModelCatalog
    private let http: HTTPClient
    private let keys: [String: Secret]
    private let limits: [String: AsyncSemaphore]
    private let breakers: Mutex<[String: CircuitBreaker]>
    private let logger: Logger
    private let clock: @Sendable () -> Int64

    /// - Parameter keys: API keys by provider name (read from each provider's `api_key_env`).
    public init(
        catalog: ModelCatalog, http: HTTPClient, keys: [String: Secret], logger: Logger,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    ) {
        self.catalog = catalog
        self.http = http
        self.keys = keys
        self.logger = logger
        self.clock = clock
        self.limits = catalog.providers.mapValues { AsyncSemaphore(limit: $0.maxConcurrency) }
        self.breakers = Mutex(catalog.providers.mapValues { _ in CircuitBreaker() })
    }

    /// Reads each provider's key from the environment (or `<VAR>_FILE`). Missing keys are not an
    /// error here: a call to that provider fails with `auth_missing` and fails over.
    public static func keys(for catalog: ModelCatalog, reader: ConfigurationReader) throws -> [String: Secret] {
        var keys: [String: Secret] = [:]
        for (name, provider) in catalog.providers {
            if let variable = provider.apiKeyEnvironment, let secret = try reader.secret(environment: variable) {
                keys[name] = secret
            }
        }
        return keys
    }

    /// Each upstream attempt's latency: `chorus_provider_request_seconds{provider,model,outcome}`, a
    /// histogram; `outcome` is `ok` or the failure's code (`timeout`, `rate_limited`, …).
    static let latency = MetricFamily<Metrics.Timer>(timer: "chorus_provider_request_seconds", labels: ["provider", "model", "outcome"])

    /// Never throws: every failure becomes the response's `error`, with every attempt recorded.
    public func call(_ call: ModelCall) async -> CallResult {
        let started = clock()
        var attempts: [AttemptRecord] = []
        var failures: [String] = []
        var lastFailure: ProviderFailure?
        let routes: [ProviderRoute]
        do {
            routes = try catalog.resolve(call.provider.map { "\(call.model):\($0)" } ?? call.model).routes
        } catch {
            return result(call, started, attempts, .failure(ProviderFailure(code: error.code.rawValue, message: error.message, isRetriable: false)))
        }
        routes: for route in routes {
            guard let provider = catalog.providers[route.provider] else { continue }
            if provider.apiKeyEnvironment != nil && keys[route.provider] == nil {
                let failure = ProviderFailure(
                    code: "auth_missing", message: "\(route.provider): \(provider.apiKeyEnvironment!) is not set", isRetriable: false)
                failures.append(failure.message)
                lastFailure = failure
                continue
            }
            let allowed = breakers.withLock { $0[route.provider, default: CircuitBreaker()].allow(nowMs: clock()) }
            guard allowed else {
                let failure = ProviderFailure(
                    code: "circuit_open", message: "\(route.provider) is failing; its circuit is open", isRetriable: false)
                failures.append(failure.message)
                lastFailure = failure
                continue
            }
            let policy = RetryPolicy(maxAttempts: provider.maxRetries + 1, baseDelay: .milliseconds(200), maxDelay: .seconds(5))
            var attempt = 1
            while true {
                let remainingMs = call.deadlineMs - clock()
                if remainingMs <= 0 {
                    let failure = ProviderFailure(
                        code: "timeout", message: "\(call.model) did not answer before the call's deadline", isRetriable: false)
                    return result(call, started, attempts, .failure(failure), tried: failures)
                }
                let outcome = await attemptOnce(call, route: route, provider: provider, timeoutMs: remainingMs)
                Self.latency(route.provider, call.model, outcome.failure?.code ?? "ok").recordMilliseconds(outcome.latencyMs)
                let record = AttemptRecord(
                    attempt: attempts.count + 1, provider: route.provider, failure: outcome.failure?.errorInfo,
                    usage: outcome.reply?.usage ?? .zero, latencyMs: outcome.latencyMs, billable: outcome.reply != nil)
                attempts.append(record)
                if let reply = outcome.reply {
                    breakers.withLock { $0[route.provider]?.recordSuccess() }
                    return result(call, started, attempts, .success((reply, route.provider)))
                }
                let failure = outcome.failure!
                lastFailure = failure
                if failure.isRetriable { breakers.withLock { $0[route.provider]?.recordFailure(nowMs: clock()) } }
                logger.debug(
                    "provider attempt failed",
                    metadata: [LogKey.requestID: "\(call.requestID)", LogKey.provider: "\(route.provider)", LogKey.error: "\(failure.code)"])
                guard failure.isRetriable,
                    let wait = policy.delay(
                        afterAttempt: attempt, retryAfter: failure.retryAfter,
                        remaining: .milliseconds(call.deadlineMs - clock()), random: Double.random(in: 0..<1))
                else {
                    failures.append(failure.message)
                    continue routes
                }
                try? await Task.sleep(for: wait)
                attempt += 1
            }
        }
        let final = lastFailure ?? ProviderFailure(code: "no_provider", message: "\(call.model) has no provider", isRetriable: false)
        return result(call, started, attempts, .failure(final), tried: failures)
    }

    private struct AttemptOutcome {
        var reply: ProviderReply?
        var failure: ProviderFailure?
        var latencyMs: Int64
    }

    private func attemptOnce(_ call: ModelCall, route: ProviderRoute, provider: ProviderConfig, timeoutMs: Int64) async -> AttemptOutcome {
        let started = clock()
        do {
            return try await limits[route.provider]!.withPermit {
                let built = try ProviderProtocol.request(for: call, route: route, provider: provider, apiKey: keys[route.provider])
                var headers = HTTPHeaders()
                for (name, value) in built.headers { headers.add(name: name, value: value) }
                let timeout = min(provider.timeout, .milliseconds(timeoutMs))
                let response = try await http.execute(
                    HTTPRequest(method: .post, url: built.url, headers: headers, body: built.body, timeout: timeout))
                let retryAfter = response.headers.values(for: "Retry-After").first.flatMap {
                    HTTPStatusError.parseRetryAfter($0, now: Date())
                }
                switch ProviderProtocol.reply(
                    kind: provider.kind, status: response.status, body: response.body, retryAfter: retryAfter, providerName: route.provider)
                {
                case .success(let reply): return AttemptOutcome(reply: reply, failure: nil, latencyMs: clock() - started)
                case .failure(let failure): return AttemptOutcome(reply: nil, failure: failure, latencyMs: clock() - started)
                }
            }
        } catch let error as HTTPClientError {
            let code = error.code == .timedOut ? "timeout" : "transport_error"
            let message = error.code == .timedOut
                ? "\(route.provider) did not answer within \(timeoutMs) ms"
                : "\(route.provider): \(error.description)"
            return AttemptOutcome(
                reply: nil, failure: ProviderFailure(code: code, message: message, isRetriable: error.isRetriable),
                latencyMs: clock() - started)
        } catch is CancellationError {
            return AttemptOutcome(
                reply: nil, failure: ProviderFailure(code: "cancelled", message: "the call was cancelled", isRetriable: false),
                latencyMs: clock() - started)
        } catch {
            return AttemptOutcome(
                reply: nil, failure: ProviderFailure(code: "internal_error", message: "the request could not be built", isRetriable: false),
                latencyMs: clock() - started)
        }
    }

    private func result(
        _ call: ModelCall, _ started: Int64, _ attempts: [AttemptRecord],
        _ outcome: Result<(ProviderReply, String), ProviderFailure>, tried: [String] = []
    ) -> CallResult {
        let latency = clock() - started
        switch outcome {
        case .success(let (reply, provider)):
            return CallResult(
                response: ModelResponse(
                    callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                    model: call.model, provider: provider, content: reply.content, error: nil, finishReason: reply.finishReason,
                    latencyMs: latency, usage: reply.usage, attempts: attempts.count),
                attempts: attempts)
        case .failure(let failure):
            var message = failure.message
            if tried.count > 1 { message = "every provider failed: " + tried.joined(separator: "; ") }
            return CallResult(
                response: ModelResponse(
                    callID: call.callID, requestID: call.requestID, role: call.role, round: call.round, index: call.index,
                    model: call.model, provider: attempts.last?.provider, content: nil,
                    error: ErrorInfo(code: failure.code, message: message), finishReason: nil, latencyMs: latency,
                    usage: .zero, attempts: max(attempts.count, 1)),
                attempts: attempts)
        }
    }
}
