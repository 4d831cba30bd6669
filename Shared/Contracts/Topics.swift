import Foundation

/// The Kafka topics Chorus uses. Every internal message is keyed by its request id, so all the
/// messages of one request stay ordered on one partition of each topic.
///
/// Names are `<namespace>.<topic>`; the namespace is `CHORUS_KAFKA_NAMESPACE` (default `chorus`),
/// so several pipelines (a test run beside a developer's running services) can share one broker.
public struct TopicNames: Sendable, Hashable {
    public let namespace: String

    public init(namespace: String) { self.namespace = namespace }

    /// Users publish ``SubmittedRequest`` JSON here (any key).
    public var requests: String { "\(namespace).requests" }
    /// Chorus publishes one ``Answer`` per request here, keyed by request id.
    public var answers: String { "\(namespace).answers" }
    /// Bytes that could not be decoded or processed, with their origin and reason in headers.
    public var deadLetters: String { "\(namespace).deadletters" }
    /// ingest → dispatcher: validated ``FusionRequest``s.
    public var accepted: String { "\(namespace).accepted" }
    /// dispatcher and judge → provider-worker: ``ModelCall``s to remote providers.
    public var remoteCalls: String { "\(namespace).calls.remote" }
    /// dispatcher and judge → gpu-inference: ``ModelCall``s to local models.
    public var localCalls: String { "\(namespace).calls.local" }
    /// dispatcher and workers → judge: a request's ``FusionEvent``s (its plan, then its responses).
    public var fusion: String { "\(namespace).fusion" }
    /// workers → billing: one ``UsageEvent`` per model call.
    public var usage: String { "\(namespace).usage" }

    public var all: [String] { [requests, answers, deadLetters, accepted, remoteCalls, localCalls, fusion, usage] }

    /// The consumer group of a stage: `<namespace>-<stage>`.
    public func group(_ stage: String) -> String { "\(namespace)-\(stage)" }
}

/// This process's topic names.
public enum Topics {
    public static let current = TopicNames(
        namespace: ProcessInfo.processInfo.environment["CHORUS_KAFKA_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 } ?? "chorus")

    public static var requests: String { current.requests }
    public static var answers: String { current.answers }
    public static var deadLetters: String { current.deadLetters }
    public static var accepted: String { current.accepted }
    public static var remoteCalls: String { current.remoteCalls }
    public static var localCalls: String { current.localCalls }
    public static var fusion: String { current.fusion }
    public static var usage: String { current.usage }
    public static var all: [String] { current.all }
}

/// Names of the Kafka headers Chorus sets.
public enum Headers {
    /// W3C trace context, carried from ingest to the answer.
    public static let traceParent = "traceparent"
    /// On dead letters: where the bytes came from and why they could not be processed.
    public static let originTopic = "chorus.origin.topic"
    public static let originPartition = "chorus.origin.partition"
    public static let originOffset = "chorus.origin.offset"
    public static let errorCode = "chorus.error.code"
    public static let errorReason = "chorus.error.reason"
    public static let failedService = "chorus.service"
}
