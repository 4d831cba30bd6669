// bench-inference: cold starts by tier, continuous-batching decode rates and the plain libllama
// reference, for one local model, in one run. `make bench-inference` runs it (release build) and writes
// bench-results/inference.json. A benchmark, not a test: it asserts nothing and prints the figures.
import Catalog
import ChorusRuntime
import Contracts
import Foundation
import GPUInference
import Llama
import Logging

struct Options {
    var model = "smollm2-135m"
    var gguf = ".deps/models/smollm2-135m.gguf"
    var output = "bench-results/inference.json"
    var trials = 7
    var tokens = 128
    var threads = 2

    init(arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw BenchError("\(flag) needs a value") }
            switch flag {
            case "--model": model = value
            case "--gguf": gguf = value
            case "--output": output = value
            case "--trials": trials = try Self.positive(flag, value)
            case "--tokens": tokens = try Self.positive(flag, value)
            case "--threads": threads = try Self.positive(flag, value)
            default: throw BenchError("unknown option \(flag) (known: --model --gguf --output --trials --tokens --threads)")
            }
        }
    }

    static func positive(_ flag: String, _ value: String) throws -> Int {
        guard let number = Int(value), number > 0 else { throw BenchError("\(flag) must be a positive whole number, got \(value)") }
        return number
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}

func machine() -> [String: String] {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let cpu = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }.map {
        $0.split(separator: ":", maxSplits: 1).last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
    } ?? "unknown"
    let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? ""
    return [
        "cpu": cpu, "cores": "\(ProcessInfo.processInfo.activeProcessorCount)",
        "memory": memory.replacingOccurrences(of: "MemTotal:", with: "").trimmingCharacters(in: .whitespaces),
        "gpu": LlamaBackend.supportsGPUOffload ? "offload available" : "none (CPU build)",
        "date": ISO8601DateFormatter().string(from: Date()),
    ]
}

let options: Options
do {
    options = try Options(arguments: CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("bench-inference: \(error)\n".utf8))
    exit(2)
}
var logger = Logger(label: "bench-inference")
logger.logLevel = .warning
guard FileManager.default.fileExists(atPath: options.gguf) else {
    FileHandle.standardError.write(Data("bench-inference: \(options.gguf) does not exist; run make setup\n".utf8))
    exit(1)
}

let local = LocalModel(
    ggufPath: options.gguf, contextSize: 4096, gpuLayers: 999, maxSequences: 16, idleWindow: .milliseconds(1), minWarm: 0,
    promptStyle: .chat, pricePerDeviceSecond: .zero)
let catalog = ModelCatalog(
    providers: [:], models: [options.model: CatalogModel(id: options.model, placement: .local(local), family: nil)],
    presets: [:], defaultPreset: nil)
let question = "What is the capital of France?"

func call(maxTokens: Int) -> ModelCall {
    let id = UUID().uuidString
    return ModelCall(
        callID: "\(id)/pool/0/0", requestID: id, project: "bench", role: .pool, round: 0, index: 0, model: options.model,
        provider: nil, messages: [ChatMessage(role: .user, content: question)], maxTokens: maxTokens, temperature: 0,
        deadlineMs: 0)
}

/// Time from a call's arrival to its first token: a one-token call's wall time.
func firstToken(_ host: LocalModelHost, expecting tier: StartTier) async throws -> Double {
    let (response, metering) = await host.generate(call(maxTokens: 1))
    guard response.error == nil, let metering else { throw BenchError("call failed: \(response.error?.message ?? "?")") }
    guard metering.tier == tier else { throw BenchError("expected a \(tier) start, got \(metering.tier)") }
    return Double(metering.wallNanos) / 1e6
}

// MARK: - Cold starts
var disk: [Double] = []
var snapshot: [Double] = []
var warm: [Double] = []
for _ in 0..<options.trials {
    let host = LocalModelHost(catalog: catalog, settings: LocalHostSettings(threads: options.threads), logger: logger)
    disk.append(try await firstToken(host, expecting: .disk))
    warm.append(try await firstToken(host, expecting: .warm))
    try await Task.sleep(for: .milliseconds(5))
    await host.maintainOnce(now: .now)  // idle past its 1 ms window: unloaded to the snapshot tier
    while await host.phases()[options.model] != "snapshot" { try await Task.sleep(for: .milliseconds(1)) }
    snapshot.append(try await firstToken(host, expecting: .snapshot))
    await host.shutdown()
}

// MARK: - Decode rates
let model = try await LlamaModel.load(path: options.gguf, parameters: LlamaModelParameters(gpuLayers: 999))
let prompt = try model.applyChatTemplate([Llama.ChatMessage(role: .user, content: "Write a long story about the sea.")])
let engine = try await LlamaEngine(
    model: model, slots: 16, contextParameters: LlamaContextParameters(contextSize: 4096, threads: options.threads))
