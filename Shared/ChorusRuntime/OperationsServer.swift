import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A service's operator endpoints, for services without an HTTP front door of their own:
/// `GET /metrics` (Prometheus text) and `GET /healthz` (`{"status":"ok","service":…}`).
///
/// It listens on `metrics.host`:`metrics.port` (see ``Settings``) and logs the port it got as
/// `metrics.port=<port>` (0 asks for any free port), then tells the heartbeat, so `chorus status` can
/// find it.
public final class OperationsServer: Service, Sendable {
    /// Where the endpoints listen.
    public struct Settings: Sendable {
        /// `metrics.host` / `CHORUS_METRICS_HOST`. Default 127.0.0.1; 0.0.0.0 in containers.
        public var host: String
        /// The port: `CHORUS_METRICS_PORT` (or `metrics.port`) for this process, else
        /// `metrics.ports.<service>` / `CHORUS_METRICS_PORTS_<SERVICE>`, else ``defaultPorts``. 0 = any free port.
        public var port: Int

        /// The ports the stages listen on unless configured otherwise (ingest serves `/metrics` on
        /// its HTTP front door, `http.port`, default 8080).
        public static let defaultPorts = [
            "dispatcher": 9101, "provider-worker": 9102, "gpu-inference": 9103, "judge": 9104, "billing": 9105,
        ]

        public init(host: String = "127.0.0.1", port: Int) {
            self.host = host
            self.port = port
        }

        public init(reader: ConfigurationReader, service: String) throws {
            host = try reader.string("metrics.host", default: "127.0.0.1")
            let fallback = try reader.int("metrics.ports.\(service)", default: Self.defaultPorts[service] ?? 9100, range: 0...65_535)
            port = try reader.int("metrics.port", default: fallback, range: 0...65_535)
        }
    }

    private let service: String
    private let settings: Settings
    private let heartbeat: ServiceHeartbeat?
    private let logger: Logger
    /// Whether the server got its port (a later failure is not a port conflict).
    private let listening = Atomic(false)

    public init(service: String, settings: Settings, heartbeat: ServiceHeartbeat?, logger: Logger) {
        self.service = service
        self.settings = settings
        self.heartbeat = heartbeat
        self.logger = logger
    }

    /// Serves until graceful shutdown. When the configured port is taken (a second instance of the
    /// stage on one host), it listens on a free port instead, says so, and the heartbeat advertises it:
    /// a stage never stops for want of a metrics port.
    public func run() async throws {
        do {
            try await serve(port: settings.port)
        } catch where settings.port != 0 && !listening.load(ordering: .acquiring) && !Task.isCancelled {
            logger.warning(
                "metrics port \(settings.port) is not available; listening on a free port instead",
                metadata: [LogKey.error: "\(ServiceMain.describe(error))"])
            try await serve(port: 0)
        }
    }

    private func serve(port: Int) async throws {
        let logger = logger
        let heartbeat = heartbeat
        let application = Application(
            router: Self.router(service: service),
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? -1
                self.listening.store(true, ordering: .releasing)
                logger.info("metrics listening", metadata: [LogKey.metricsPort: "\(port)"])
                heartbeat?.listening(on: port)
            },
            logger: logger)
        try await application.runService()
    }

    static func router(service: String) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let body = #"{"status":"ok","service":\#(ChorusLogHandler.jsonString(service))}"#
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: ChorusMetrics.exposition())))
        }
        return router
    }
}
