/// Counters of what the simulator did, per upstream model; `GET /_sim/stats` serves the same as JSON.
///
/// An outcome is counted when the simulator decides it (before the latency elapses), so a
/// response can be counted while it is still on its way.
public struct SimulatorStats: Sendable, Hashable {
    /// Per model; requests whose model could not be read count under `"-"`.
    public var models: [String: ModelStats]
    /// Requests being handled now (a stream until its last byte is written).
    public var inFlight: Int
    /// The most requests handled at once since the start or the last reset.
    public var peakConcurrency: Int

    /// Counters as given (for comparisons in tests).
    public init(models: [String: ModelStats] = [:], inFlight: Int = 0, peakConcurrency: Int = 0) {
        self.models = models
        self.inFlight = inFlight
        self.peakConcurrency = peakConcurrency
    }

    /// Requests of all models.
    public var requests: Int { models.values.reduce(0) { $0 + $1.requests } }

    /// The counters of `model` (zero when it was never asked).
    public subscript(model: String) -> ModelStats { models[model] ?? ModelStats() }
}

/// What one upstream model was asked and answered.
public struct ModelStats: Sendable, Hashable {
    /// Requests that named the model, answered or not.
    public var requests: Int
    /// Answers by HTTP status (a cut stream counts as the 200 it started with).
    public var responses: [Int: Int]
    /// Answers cut off by a ``ScriptStep/Action/cutStream`` step.
    public var streamsCut: Int
    /// Requests held by a ``ScriptStep/Action/hang`` step.
    public var hangs: Int
    /// Answers with an invalid JSON body or event.
    public var malformed: Int

    /// Counters as given (for comparisons in tests).
    public init(requests: Int = 0, responses: [Int: Int] = [:], streamsCut: Int = 0, hangs: Int = 0, malformed: Int = 0) {
        self.requests = requests
        self.responses = responses
        self.streamsCut = streamsCut
        self.hangs = hangs
        self.malformed = malformed
    }
}

// MARK: - JSON

extension SimulatorStats {
    /// `{"requests":N,"in_flight":N,"peak_concurrency":N,"models":{"m":{"requests":N,"responses":{"200":N},
    /// "streams_cut":N,"hangs":N,"malformed":N}}}`, models and statuses sorted.
    func json() -> String {
        var out = #"{"requests":\#(requests),"in_flight":\#(inFlight),"peak_concurrency":\#(peakConcurrency),"models":{"#
        for (index, (model, stats)) in models.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out += "," }
            JSONText.appendString(model, to: &out)
            out += #":{"requests":\#(stats.requests),"responses":{"#
            out += stats.responses.sorted { $0.key < $1.key }.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",")
            out += #"},"streams_cut":\#(stats.streamsCut),"hangs":\#(stats.hangs),"malformed":\#(stats.malformed)}"#
        }
        return out + "}}"
    }
}
