import Metrics
import Prometheus

/// The process's metrics: swift-metrics backed by one Prometheus registry, served as text at
/// `/metrics` (Prometheus exposition format).
public enum ChorusMetrics {
    /// Every metric of the process.
    public static let registry = PrometheusCollectorRegistry()

    /// Bootstraps swift-metrics once per process (executables only; libraries just create metrics).
    public static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The Prometheus text of every metric.
    public static func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
