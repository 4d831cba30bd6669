/// The Kafka topics Chorus uses. Every internal message is keyed by its request id, so all the
/// messages of one request stay ordered on one partition of each topic.
public enum Topics {
    /// Users publish ``SubmittedRequest`` JSON here (any key).
    public static let requests = "chorus.requests"
    /// Chorus publishes one ``Answer`` per request here, keyed by request id.
    public static let answers = "chorus.answers"
    /// Bytes that could not be decoded or processed, with their origin and reason in headers.
    public static let deadLetters = "chorus.deadletters"
    /// ingest → dispatcher: validated ``FusionRequest``s.
    public static let accepted = "chorus.accepted"
    /// dispatcher and judge → provider-worker: ``ModelCall``s to remote providers.
    public static let remoteCalls = "chorus.calls.remote"
    /// dispatcher and judge → gpu-inference: ``ModelCall``s to local models.
    public static let localCalls = "chorus.calls.local"
    /// dispatcher and workers → judge: a request's ``FusionEvent``s (its plan, then its responses).
    public static let fusion = "chorus.fusion"
    /// workers → billing: one ``UsageEvent`` per model call.
    public static let usage = "chorus.usage"

    public static let all = [requests, answers, deadLetters, accepted, remoteCalls, localCalls, fusion, usage]
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
