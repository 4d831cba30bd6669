import Llama
import Metrics

/// gpu-inference's metrics, by model:
/// - `chorus_inference_cold_starts_total{model,tier}` — calls that waited for a load, by start tier;
/// - `chorus_inference_load_seconds{model,tier}` — load time (weights, context, prefix);
/// - `chorus_inference_queue_wait_seconds{model}` — arrival to prompt evaluation;
/// - `chorus_inference_tokens_total{model,kind}` — prompt and completion tokens;
/// - `chorus_inference_device_seconds_total{model}` — apportioned compute, what billing prices;
/// - `chorus_inference_tokens_per_second{model}` — completion tokens per second over the last
///   maintenance interval;
/// - `chorus_inference_batch_occupancy{model}` — mean sequences per decode step over that interval;
/// - `chorus_inference_resident_bytes{model}` — what the model holds (warm, snapshot or 0).
struct InferenceMetrics: Sendable {
    func record(call model: String, promptTokens: Int, completionTokens: Int, metering: LocalMetering) {
        if metering.coldStart {
            Counter(label: "chorus_inference_cold_starts_total", dimensions: [("model", model), ("tier", metering.tier.rawValue)])
                .increment()
        }
        Timer(label: "chorus_inference_queue_wait_seconds", dimensions: [("model", model)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(metering.queueWaitNanos)
        Counter(label: "chorus_inference_tokens_total", dimensions: [("model", model), ("kind", "prompt")])
            .increment(by: promptTokens)
        Counter(label: "chorus_inference_tokens_total", dimensions: [("model", model), ("kind", "completion")])
            .increment(by: completionTokens)
        FloatingPointCounter(label: "chorus_inference_device_seconds_total", dimensions: [("model", model)])
            .increment(by: Double(metering.deviceNanos) / 1e9)
    }

    func loaded(_ model: String, tier: StartTier, duration: Duration, bytes: Int64) {
        Timer(label: "chorus_inference_load_seconds", dimensions: [("model", model), ("tier", tier.rawValue)], preferredDisplayUnit: .seconds)
            .record(duration: duration)
        resident(model, bytes: bytes)
    }

    func resident(_ model: String, bytes: Int64) {
        Gauge(label: "chorus_inference_resident_bytes", dimensions: [("model", model)]).record(bytes)
    }

    func rates(
        _ model: String, previous: LlamaEngineStatistics, current: LlamaEngineStatistics, tokens: Int, over interval: Duration
    ) {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) * 1e-18
        guard seconds > 0 else { return }
        Gauge(label: "chorus_inference_tokens_per_second", dimensions: [("model", model)]).record(Double(tokens) / seconds)
        let steps = current.steps - previous.steps
        let occupancy = steps == 0 ? 0 : Double(current.sequenceSteps - previous.sequenceSteps) / Double(steps)
        Gauge(label: "chorus_inference_batch_occupancy", dimensions: [("model", model)]).record(occupancy)
    }
}
