import Foundation
import Testing

@testable import Contracts

/// Every message contract is pinned by a golden JSON file: decoding it and encoding the result
/// must give the file back byte for byte (sorted keys, pretty printed). A renamed field, a changed
/// type or a dropped value fails here before it breaks a consumer in production.
@Suite struct GoldenTests {
    static func golden(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Golden/\(name)", withExtension: "json"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    static func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ name: String) throws -> T {
        let text = try golden(name)
        let value = try JSONDecoder().decode(T.self, from: Data(text.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let encoded = String(decoding: try encoder.encode(value), as: UTF8.self)
        #expect(encoded + "\n" == text, "golden file \(name).json no longer matches the \(T.self) contract")
        #expect(try JSONDecoder().decode(T.self, from: Data(encoded.utf8)) == value)
        return value
    }

    @Test func submittedRequest() throws {
        let request = try Self.roundTrip(SubmittedRequest.self, "submitted-request")
        #expect(request.mode == "best-of")
        #expect(request.options?.maxCostUSD == Money(nanos: 50_000_000))
    }

    @Test func fusionRequest() throws {
        let request = try Self.roundTrip(FusionRequest.self, "fusion-request")
        #expect(request.mode == .debate)
        #expect(request.pool == ["smollm2-135m", "gemma3-270m"])
    }

    @Test func answer() throws {
        let answer = try Self.roundTrip(Answer.self, "answer-partial")
        #expect(answer.status == .partial)
        #expect(answer.candidates[1].error?.code == "timeout")
        #expect(answer.costUSD == Money(decimal: "0.000123456"))
    }

    @Test func rejectedAnswer() throws {
        let answer = try Self.roundTrip(Answer.self, "answer-rejected")
        #expect(answer.status == .rejected)
        #expect(answer.error?.code == "invalid_request")
    }

    @Test func modelCall() throws {
        let call = try Self.roundTrip(ModelCall.self, "model-call")
        #expect(call.callID == ModelCall.id(request: call.requestID, role: .pool, round: 0, index: 1))
    }

    @Test func fusionEvents() throws {
        let plan = try Self.roundTrip(FusionEvent.self, "fusion-event-plan")
        let response = try Self.roundTrip(FusionEvent.self, "fusion-event-response")
        #expect(plan.requestID == "req-7f3a")
        guard case .response(let r) = response else { Issue.record("expected a response event"); return }
        #expect(r.usage.completionTokens == 9)
    }

    @Test func usageEvent() throws {
        let event = try Self.roundTrip(UsageEvent.self, "usage-event")
        #expect(event.deviceNanos == 41_250_000)
        #expect(event.billable)
        #expect(event.startTier == "snapshot" && event.coldStart == true)
        #expect(event.wallMs == 112 && event.queueWaitMs == 3)
    }

    @Test func unknownFusionEventTypeIsAnError() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(FusionEvent.self, from: Data(#"{"type":"gossip"}"#.utf8))
        }
    }
}

@Suite struct MoneyTests {
    @Test(arguments: [
        ("0.18518505", Int64(185_185_050)), ("2", 2_000_000_000), ("0", 0), ("0.000000001", 1),
        ("-1.5", -1_500_000_000), ("123456789.123456789", 123_456_789_123_456_789),
    ])
    func parsesExactly(text: String, nanos: Int64) {
        #expect(Money(decimal: text)?.nanos == nanos)
        #expect(Money(nanos: nanos).description == text)
    }

    @Test(arguments: ["", ".5", "1.", "1.0000000001", "1e3", "abc", "1,5", "--1", "1234567890"])
    func rejectsWhatIsNotAnExactAmount(text: String) {
        #expect(Money(decimal: text) == nil)
    }

    @Test func decodesStringsAndShortNumbers() throws {
        let decoded = try JSONDecoder().decode([Money].self, from: Data(#"["0.05", 0.05, 3]"#.utf8))
        #expect(decoded == [Money(nanos: 50_000_000), Money(nanos: 50_000_000), Money(nanos: 3_000_000_000)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Money].self, from: Data(#"["lots"]"#.utf8)) }
    }
}
