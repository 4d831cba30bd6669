import Catalog
import ChorusRuntime
import Contracts
import Foundation
import Testing

@testable import Ingest

@Suite struct RequestValidatorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let catalog = try! ModelCatalog.load(path: "\(root)/config/models.yaml", home: root)
    let validator = RequestValidator(catalog: Self.catalog)

    func run(_ json: String) -> RequestValidator.Outcome {
        run(Array(json.utf8))
    }

    func run(_ bytes: [UInt8]) -> RequestValidator.Outcome {
        validator.validate(bytes, nowMs: 1000, projectExists: { ["acme", "default"].contains($0) }, makeID: { "gen-1" })
    }

    @Test func aMinimalRequestGetsThePresetAndDefaults() throws {
        guard case .accepted(let r) = run(#"{"project":"acme","messages":[{"role":"user","content":"Hi"}]}"#) else {
            Issue.record("expected acceptance"); return
        }
        #expect(r.id == "gen-1")
        #expect(r.preset == "local")
        #expect(r.pool == ["smollm2-135m", "gemma3-270m"])
        #expect(r.judge == "smollm2-135m")
        #expect(r.mode == .bestOf)
        #expect(r.options == FusionOptions(maxTokens: 256, temperature: 0.7, timeoutMs: 30_000, quorum: 1, rounds: 1, maxCostUSD: nil))
        #expect(r.acceptedAtMs == 1000)
    }

    @Test func explicitPoolJudgeModeAndOptionsAreKept() throws {
        let json = #"""
            {"id":"r-1","project":"acme","messages":[{"role":"user","content":"2+2?"}],
             "pool":["gpt-4o-mini:openrouter","smollm2-135m","smollm2-135m"],"judge":"claude-haiku","mode":"debate",
             "options":{"max_tokens":64,"temperature":0,"timeout_ms":5000,"quorum":2,"rounds":2,"max_cost_usd":"0.01"}}
            """#
        guard case .accepted(let r) = run(json) else { Issue.record("expected acceptance: \(run(json))"); return }
        #expect(r.id == "r-1" && r.preset == nil && r.mode == .debate)
        #expect(r.pool == ["gpt-4o-mini:openrouter", "smollm2-135m", "smollm2-135m"])
        #expect(r.options == FusionOptions(maxTokens: 64, temperature: 0, timeoutMs: 5000, quorum: 2, rounds: 2, maxCostUSD: Money(decimal: "0.01")))
    }

    @Test func sqlMetacharactersAndUnicodePassThroughUnchanged() throws {
        let nasty = #"Robert'); DROP TABLE requests;-- \" \\ $1 ñ 漢字 🎻"#
        let body = try JSONSerialization.data(withJSONObject: [
            "project": "acme", "messages": [["role": "user", "content": nasty]],
        ])
        guard case .accepted(let r) = run(Array(body)) else { Issue.record("expected acceptance"); return }
        #expect(r.messages[0].content == nasty)
    }

    @Test(arguments: [
        // (request, expected message)
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "project is required"),
        (#"{"project":"acme"}"#, "messages must hold at least one message"),
        (#"{"project":"acme","messages":[{"role":"system","content":"x"}]}"#, "messages must include a user message"),
        (#"{"project":"acme","messages":"hello"}"#, "messages must be a list"),
        (#"{"project":"acme","messages":[{"role":"user"}]}"#, "messages[0].content is required"),
        (#"{"project":"acme","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role must be one of system, user, assistant"),
        (#"{"project":42,"messages":[]}"#, "project must be a string"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"options":{"max_tokens":"many"}}"#, "options.max_tokens must be a whole number"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"options":{"max_tokens":-5}}"#, "options.max_tokens must be between 1 and 8192, got -5"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"options":{"max_tokens":99999999}}"#, "options.max_tokens must be between 1 and 8192, got 99999999"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"options":{"temperature":7}}"#, "options.temperature must be between 0 and 2, got 7.0"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"options":{"quorum":3}}"#, "options.quorum must be between 1 and the pool size 2, got 3"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"options":{"max_cost_usd":"lots"}}"#, "options.max_cost_usd must be a decimal amount of US dollars such as \"0.05\""),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"mode":"chaos"}"#, "mode must be one of best-of, merge, debate, vote, got \"chaos\""),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"preset":"local","pool":["smollm2-135m"]}"#, "give either preset or pool, not both"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"pool":["smollm2-135m","gemma3-270m"]}"#, "mode best-of with a pool of 2 needs a judge model"),
        (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"pool":[]}"#, "pool must name at least one model (or give a preset)"),
        (#"{"id":"a/b","project":"acme","messages":[{"role":"user","content":"x"}]}"#, "id must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"),
        (#"{"id":7,"project":"acme","messages":[{"role":"user","content":"x"}]}"#, "id must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"),
        (#"{"project":"acme","messages":[{"role":"user","content":"a\u0000b"}]}"#, "messages[0].content contains a NUL character"),
    ])
    func invalidRequestsAreRejectedWithTheExactReason(json: String, message: String) {
        guard case .rejected(_, _, let error) = run(json) else { Issue.record("expected a rejection for \(json)"); return }
        #expect(error.code == "invalid_request")
        #expect(error.message == message)
    }

    @Test func unknownNamesGetTheirOwnCodes() {
        let cases: [(String, String, String)] = [
            (#"{"project":"nobody","messages":[{"role":"user","content":"x"}]}"#, "unknown_project", "project \"nobody\" does not exist"),
            (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"preset":"gold"}"#, "unknown_preset", "unknown preset \"gold\" (known: frontier, local)"),
            (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"pool":["gpt-9"],"judge":"smollm2-135m"}"#, "unknown_model", "pool[0]: unknown model \"gpt-9\""),
            (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"pool":["smollm2-135m"],"judge":"oracle"}"#, "unknown_model", "judge: unknown model \"oracle\""),
            (#"{"project":"acme","messages":[{"role":"user","content":"x"}],"pool":["gpt-4o-mini:nowhere"]}"#, "unknown_provider", "pool[0]: model \"gpt-4o-mini\" is not offered by provider \"nowhere\" (offered by: openai, openrouter)"),
        ]
        for (json, code, message) in cases {
            guard case .rejected(_, _, let error) = run(json) else { Issue.record("expected a rejection for \(json)"); continue }
            #expect(error == ErrorInfo(code: code, message: message))
        }
    }

    @Test func aThousandModelPoolAndAHugePromptAreRejected() throws {
        let pool = Array(repeating: "smollm2-135m", count: 1000)
        let big = try JSONSerialization.data(withJSONObject: [
            "project": "acme", "messages": [["role": "user", "content": "x"]], "pool": pool, "judge": "smollm2-135m",
        ])
        guard case .rejected(_, _, let poolError) = run(Array(big)) else { Issue.record("expected rejection"); return }
        #expect(poolError.message == "pool has 1000 models; the limit is 8")

        let prompt = String(repeating: "a", count: 70_000)
        let long = try JSONSerialization.data(withJSONObject: ["project": "acme", "messages": [["role": "user", "content": prompt]]])
        guard case .rejected(_, _, let promptError) = run(Array(long)) else { Issue.record("expected rejection"); return }
        #expect(promptError.message == "the prompt is 70000 bytes; the limit is 65536")

        // Ten megabytes is refused before it is even parsed.
        let huge = Array(#"{"project":"acme","messages":[{"role":"user","content":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 10_000_000) + Array(#""}]}"#.utf8)
        #expect(run(huge) == .undecodable(reason: "the message is \(huge.count) bytes; the limit is 262144"))
    }

    @Test func bytesThatAreNotAJSONObjectAreUndecodable() {
        #expect(run("{not json") == .undecodable(reason: "the message is not valid JSON"))
        #expect(run("[1,2]") == .undecodable(reason: "the message is JSON but not an object"))
        #expect(run([0x7B, 0xFF, 0xFE, 0x7D]) == .undecodable(reason: "the message is not valid UTF-8"))
        #expect(run("") == .undecodable(reason: "the message is not valid JSON"))
    }

    @Test func aRejectionAnswersToTheRequestsOwnIdAndProject() {
        guard case .rejected(let id, let project, _) = run(#"{"id":"mine","project":"acme","messages":[]}"#) else {
            Issue.record("expected rejection"); return
        }
        #expect(id == "mine")
        #expect(project == "acme")
    }
}