let fixedLength = GenerationParameters(maxTokens: options.tokens, ignoresEndOfText: true)

/// Aggregate completion tokens per second with `concurrency` calls at once: all their tokens over the
/// time from the first call's first token to the last call's end.
func aggregateRate(_ concurrency: Int) async throws -> (rate: Double, occupancy: Double) {
    let before = engine.statistics
    let start = ContinuousClock.now
    let results = try await withThrowingTaskGroup(of: (Generation, ContinuousClock.Instant).self) { group in
        for _ in 0..<concurrency {
            group.addTask { (try await engine.generate(prompt: prompt, parameters: fixedLength), .now) }
        }
        var results: [(Generation, ContinuousClock.Instant)] = []
        for try await result in group { results.append(result) }
        return results
    }
    let firstToken = results.map { start + $0.0.timings.timeToFirstToken }.min() ?? start
    let end = results.map(\.1).max() ?? start
    let tokens = results.reduce(0) { $0 + $1.0.completionTokens }
    let after = engine.statistics
    let occupancy = Double(after.sequenceSteps - before.sequenceSteps) / Double(max(1, after.steps - before.steps))
    return (Double(tokens) / (end - firstToken).secondsValue, occupancy)
}

var rates: [Int: Double] = [:]
var occupancies: [Int: Double] = [:]
// The reference and the engine's single stream alternate, so a slow spell of a shared machine hits both.
var referenceRates: [Double] = []
var singleRates: [Double] = []
for _ in 0..<5 {
    referenceRates.append(
        try LlamaReference.singleStream(model: model, prompt: prompt, tokens: options.tokens, threads: options.threads, contextSize: 4096)
            .tokensPerSecond)
    singleRates.append(try await aggregateRate(1).rate)
}
let referenceRate = median(referenceRates)
rates[1] = median(singleRates)
occupancies[1] = 1
for concurrency in [4, 8, 16] {
    var samples: [Double] = []
    var occupancySamples: [Double] = []
    for _ in 0..<3 {
        let (rate, occupancy) = try await aggregateRate(concurrency)
        samples.append(rate)
        occupancySamples.append(occupancy)
    }
    rates[concurrency] = median(samples)
    occupancies[concurrency] = median(occupancySamples)
}
await engine.shutdown()
let rss = residentMegabytes()

// MARK: - Report
let info = machine()
let single = rates[1] ?? 0
print("bench-inference: \(options.model), \(options.trials) trials, \(options.tokens) tokens, \(options.threads) threads")
print("machine: \(info["cpu"] ?? ""), \(info["cores"] ?? "") cores, \(info["memory"] ?? ""), GPU \(info["gpu"] ?? "")")
print("")
print("cold start to first token (p50)   ms")
print(String(format: "  disk (file → mapped, parsed)  %8.1f", median(disk)))
print(String(format: "  snapshot tier                 %8.1f", median(snapshot)))
print(String(format: "  warm                          %8.1f", median(warm)))
print("")
print("decode, aggregate tokens/s        tok/s   × single   occupancy")
for concurrency in [1, 4, 8, 16] {
    let rate = rates[concurrency] ?? 0
    print(String(format: "  c%-2d                         %8.1f   %6.2f×   %6.2f", concurrency, rate, single > 0 ? rate / single : 0, occupancies[concurrency] ?? 0))
}
print(String(format: "  plain libllama loop (c1)     %8.1f   (engine c1 = %.1f%% of it)", referenceRate, referenceRate > 0 ? single / referenceRate * 100 : 0))
print(String(format: "resident memory: %.0f MB", rss))

let report: [String: Any] = [
    "model": options.model,
    "cold_start_ms": ["disk_p50": median(disk), "snapshot_p50": median(snapshot), "warm_p50": median(warm)],
    "decode_tok_s": ["c1": rates[1] ?? 0, "c4": rates[4] ?? 0, "c8": rates[8] ?? 0, "c16": rates[16] ?? 0],
    "batch_occupancy": ["c1": occupancies[1] ?? 0, "c4": occupancies[4] ?? 0, "c8": occupancies[8] ?? 0, "c16": occupancies[16] ?? 0],
    "reference_c1_tok_s": referenceRate,
    "rss_mb": rss,
    "trials": options.trials,
    "tokens_per_call": options.tokens,
    "machine": info,
]
let directory = URL(fileURLWithPath: options.output).deletingLastPathComponent()
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
let json = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
try json.write(to: URL(fileURLWithPath: options.output))
print("wrote \(options.output)")
