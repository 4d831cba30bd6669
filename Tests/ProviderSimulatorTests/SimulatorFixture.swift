import Logging
import ProviderSimulator

/// Runs a simulator on a free loopback port for one test and passes it with its base URL.
func withSimulator<Value>(
    _ configuration: ProviderSimulator.Configuration = ProviderSimulator.Configuration(),
    responder: ProviderSimulator.Responder? = nil,
    _ body: (ProviderSimulator, String) async throws -> Value
) async throws -> Value {
    var logger = Logger(label: "provider-simulator-test")
    logger.logLevel = .warning
    return try await ProviderSimulator.withRunning(configuration: configuration, logger: logger, responder: responder) {
        simulator in
        try await body(simulator, "http://127.0.0.1:\(try await simulator.port)")
    }
}

/// Request bodies and headers for the three APIs.
enum Requests {
    static func openAI(model: String, prompt: String, stream: Bool = false, includeUsage: Bool = false, maxTokens: Int? = nil)
        -> String
    {
        var object: [String: Any] = [
            "model": model,
            "messages": [
                ["role": "system", "content": "You are terse."],
                ["role": "user", "content": prompt],
            ],
            "temperature": 0.2,
        ]
        if stream { object["stream"] = true }
        if includeUsage { object["stream_options"] = ["include_usage": true] }
        if let maxTokens { object["max_tokens"] = maxTokens }
        return TestHTTP.json(object)
    }

    static func anthropic(model: String, prompt: String, stream: Bool = false) -> String {
        var object: [String: Any] = [
            "model": model, "max_tokens": 256, "system": "You are terse.",
            "messages": [["role": "user", "content": [["type": "text", "text": prompt]]]],
        ]
        if stream { object["stream"] = true }
        return TestHTTP.json(object)
    }

    static func gemini(prompt: String) -> String {
        TestHTTP.json([
            "systemInstruction": ["parts": [["text": "You are terse."]]],
            "contents": [["role": "user", "parts": [["text": prompt]]]],
            "generationConfig": ["maxOutputTokens": 256, "temperature": 0.2],
        ])
    }

    static func openAIHeaders(key: String = "test-key") -> [String: String] {
        ["Authorization": "Bearer \(key)"]
    }

    static func anthropicHeaders(key: String = "test-key") -> [String: String] {
        ["x-api-key": key, "anthropic-version": "2023-06-01"]
    }

    static func geminiHeaders(key: String = "test-key") -> [String: String] {
        ["x-goog-api-key": key]
    }
}

/// `value[key1][key2]...` through nested JSON objects and arrays (ints index arrays).
func dig(_ value: Any?, _ path: Any...) -> Any? {
    var current = value
    for step in path {
        if let key = step as? String {
            current = (current as? [String: Any])?[key]
        } else if let index = step as? Int {
            guard let array = current as? [Any], array.indices.contains(index) else { return nil }
            current = array[index]
        }
    }
    return current
}
