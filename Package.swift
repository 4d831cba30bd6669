// swift-tools-version:6.0
import PackageDescription

// Binaries find librdkafka 2.16 and libllama in .deps/lib (laid out by scripts/setup.sh) before the
// system's copies: Debian's librdkafka 2.0.2 cannot talk to Tansu or KRaft brokers (librdkafka PR #4278).
let packageRoot = String(#filePath.dropLast("/Package.swift".count))
let depsRPath: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "\(packageRoot)/.deps/lib"])
]

let package = Package(
    name: "chorus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chorus", targets: ["ChorusCLI"]),
        .executable(name: "ingest", targets: ["IngestMain"]),
        .executable(name: "dispatcher", targets: ["DispatcherMain"]),
        .executable(name: "provider-worker", targets: ["ProviderWorkerMain"]),
        .executable(name: "judge", targets: ["JudgeMain"]),
        .executable(name: "billing", targets: ["BillingMain"]),
        .executable(name: "gpu-inference", targets: ["GPUInferenceMain"]),
        .executable(name: "bench-inference", targets: ["GPUInferenceBench"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "HTTP", targets: ["HTTP"]),
        .library(name: "Llama", targets: ["Llama"]),
        .library(name: "ChorusRuntime", targets: ["ChorusRuntime"]),
        .library(name: "Contracts", targets: ["Contracts"]),
        .library(name: "Catalog", targets: ["Catalog"]),
        .executable(name: "provider-simulator", targets: ["ProviderSimulatorMain"]),
        .executable(name: "bench-pipeline", targets: ["LoadGeneratorMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        // HTTP servers: ingest's front door, every service's /metrics, the provider simulator.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
    ],
    targets: [
        // MARK: - C libraries
        .systemLibrary(
            name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(
            name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CCurl", path: "Shared/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Shared/CCurlShim"),
        // pkg-config file written by scripts/setup.sh into .deps/pkgconfig (PKG_CONFIG_PATH).
        .systemLibrary(name: "CLlama", path: "Shared/CLlama", pkgConfig: "llama"),

        // MARK: - Swift wrappers (no C type in their public API)
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Kafka",
            linkerSettings: depsRPath),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Postgres"),
        .target(
            name: "HTTP",
            dependencies: [
                "CCurl", "CCurlShim",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/HTTP"),
        .target(
            name: "Llama",
            dependencies: [
                "CLlama",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Llama",
            linkerSettings: depsRPath),
        .target(
            name: "ChorusRuntime",
            dependencies: [
                "Kafka", "Postgres", "Contracts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // /metrics and /healthz of every service (OperationsServer).
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Shared/ChorusRuntime"),
        // Message contracts of every topic: pure Swift, no C.
        .target(name: "Contracts", path: "Shared/Contracts"),
        // The stored trail: PostgreSQL reads and writes of the pipeline tables shared by several stages.
        .target(name: "Trail", dependencies: ["ChorusRuntime", "Contracts", "Postgres"], path: "Shared/Trail"),
        // The model catalog and presets (config/models.yaml).
        .target(name: "Catalog", dependencies: ["ChorusRuntime", "Contracts"], path: "Shared/Catalog"),

        // MARK: - Services (each: a library with the stage's logic, and a thin executable)
        .target(
            name: "Ingest",
            dependencies: [
                "Contracts", "Catalog", "ChorusRuntime", "Kafka", "Postgres", "Trail",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Services/Ingest/Library"),
        .target(
            name: "Dispatcher", dependencies: ["Contracts", "Catalog", "ChorusRuntime", "Kafka", "Postgres", "Trail"],
            path: "Services/Dispatcher/Library"),
        .target(name: "Judge", dependencies: ["Contracts", "Catalog", "ChorusRuntime", "Kafka", "Trail"], path: "Services/Judge/Library"),
        .target(
            name: "GPUInference", dependencies: ["Contracts", "Catalog", "ChorusRuntime", "HTTP", "Kafka", "Trail", "Llama"],
            path: "Services/GPUInference/Library"),
        .executableTarget(
            name: "GPUInferenceBench", dependencies: ["GPUInference", "Catalog", "ChorusRuntime", "Contracts", "Llama", .product(name: "Logging", package: "swift-log")],
            path: "Services/GPUInference/Bench"),
        .executableTarget(name: "GPUInferenceMain", dependencies: ["GPUInference", "ChorusRuntime", "Catalog", "Contracts"], path: "Services/GPUInference/Main"),
        .target(
            name: "Billing",
            dependencies: ["Contracts", "Catalog", "ChorusRuntime", "Kafka", "Postgres", .product(name: "Metrics", package: "swift-metrics")],
            path: "Services/Billing/Library"),
        .target(
            name: "ProviderWorker",
            dependencies: ["Contracts", "Catalog", "ChorusRuntime", "HTTP", "Kafka", "Trail", .product(name: "Metrics", package: "swift-metrics")],
            path: "Services/ProviderWorker/Library"),

        .executableTarget(
            name: "IngestMain", dependencies: ["Ingest", "ChorusRuntime", "Catalog", "Contracts", "Kafka", "Postgres", "Trail"],
            path: "Services/Ingest/Main"),
        .executableTarget(name: "DispatcherMain", dependencies: ["Dispatcher", "ChorusRuntime", "Catalog", "Contracts", "HTTP"], path: "Services/Dispatcher/Main"),
        .executableTarget(name: "ProviderWorkerMain", dependencies: ["ProviderWorker", "ChorusRuntime", "Catalog", "Contracts", "HTTP"], path: "Services/ProviderWorker/Main"),
        .executableTarget(name: "JudgeMain", dependencies: ["Judge", "ChorusRuntime", "Catalog", "Contracts", "HTTP"], path: "Services/Judge/Main"),
        .executableTarget(name: "BillingMain", dependencies: ["Billing", "ChorusRuntime", "Catalog", "Contracts", "HTTP"], path: "Services/Billing/Main"),
        // The `chorus` command line.
        .executableTarget(
            name: "ChorusCLI",
            dependencies: [
                "ChorusRuntime", "Contracts", "Catalog", "Kafka", "Postgres", "Trail", "HTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/CLI"),

        // MARK: - Test support
        // An HTTP server speaking the OpenAI, Anthropic and Gemini APIs, standing in for remote
        // providers in end-to-end, chaos and benchmark runs.
        .target(
            name: "ProviderSimulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/Support/ProviderSimulator",
            exclude: ["README.md"]),
        .executableTarget(
            name: "ProviderSimulatorMain",
            dependencies: [
                "ProviderSimulator", "ChorusRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/Support/ProviderSimulatorMain"),
        // `bench-pipeline`: the open-loop load generator of `make bench` (scripts/bench-pipeline.sh).
        .target(name: "LoadGenerator", path: "Tests/Support/LoadGenerator"),
        .executableTarget(
            name: "LoadGeneratorMain",
            dependencies: [
                "LoadGenerator", "HTTP", "Kafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Support/LoadGeneratorMain"),

        // MARK: - Tests
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"], path: "Tests/KafkaTests"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"], path: "Tests/PostgresTests"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"], path: "Tests/HTTPTests"),
        // Every test that runs a real model lives here, under one serialized suite (RealModelTests).
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "GPUInference", "Catalog", "Contracts"], path: "Tests/LlamaTests"),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts"], path: "Tests/ContractsTests",
                    resources: [.copy("Golden")]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest"], path: "Tests/IngestTests"),
        .testTarget(
            name: "ProviderWorkerTests", dependencies: ["ProviderWorker", "ProviderSimulator"], path: "Tests/ProviderWorkerTests"),
        .testTarget(name: "DispatcherTests", dependencies: ["Dispatcher", "Catalog", "ChorusRuntime", "Contracts", "Postgres", "Trail"], path: "Tests/DispatcherTests"),
        .testTarget(name: "BillingTests", dependencies: ["Billing", "Catalog", "ChorusRuntime", "Contracts", "Postgres"], path: "Tests/BillingTests"),
        .testTarget(name: "JudgeTests", dependencies: ["Judge"], path: "Tests/JudgeTests"),
        .testTarget(
            name: "GPUInferenceTests", dependencies: ["GPUInference", "Catalog", "Contracts", "Llama"],
            path: "Tests/GPUInferenceTests"),
        .testTarget(
            name: "ProviderSimulatorTests",
            dependencies: ["ProviderSimulator", .product(name: "Logging", package: "swift-log")],
            path: "Tests/ProviderSimulatorTests"),
        // End to end: the six executables as processes (they must be built: `make test` builds everything).
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "ProviderSimulator", "Contracts", "Catalog", "Kafka", "Postgres", "Trail", "HTTP",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/PipelineTests",
            exclude: ["openai_client.py"]),
        .testTarget(name: "LoadGeneratorTests", dependencies: ["LoadGenerator"], path: "Tests/LoadGeneratorTests"),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog"], path: "Tests/CatalogTests"),
        .testTarget(
            name: "ChorusRuntimeTests",
            dependencies: ["ChorusRuntime", "Kafka", "Contracts", .product(name: "Logging", package: "swift-log")],
            path: "Tests/ChorusRuntimeTests"),
        // compose/: validated with docker-compose (no Docker engine needed), checked against the package.
        .testTarget(
            name: "DeploymentTests", dependencies: [.product(name: "Yams", package: "Yams")], path: "Tests/DeploymentTests"),
    ]
)
