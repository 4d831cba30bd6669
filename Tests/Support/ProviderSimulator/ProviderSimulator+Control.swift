#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird

/// The control endpoints under `/_sim/`: model behaviours, scripts, stats.
///
/// They take no API key (the simulator is a loopback test tool). `{model}` may contain `/`
/// (`meta-llama/Llama-3.1-8B-Instruct`) and percent-escapes. Errors are `{"error":{"message":…}}`.
extension ProviderSimulator {
    func addControlRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/health") { _, _ in
            Self.controlResponse(.ok, #"{"status":"ok"}"#)
        }
        router.get("/_sim/stats") { _, _ in
            Self.controlResponse(.ok, self.stats.json())
        }
        router.delete("/_sim/stats") { _, _ in
            self.resetStats()
            return Response(status: .noContent)
        }
        router.post("/_sim/reset") { _, _ in
            self.reset()
            return Response(status: .noContent)
        }
        router.post("/_sim/models/**") { request, context in
            guard let model = Self.model(in: context) else { return Self.controlError("missing model name") }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            do throws(RequestProblem) {
                let payload = try DialectSupport.decode(BehaviorPayload.self, from: body)
                self.setBehavior(try payload.behavior(), for: model)
                return Response(status: .noContent)
            } catch {
                return Self.controlError(error.message)
            }
        }
        router.delete("/_sim/models/**") { _, context in
            guard let model = Self.model(in: context) else { return Self.controlError("missing model name") }
            self.setBehavior(nil, for: model)
            return Response(status: .noContent)
        }
        router.post("/_sim/script/**") { request, context in
            guard let model = Self.model(in: context) else { return Self.controlError("missing model name") }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            do throws(RequestProblem) {
                let payload = try DialectSupport.decode(ScriptPayload.self, from: body)
                var steps: [ScriptStep] = []
                for (index, step) in payload.steps.enumerated() { steps.append(try step.scriptStep(at: index)) }
                let queued = self.enqueue(steps, for: model)
                return Self.controlResponse(.ok, #"{"queued":\#(queued)}"#)
            } catch {
                return Self.controlError(error.message)
            }
        }
        router.delete("/_sim/script/**") { _, context in
            guard let model = Self.model(in: context) else { return Self.controlError("missing model name") }
            self.clearScript(for: model)
            return Response(status: .noContent)
        }
    }

    private static func model(in context: BasicRequestContext) -> String? {
        let raw = context.parameters.getCatchAll().joined(separator: "/")
        let model = raw.removingPercentEncoding ?? raw
        return model.isEmpty ? nil : model
    }

    private static func controlResponse(_ status: HTTPResponse.Status, _ json: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }

    private static func controlError(_ message: String) -> Response {
        controlResponse(.badRequest, #"{"error":{"message":\#(JSONText.string(message))}}"#)
    }
}

// MARK: - Payloads

/// `POST /_sim/models/{model}`: the whole behaviour; absent fields take the defaults.
struct BehaviorPayload: Decodable {
    var content: String?
    var latencyMs: Double?
    var jitterMs: Double?
    var chunkIntervalMs: Double?
    var promptTokens: Int?
    var completionTokens: Int?
    var cachedTokens: Int?
    var errorRate: Double?
    var errorStatus: Int?

    enum CodingKeys: String, CodingKey {
        case content
        case latencyMs = "latency_ms"
        case jitterMs = "jitter_ms"
        case chunkIntervalMs = "chunk_interval_ms"
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case cachedTokens = "cached_tokens"
        case errorRate = "error_rate"
        case errorStatus = "error_status"
    }

    func behavior() throws(RequestProblem) -> ModelBehavior {
        if let errorRate, !(0...1).contains(errorRate) { throw RequestProblem("error_rate must be within 0...1") }
        if let errorStatus, !(400...599).contains(errorStatus) {
            throw RequestProblem("error_status must be within 400...599")
        }
        return ModelBehavior(
            content: content,
            latency: try duration(latencyMs, "latency_ms"), jitter: try duration(jitterMs, "jitter_ms"),
            chunkInterval: try duration(chunkIntervalMs, "chunk_interval_ms"),
            promptTokens: try count(promptTokens, "prompt_tokens"),
            completionTokens: try count(completionTokens, "completion_tokens"),
            cachedTokens: try count(cachedTokens, "cached_tokens"),
            errorRate: errorRate ?? 0, errorStatus: errorStatus ?? 500)
    }
}

/// `POST /_sim/script/{model}`: `{"steps": [...]}`.
struct ScriptPayload: Decodable {
    var steps: [StepPayload]
}

/// One step: `{"status": 500}`, `{"status": 429, "retry_after": 2}`, `{"content": "…", "latency_ms": 50,
/// "prompt_tokens": 3, "completion_tokens": 4, "cached_tokens": 0}`, `{"hang": true}`,
/// `{"malformed": true}`, `{"cut_stream": true}`, `{"latency_ms": N}`.
struct StepPayload: Decodable {
    var status: Int?
    var retryAfter: Double?
    var content: String?
    var latencyMs: Double?
    var promptTokens: Int?
    var completionTokens: Int?
    var cachedTokens: Int?
    var hang: Bool?
    var malformed: Bool?
    var cutStream: Bool?

    enum CodingKeys: String, CodingKey {
        case status, content, hang, malformed
        case retryAfter = "retry_after"
        case latencyMs = "latency_ms"
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case cachedTokens = "cached_tokens"
        case cutStream = "cut_stream"
    }

    func scriptStep(at index: Int) throws(RequestProblem) -> ScriptStep {
        let failing = status.map { $0 != 200 } ?? false
        let actions = [failing, hang == true, malformed == true, cutStream == true].filter { $0 }.count
        guard actions <= 1 else {
            throw RequestProblem("steps.\(index): choose one of a non-200 status, hang, malformed, cut_stream")
        }
        if let status, status != 200, !(400...599).contains(status) {
            throw RequestProblem("steps.\(index).status must be 200 or within 400...599")
        }
        if retryAfter != nil && !failing {
            throw RequestProblem("steps.\(index).retry_after needs an error status")
        }
        let action: ScriptStep.Action
        if let status, failing {
            action = .fail(status: status, retryAfter: try duration(retryAfter.map { $0 * 1000 }, "steps.\(index).retry_after"))
        } else if hang == true {
            action = .hang
        } else if malformed == true {
            action = .malformed
        } else if cutStream == true {
            action = .cutStream
        } else {
            action = .answer
        }
        return ScriptStep(
            action, content: content, latency: try duration(latencyMs, "steps.\(index).latency_ms"),
            promptTokens: try count(promptTokens, "steps.\(index).prompt_tokens"),
            completionTokens: try count(completionTokens, "steps.\(index).completion_tokens"),
            cachedTokens: try count(cachedTokens, "steps.\(index).cached_tokens"))
    }
}

private func duration(_ milliseconds: Double?, _ field: String) throws(RequestProblem) -> Duration? {
    guard let milliseconds else { return nil }
    guard milliseconds >= 0, milliseconds.isFinite else { throw RequestProblem("\(field) must be a number >= 0") }
    return .milliseconds(milliseconds)
}

private func count(_ value: Int?, _ field: String) throws(RequestProblem) -> Int? {
    guard let value else { return nil }
    guard value >= 0 else { throw RequestProblem("\(field) must be >= 0") }
    return value
}
