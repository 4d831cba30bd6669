#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import ServiceLifecycle

extension ProviderSimulator {
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/chat/completions") { request, _ in
            try await self.answer(OpenAIDialect.self, request, target: ChatTarget())
        }
        router.post("/v1/messages") { request, _ in
            try await self.answer(AnthropicDialect.self, request, target: ChatTarget())
        }
        for version in ["v1beta", "v1"] {
            router.post("/\(version)/models/{target}") { request, context in
                // `{model}:{method}` is one path component.
                let target = try context.parameters.require("target")
                let decodedTarget = target.removingPercentEncoding ?? target
                guard let colon = decodedTarget.lastIndex(of: ":") else {
                    return Self.errorResponse(GeminiDialect.self, status: 404, message: "Method not found.")
                }
                let model = String(decodedTarget[..<colon])
                let stream: Bool
                switch decodedTarget[decodedTarget.index(after: colon)...] {
                case "generateContent": stream = false
                case "streamGenerateContent": stream = true
                default: return Self.errorResponse(GeminiDialect.self, status: 404, message: "Method not found.")
                }
                let serverSentEvents = request.uri.queryParameters["alt"] == "sse"
                return try await self.answer(
                    GeminiDialect.self, request,
                    target: ChatTarget(model: model, stream: stream, serverSentEvents: serverSentEvents))
            }
        }
        addControlRoutes(to: router)
        return router
    }

    // MARK: - Answering

    /// Reads, authenticates and answers one chat request in `Dialect`'s shape.
    private func answer<Dialect: ProviderDialect>(
        _ dialect: Dialect.Type, _ request: Request, target: ChatTarget
    ) async throws -> Response {
        let ticket = InFlightTicket(self)
        let arrival = ContinuousClock.now
        var request = request
        let body = try await request.collectBody(upTo: configuration.maxRequestBodySize)
        let decoded = Result { () throws(RequestProblem) in try Dialect.decode(body, target: target) }
        let model = (try? decoded.get())?.request.model ?? target.model ?? "-"

        if let expected = configuration.apiKey {
            let presented = Dialect.apiKey(in: request)
            if !Self.sameKey(presented, expected) {
                let message = Dialect.authenticationFailure(keyPresent: presented != nil)
                return reject(Dialect.self, model: model, RequestProblem(status: 401, message))
            }
        }
        if let problem = Dialect.headerProblem(in: request) {
            return reject(Dialect.self, model: model, RequestProblem(problem))
        }
        let chat: DecodedChat
        switch decoded {
        case .success(let value): chat = value
        case .failure(let problem): return reject(Dialect.self, model: model, problem)
        }

        let admission = state.withLock { $0.admit(model: chat.request.model) }
        var reply: SimulatedReply?
        switch admission.decision {
        case .answer, .malformed, .cutStream:
            if admission.step?.content == nil { reply = admission.responder?(chat.request) }
        case .fail, .hang:
            break
        }
        let delay = latency(of: admission, reply: reply)
        if delay > .zero { try await Task.sleep(for: delay) }

        switch admission.decision {
        case .fail(let status, let retryAfter):
            return Self.errorResponse(
                Dialect.self, status: status, message: "Simulated error \(status) from the provider simulator.",
                retryAfter: retryAfter)
        case .hang:
            // Holds the request until the client gives up (its connection closes) or the server shuts down.
            try await request.body.consumeWithCancellationOnInboundClose { _ in await Self.waitForShutdown() }
            return Self.errorResponse(Dialect.self, status: 503, message: "The provider simulator is shutting down.")
        case .answer, .malformed, .cutStream:
            let answer = SimulatedAnswer(
                request: chat.request, step: admission.step, reply: reply, behavior: admission.behavior,
                sequence: admission.sequence, created: Int(Date().timeIntervalSince1970))
            if chat.request.stream {
                let interval = admission.behavior.chunkInterval ?? configuration.chunkInterval
                return Self.streamResponse(
                    Dialect.streamEvents(answer, chat: chat), decision: admission.decision, interval: interval,
                    ticket: ticket)
            }
            var response = Self.answerResponse(Dialect.answerBody(answer), decision: admission.decision)
            // The model time as the simulator spent it, for benchmarks of gateways that keep no trail.
            response.headers[Self.elapsedHeader] = Self.milliseconds(ContinuousClock.now - arrival)
            return response
        }
    }

    private func reject<Dialect: ProviderDialect>(
        _ dialect: Dialect.Type, model: String, _ problem: RequestProblem
    ) -> Response {
        state.withLock { $0.reject(model: model, status: problem.status) }
        return Self.errorResponse(Dialect.self, status: problem.status, message: problem.message)
    }

    /// The step's or reply's latency as given, else the model's (or default) latency moved by jitter.
    private func latency(of admission: SimulatorState.Admission, reply: SimulatedReply?) -> Duration {
        if let fixed = admission.step?.latency ?? reply?.latency { return fixed }
        let base = admission.behavior.latency ?? configuration.latency
        let jitter = admission.behavior.jitter ?? configuration.jitter
        return max(.zero, base + jitter * admission.jitterUnit)
    }

    // MARK: - Responses

    /// `x-simulator-elapsed-ms` on every whole (non-streamed) answer: milliseconds from the request's
    /// arrival to its answer, the simulated latency included.
    static let elapsedHeader = HTTPFields.Element.Name("x-simulator-elapsed-ms")!

    private static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }

    private static func answerResponse(_ json: String, decision: SimulatorState.Admission.Decision) -> Response {
        let headers: HTTPFields = [.contentType: "application/json"]
        switch decision {
        case .malformed:
            // A strict prefix of a JSON object is never valid JSON.
            let whole = ByteBuffer(string: json)
            let broken = whole.getSlice(at: whole.readerIndex, length: whole.readableBytes / 2)!
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: broken))
        case .cutStream:
            let whole = ByteBuffer(string: json)
            let body = ResponseBody(contentLength: whole.readableBytes) { writer in
                try await writer.write(whole.getSlice(at: whole.readerIndex, length: whole.readableBytes / 2)!)
                throw SimulatedCut()
            }
            return Response(status: .ok, headers: headers, body: body)
        default:
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
        }
    }

    private static func streamResponse(
        _ events: StreamEvents, decision: SimulatorState.Admission.Decision, interval: Duration, ticket: InFlightTicket
    ) -> Response {
        let body = ResponseBody { writer in
            // The request stays in flight until its last byte is written.
            defer { withExtendedLifetime(ticket) {} }
            let pieces: [String]
            switch decision {
            case .cutStream: pieces = events.cut
            case .malformed: pieces = events.malformed
            default: pieces = events.opening + events.deltas + events.closing
            }
            if interval > .zero {
                for (index, piece) in pieces.enumerated() {
                    if index > 0 { try await Task.sleep(for: interval) }
                    try await writer.write(ByteBuffer(string: piece))
                }
            } else {
                try await writer.write(ByteBuffer(string: pieces.joined()))
            }
            // Closing the connection without the final chunk is what a dropped upstream stream looks like.
            if decision == .cutStream { throw SimulatedCut() }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: events.contentType, .cacheControl: "no-cache"], body: body)
    }

    static func errorResponse<Dialect: ProviderDialect>(
        _ dialect: Dialect.Type, status: Int, message: String, retryAfter: Duration? = nil
    ) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter {
            let (seconds, attoseconds) = retryAfter.components
            headers[.retryAfter] = String(max(0, seconds + (attoseconds > 0 ? 1 : 0)))
        }
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: Dialect.errorBody(status: status, message: message))))
    }

    // MARK: - Helpers

    /// Compares keys in time independent of where they differ.
    private static func sameKey(_ presented: String?, _ expected: String) -> Bool {
        guard let presented else { return false }
        var difference: UInt8 = presented.utf8.count == expected.utf8.count ? 0 : 1
        for (a, b) in zip(presented.utf8, expected.utf8) { difference |= a ^ b }
        return difference == 0
    }

    /// Suspends until the task is cancelled or graceful shutdown begins.
    private static func waitForShutdown() async {
        let signal = OneShotSignal()
        await withTaskCancellationOrGracefulShutdownHandler {
            await signal.wait()
        } onCancelOrGracefulShutdown: {
            signal.fire()
        }
    }
}

/// Thrown by a response body to close the connection mid-answer.
struct SimulatedCut: Error {}
