import ChorusRuntime
import Llama
import Metrics

/// gpu-inference's metrics, by model (each label combination created once, see ``MetricFamily``):
/// - `chorus_inference_cold_starts_total{model,tier}` — calls that waited for a load, by start tier;
/// - `chorus_inference_load_seconds{model,tier}` — load time (weights, context, prefix);
/// - `chorus_inference_queue_wait_seconds{model}` — arrival to prompt evaluation;
/// - `chorus_inference_tokens_total{model,kind}` — prompt and completion tokens;
/// - `chorus_inference_device_nanoseconds_total{model}` — apportioned compute (exact integer), what billing prices;
/// - `chorus_inference_tokens_per_second{model}` — completion tokens per second over the last
///   maintenance interval;
/// - `chorus_inference_batch_occupancy{model}` — mean sequences per decode step over that interval;
/// - `chorus_inference_resident_bytes{model}` — what the model holds (warm, snapshot or 0).
struct InferenceMetrics: Sendable {
    private let coldStarts = MetricFamily<Counter>(counter: "chorus_inference_cold_starts_total", labels: ["model", "tier"])
    private let loadTime = MetricFamily<Timer>(timer: "chorus_inference_load_seconds", labels: ["model", "tier"])
    private let queueWait = MetricFamily<Timer>(timer: "chorus_inference_queue_wait_seconds", labels: ["model"])
    private let tokens = MetricFamily<Counter>(counter: "chorus_inference_tokens_total", labels: ["model", "kind"])
    private let deviceNanos = MetricFamily<Counter>(counter: "chorus_inference_device_nanoseconds_total", labels: ["model"])
    private let tokenRate = MetricFamily<Gauge>(gauge: "chorus_inference_tokens_per_second", labels: ["model"])
    private let occupancy = MetricFamily<Gauge>(gauge: "chorus_inference_batch_occupancy", labels: ["model"])
    private let residentBytes = MetricFamily<Gauge>(gauge: "chorus_inference_resident_bytes", labels: ["model"])

    func record(call model: String, promptTokens: Int, completionTokens: Int, metering: LocalMetering) {
        if metering.coldStart { coldStarts(model, metering.tier.rawValue).increment() }
        queueWait(model).recordNanoseconds(metering.queueWaitNanos)
        tokens(model, "prompt").increment(by: promptTokens)
        tokens(model, "completion").increment(by: completionTokens)
        deviceNanos(model).increment(by: metering.deviceNanos)
    }

    func loaded(_ model: String, tier: StartTier, duration: Duration, bytes: Int64) {
        loadTime(model, tier.rawValue).record(duration: duration)
        resident(model, bytes: bytes)
    }

    func resident(_ model: String, bytes: Int64) {
        residentBytes(model).record(bytes)
    }

    func rates(
        _ model: String, previous: LlamaEngineStatistics, current: LlamaEngineStatistics, tokens: Int, over interval: Duration
    ) {
        let seconds = interval.secondsValue
        guard seconds > 0 else { return }
        tokenRate(model).record(Double(tokens) / seconds)
        let steps = current.steps - previous.steps
        occupancy(model).record(steps == 0 ? 0 : Double(current.sequenceSteps - previous.sequenceSteps) / Double(steps))
    }
}
