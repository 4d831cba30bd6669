import Metrics
import Prometheus
import Synchronization

/// The process's metrics: swift-metrics backed by one Prometheus registry, served as text at
/// `/metrics` (Prometheus exposition format).
public enum ChorusMetrics {
    /// Every metric of the process.
    public static let registry = PrometheusCollectorRegistry()

    /// Bootstraps swift-metrics once per process (executables only; libraries just create metrics).
    public static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Messages produced, by the producing service and topic (`chorus_messages_produced_total{service,topic}`).
    public static let produced = MetricFamily<Metrics.Counter>(counter: "chorus_messages_produced_total", labels: ["service", "topic"])

    /// The Prometheus text of every metric.
    public static func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// The metrics of one family with labels (`chorus_messages_consumed_total{stage,topic}`), each
/// label combination created once, on first use, then reused.
///
/// Label values must come from a small set (stages, topics, models, error codes), never from
/// requests: every combination lives as long as the process.
public final class MetricFamily<Metric: Sendable>: Sendable {
    private let name: String
    private let labels: [String]
    private let make: @Sendable (String, [(String, String)]) -> Metric
    private let members = Mutex<[[String]: Metric]>([:])

    init(name: String, labels: [String], make: @escaping @Sendable (String, [(String, String)]) -> Metric) {
        self.name = name
        self.labels = labels
        self.make = make
    }

    /// The metric for these label values, in the order of the family's labels.
    public func callAsFunction(_ values: String...) -> Metric {
        precondition(values.count == labels.count, "\(name) takes \(labels.count) label values")
        return members.withLock { members in
            if let metric = members[values] { return metric }
            let metric = make(name, Array(zip(labels, values)))
            members[values] = metric
            return metric
        }
    }
}

extension MetricFamily where Metric == Metrics.Counter {
    public convenience init(counter name: String, labels: [String]) {
        self.init(name: name, labels: labels) { Metrics.Counter(label: $0, dimensions: $1) }
    }
}

extension MetricFamily where Metric == Metrics.Gauge {
    public convenience init(gauge name: String, labels: [String]) {
        self.init(name: name, labels: labels) { Metrics.Gauge(label: $0, dimensions: $1) }
    }
}

extension MetricFamily where Metric == Metrics.Timer {
    /// Timers are Prometheus histograms in seconds.
    public convenience init(timer name: String, labels: [String]) {
        self.init(name: name, labels: labels) { Metrics.Timer(label: $0, dimensions: $1, preferredDisplayUnit: .seconds) }
    }
}
