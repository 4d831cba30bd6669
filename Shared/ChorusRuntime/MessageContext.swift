import Contracts
import Kafka
import Logging

/// What the message (or HTTP request) being handled belongs to: its request id and its trace.
///
/// ``StageLoop`` binds it around each handler and the HTTP front door around each request, as a
/// task-local value, so that every log line written while handling it carries `request.id` and
/// `trace.id` (through ``metadataProvider``), and every message ``StageInfrastructure`` publishes
/// meanwhile carries the trace on (`traceparent`), whichever logger or code path wrote or sent it.
public struct MessageContext: Sendable {
    /// The request the message belongs to (its Kafka key); nil when unknown.
    public var requestID: String?
    /// This hop's span of the request's trace: what it sends on names this span as the parent.
    public var trace: TraceContext

    public init(requestID: String?, trace: TraceContext) {
        self.requestID = requestID
        self.trace = trace
    }

    /// The context of the work running now, if any.
    @TaskLocal public static var current: MessageContext?

    /// The context of a consumed message: its key as request id; its `traceparent` continued with a
    /// span of this hop, or a new trace when the header is absent or invalid.
    public init(message: KafkaMessage) {
        let incoming = TraceContext(traceParent: message.header(Headers.traceParent))
        self.init(
            requestID: message.key.map { String(decoding: $0, as: UTF8.self) },
            trace: incoming?.child() ?? .random())
    }

    /// The `traceparent` header for a message sent now, or nil outside any context.
    static var outgoingHeader: KafkaHeader? {
        current.map { KafkaHeader(name: Headers.traceParent, value: Array($0.trace.traceParent.utf8)) }
    }

    /// Adds `request.id` and `trace.id` of the current context to every log line.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let context = current else { return [:] }
        var metadata: Logger.Metadata = [LogKey.traceID: .string(context.trace.traceID)]
        if let id = context.requestID { metadata[LogKey.requestID] = .string(id) }
        return metadata
    }
}

extension Array where Element == KafkaHeader {
    /// These headers with the current trace's `traceparent`, unless they carry one already.
    func withTraceParent() -> [KafkaHeader] {
        guard !contains(where: { $0.name == Headers.traceParent }), let header = MessageContext.outgoingHeader else { return self }
        return self + [header]
    }
}
