import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Hummingbird
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Dispatch
import Trail

/// The OpenAI-compatible HTTP front door, served by ingest: requests go into the same pipeline as
/// `chorus.requests` (validated and recorded here, then straight to the dispatcher).
///
/// `POST /v1/chat/completions` (`model` is `chorus/<preset>` for fusion or a catalog model for a
/// single call; an optional `chorus` object sets pool, judge, mode and options; `stream: true` gives
/// server-sent events), `GET /v1/models`, `GET /v1/requests/{id}`, `GET /healthz`, `GET /readyz`.
/// Every error is in OpenAI's error shape.
public final class FrontDoor: Service, Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var maxBodyBytes: Int
        /// How long a request may wait for its answer beyond its own timeouts.
        public var answerGrace: Duration
        /// `http.rate_limit` / `CHORUS_HTTP_RATE_LIMIT`: requests per second per API key (bursts up to `http.burst`).
        public var rateLimit: Int
        public var burst: Int
        /// `http.max_in_flight` / `CHORUS_HTTP_MAX_IN_FLIGHT`: chat completions held at once; more are refused (503).
        public var maxInFlight: Int

        public init(reader: ConfigurationReader) throws {
            host = try reader.string("http.host", default: "127.0.0.1")
            port = try reader.int("http.port", default: 8080, range: 0...65_535)
            maxBodyBytes = try reader.int("http.max_body_bytes", default: 1 << 20, range: 1024...(64 << 20))
            answerGrace = try reader.duration("http.answer_grace", default: .seconds(30))
            rateLimit = try reader.int("http.rate_limit", default: 50, range: 1...1_000_000)
            burst = try reader.int("http.burst", default: 100, range: 1...1_000_000)
            maxInFlight = try reader.int("http.max_in_flight", default: 512, range: 1...1_000_000)
        }
    }

    private let settings: Settings
    private let stage: IngestStage
    let catalog: ModelCatalog
    private let keys: APIKeys
    let trail: TrailStore
    private let waiters: AnswerWaiters
    private let logger: Logger
    private let limiter: Mutex<RateLimiter>
    /// Chat completions held now, at most `http.max_in_flight`.
    private let inFlight: AsyncSemaphore
    private let checkBroker: @Sendable () async throws -> Void
    /// Told the port once the server listens (the heartbeat advertises it).
    private let onListening: @Sendable (Int) -> Void

    public init(
        settings: Settings, stage: IngestStage, catalog: ModelCatalog, keys: APIKeys, trail: TrailStore, waiters: AnswerWaiters,
        logger: Logger, checkBroker: @escaping @Sendable () async throws -> Void,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.checkBroker = checkBroker
        self.onListening = onListening
        self.settings = settings
        self.stage = stage
        self.catalog = catalog
        self.keys = keys
        self.trail = trail
        self.waiters = waiters
        self.logger = logger
        self.limiter = Mutex(RateLimiter(rate: Double(settings.rateLimit), burst: settings.burst))
        self.inFlight = AsyncSemaphore(limit: settings.maxInFlight)
    }

    public func run() async throws {
        let logger = self.logger
        let onListening = self.onListening
        let application = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? -1
                logger.info("http front door listening", metadata: ["http.port": "\(port)"])
                onListening(port)
            },
            logger: logger)
        try await application.runService()
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestCounter())
        router.get("/healthz") { _, _ in Self.json(.ok, #"{"status":"ok"}"#) }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: ChorusMetrics.exposition())))
        }
        router.get("/readyz") { _, _ in
            do {
                _ = try await self.trail.database.query("SELECT 1")
            } catch {
                return Self.error(.serviceUnavailable, "the database does not answer", type: "service_unavailable", code: "not_ready")
            }
            do {
                try await self.checkBroker()
            } catch {
                return Self.error(.serviceUnavailable, "the Kafka broker does not answer", type: "service_unavailable", code: "not_ready")
            }
            return Self.json(.ok, #"{"status":"ready","database":"ok","kafka":"ok"}"#)
        }
        router.get("/v1/models") { request, _ in
            guard try await self.authenticate(request) != nil else { return Self.unauthorized() }
            return Self.json(.ok, self.modelList())
        }
        router.get("/v1/requests/{id}") { request, context in
            guard let project = try await self.authenticate(request) else { return Self.unauthorized() }
            let id = try context.parameters.require("id")
            // Another project's request is "not found" too: existence is not disclosed.
            guard let trail = try await self.requestTrail(id: id, project: project) else {
                return Self.error(.notFound, "no request \(id.prefix(128))", type: "invalid_request_error", code: "not_found")
            }
            return Self.json(.ok, trail)
        }
        router.post("/v1/chat/completions") { request, _ in
            guard let project = try await self.authenticate(request) else { return Self.unauthorized() }
            if let retryAfter = self.throttle(request) {
                var response = Self.error(
                    .tooManyRequests, "rate limit of \(self.settings.rateLimit) requests per second for this key reached; retry in \(retryAfter) s",
                    type: "rate_limit_error", code: "rate_limited")
                response.headers[.retryAfter] = String(retryAfter)
                return response
            }
            guard self.inFlight.tryAcquire() else {
                var response = Self.error(
                    .serviceUnavailable,
                    "this front door holds \(self.inFlight.limit) requests already (http.max_in_flight); retry in 1 s",
                    type: "service_unavailable", code: "overloaded")
                response.headers[.retryAfter] = "1"
                return response
            }
            defer { self.inFlight.release() }
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: self.settings.maxBodyBytes)
            } catch {
                return Self.error(.contentTooLarge, "the body is over \(self.settings.maxBodyBytes) bytes", type: "invalid_request_error", code: "body_too_large")
            }
            // The caller's trace continues here; a request without a valid one starts a new trace.
            let incoming = request.headers.first { $0.name.canonicalName == Headers.traceParent }.flatMap { TraceContext(traceParent: $0.value) }
            return try await self.chatCompletion(Array(buffer: body), project: project, trace: incoming?.child() ?? .random())
        }
        return router
    }

    // MARK: - Chat completions

    private func chatCompletion(_ body: [UInt8], project: String, trace: TraceContext) async throws -> Response {
        let wire: ChatCompletionRequest
        do {
            wire = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body))
        } catch let error as DecodingError {
            return Self.error(.badRequest, RequestValidator.describe(error), type: "invalid_request_error", code: "invalid_request")
        } catch {
            return Self.error(.badRequest, "the body is not valid JSON", type: "invalid_request_error", code: "invalid_request")
        }
        var submitted = SubmittedRequest(
            id: "req-" + UUID().uuidString.lowercased(), project: project, messages: wire.messages,
            pool: wire.chorus?.pool, judge: wire.chorus?.judge, mode: wire.chorus?.mode, options: wire.chorus?.options ?? SubmittedOptions())
        if wire.model.hasPrefix("chorus/") {
            submitted.preset = submitted.pool == nil ? String(wire.model.dropFirst("chorus/".count)) : nil
        } else {
            do { _ = try catalog.resolve(wire.model) } catch {
                return Self.error(.notFound, "the model \(wire.model.prefix(100)) does not exist", type: "invalid_request_error", code: "model_not_found")
            }
            submitted.pool = submitted.pool ?? [wire.model]
            submitted.mode = submitted.mode ?? FusionMode.bestOf.rawValue
        }
        var options = submitted.options ?? SubmittedOptions()
        options.maxTokens = options.maxTokens ?? wire.max_completion_tokens ?? wire.max_tokens
        options.temperature = options.temperature ?? wire.temperature
        submitted.options = options
        let id = submitted.id!

        // Its log lines carry the request and trace ids; what it publishes carries the trace on.
        let bytes = Array(try JSONEncoder().encode(submitted))
        let submission = try await MessageContext.$current.withValue(MessageContext(requestID: id, trace: trace)) {
            try await stage.submit(bytes, traceParent: trace.traceParent)
        }
        let wait = Duration.milliseconds((submitted.options?.timeoutMs ?? 30_000) * 3) + settings.answerGrace
        if wire.stream == true {
            return stream(submission: submission, id: id, model: wire.model, wait: wait)
        }
        switch submission {
        case .undecodable(let reason):
            return Self.error(.badRequest, reason, type: "invalid_request_error", code: "invalid_request")
        case .rejected(let answer):
            return Self.failure(answer)
        case .accepted, .repeated:
            guard let payload = try await waiters.answer(for: id, timeout: wait),
                let answer = try? JSONDecoder().decode(Answer.self, from: Data(payload.utf8))
            else {
                return Self.error(.gatewayTimeout, "no answer for \(id) in time; GET /v1/requests/\(id) shows its progress", type: "timeout", code: "timeout")
            }
            guard answer.status == .ok || answer.status == .partial else { return Self.failure(answer) }
            return Self.json(.ok, Self.completion(answer, model: wire.model, answerJSON: payload))
        }
    }

    private func stream(submission: IngestStage.Submission, id: String, model: String, wait: Duration) -> Response {
        let waiters = self.waiters
        let body = ResponseBody { writer in
            var answerJSON: String?
            switch submission {
            case .rejected(let answer):
                answerJSON = String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
            case .undecodable(let reason):
                try await writer.write(ByteBuffer(string: "data: \(Self.errorJSON(reason, type: "invalid_request_error", code: "invalid_request"))\n\ndata: [DONE]\n\n"))
                try await writer.finish(nil)
                return
            case .accepted, .repeated:
                // Keep-alive comments while the pool and the judge work.
                let deadline = ContinuousClock.now + wait
                while answerJSON == nil, ContinuousClock.now < deadline {
                    answerJSON = try await waiters.answer(for: id, timeout: min(.seconds(2), deadline - ContinuousClock.now))
                    if answerJSON == nil { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) }
                }
            }
            guard let answerJSON, let answer = try? JSONDecoder().decode(Answer.self, from: Data(answerJSON.utf8)) else {
                try await writer.write(ByteBuffer(string: "data: \(Self.errorJSON("no answer for \(id) in time", type: "timeout", code: "timeout"))\n\ndata: [DONE]\n\n"))
                try await writer.finish(nil)
                return
            }
            if answer.status == .ok || answer.status == .partial {
                for chunk in Self.chunks(answer, model: model, answerJSON: answerJSON) {
                    try await writer.write(ByteBuffer(string: "data: \(chunk)\n\n"))
                }
            } else {
                let error = answer.error ?? ErrorInfo(code: "failed", message: "the request failed")
                try await writer.write(ByteBuffer(string: "data: \(Self.errorJSON(error.message, type: Self.errorType(answer), code: error.code))\n\n"))
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: - Auth

    /// The rate limiter's verdict for the request's key (keyed by the key's public id).
    private func throttle(_ request: Request) -> Int? {
        let keyID = request.headers[.authorization]?.split(separator: "_").dropFirst().first.map(String.init) ?? "-"
        let now = DispatchTime.now().uptimeNanoseconds
        return limiter.withLock { limiter in
            if limiter.trackedKeys > 10_000 { limiter.prune(nowNanos: now) }
            return limiter.admit(keyID, nowNanos: now)
        }
    }

    private func authenticate(_ request: Request) async throws -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return try await keys.project(for: String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces))
    }
}

/// Counts HTTP requests by route and status: `chorus_http_requests_total{route, status}`.
///
/// Routes are the front door's own; any other path counts as `other`, so that a scan of random paths
/// cannot create a metric per path.
struct RequestCounter: RouterMiddleware {
    typealias Context = BasicRequestContext

    static let routes: Set<String> = ["/healthz", "/metrics", "/readyz", "/v1/models", "/v1/chat/completions"]
    static let requests = MetricFamily<Counter>(counter: "chorus_http_requests_total", labels: ["route", "status"])

    static func route(of path: String) -> String {
        if path.hasPrefix("/v1/requests/") { return "/v1/requests/{id}" }
        return routes.contains(path) ? path : "other"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = Self.route(of: request.uri.path)
        do {
            let response = try await next(request, context)
            Self.requests(route, String(response.status.code)).increment()
            return response
        } catch {
            Self.requests(route, "error").increment()
            throw error
        }
    }
}
