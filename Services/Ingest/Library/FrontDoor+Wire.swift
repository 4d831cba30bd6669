import Catalog
import Contracts
import Foundation
import Hummingbird

/// OpenAI's request and response shapes, and how Chorus answers map onto them.
struct ChatCompletionRequest: Decodable {
    struct ChorusOptions: Decodable {
        var pool: [String]?
        var judge: String?
        var mode: String?
        var options: SubmittedOptions?
    }

    var model: String
    var messages: [ChatMessage]
    var max_tokens: Int?
    var max_completion_tokens: Int?
    var temperature: Double?
    var stream: Bool?
    var chorus: ChorusOptions?
}

extension FrontDoor {
    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func errorJSON(_ message: String, type: String, code: String) -> String {
        let object: [String: Any] = ["error": ["message": message, "type": type, "param": NSNull(), "code": code]]
        return String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, type: String, code: String) -> Response {
        json(status, errorJSON(message, type: type, code: code))
    }

    static func unauthorized() -> Response {
        error(.unauthorized, "Incorrect or revoked API key provided (Authorization: Bearer <key>)", type: "invalid_request_error", code: "invalid_api_key")
    }

    static func errorType(_ answer: Answer) -> String {
        answer.status == .rejected ? (answer.error?.code == "over_budget" ? "insufficient_quota" : "invalid_request_error") : "upstream_error"
    }

    /// A rejected or failed answer as an HTTP error: over budget 402, invalid 400, failed 502.
    static func failure(_ answer: Answer) -> Response {
        let error = answer.error ?? ErrorInfo(code: "failed", message: "the request failed")
        let status: HTTPResponse.Status
        switch (answer.status, error.code) {
        case (.rejected, "over_budget"): status = HTTPResponse.Status(code: 402)
        case (.rejected, "unknown_model"), (.rejected, "unknown_preset"): status = .notFound
        case (.rejected, _): status = .badRequest
        default: status = .badGateway
        }
        return Self.error(status, error.message, type: errorType(answer), code: error.code)
    }

    /// A `chat.completion` carrying the fused answer, with the whole Chorus answer under `chorus`.
    static func completion(_ answer: Answer, model: String, answerJSON: String) -> String {
        let usage = answer.usage
        return """
            {"id":"chatcmpl-\(answer.id)","object":"chat.completion","created":\(Int(Date().timeIntervalSince1970)),\
            "model":\(quoted(model)),"choices":[{"index":0,"message":{"role":"assistant","content":\(quoted(answer.answer ?? ""))},\
            "finish_reason":"stop"}],"usage":{"prompt_tokens":\(usage.promptTokens),"completion_tokens":\(usage.completionTokens),\
            "total_tokens":\(usage.promptTokens + usage.completionTokens)},"chorus":\(answerJSON)}
            """
    }

    /// The answer as `chat.completion.chunk`s: the role, the text in word-sized pieces, then the end
    /// with usage and the Chorus answer.
    static func chunks(_ answer: Answer, model: String, answerJSON: String) -> [String] {
        let head = "\"id\":\"chatcmpl-\(answer.id)\",\"object\":\"chat.completion.chunk\",\"created\":\(Int(Date().timeIntervalSince1970)),\"model\":\(quoted(model))"
        var chunks = ["{\(head),\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}"]
        var piece = ""
        for character in answer.answer ?? "" {
            piece.append(character)
            if character == " " && piece.count >= 16 {
                chunks.append("{\(head),\"choices\":[{\"index\":0,\"delta\":{\"content\":\(quoted(piece))},\"finish_reason\":null}]}")
                piece = ""
            }
        }
        if !piece.isEmpty {
            chunks.append("{\(head),\"choices\":[{\"index\":0,\"delta\":{\"content\":\(quoted(piece))},\"finish_reason\":null}]}")
        }
        let usage = answer.usage
        chunks.append(
            "{\(head),\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":\(usage.promptTokens),"
                + "\"completion_tokens\":\(usage.completionTokens),\"total_tokens\":\(usage.promptTokens + usage.completionTokens)},\"chorus\":\(answerJSON)}")
        return chunks
    }

    func modelList() -> String {
        var entries = catalog.presets.keys.sorted().map { "chorus/\($0)" }
        entries += catalog.models.keys.sorted()
        let data = entries.map { "{\"id\":\(Self.quoted($0)),\"object\":\"model\",\"created\":0,\"owned_by\":\"chorus\"}" }
        return "{\"object\":\"list\",\"data\":[\(data.joined(separator: ","))]}"
    }

    /// The stored trail of a request the project owns, as JSON.
    func requestTrail(id: String, project: String) async throws -> String? {
        let rows = try await trail.database.query("""
            SELECT json_build_object(
                'id', r.id, 'project', r.project_id, 'mode', r.mode, 'pool', r.pool, 'judge', r.judge, 'messages', r.messages,
                'accepted_at', r.accepted_at,
                'calls', coalesce((SELECT json_agg(json_build_object(
                    'call_id', c.id, 'role', c.role, 'round', c.round, 'model', c.model, 'provider', s.provider,
                    'content', s.content, 'error_code', s.error_code, 'latency_ms', s.latency_ms,
                    'prompt_tokens', s.prompt_tokens, 'completion_tokens', s.completion_tokens) ORDER BY c.dispatched_at, c.id)
                    FROM calls c LEFT JOIN responses s ON s.call_id = c.id WHERE c.request_id = r.id), '[]'::json),
                'answer', (SELECT a.payload FROM answers a WHERE a.request_id = r.id))::text
            FROM requests r WHERE r.id = \(id) AND r.project_id = \(project)
            """)
        return try rows.first?.decode(String.self, at: 0)
    }

    static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return String(decoding: (try? encoder.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
