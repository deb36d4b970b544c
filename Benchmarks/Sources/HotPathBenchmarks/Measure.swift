/// A small timing harness: runs a closure in batches until `minimum` has elapsed, five
/// times, and reports the median ns per operation (the median resists a busy neighbour
/// on a 2-core machine better than the mean).
struct Measurement {
    let name: String
    let nanosecondsPerOp: Double
    let operations: Int
}

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// Five runs, each of whole batches until `minimum` has elapsed: the bookkeeping both
/// timing loops share (the sync one cannot await, the async one must).
struct TimedRuns {
    let minimum: Duration
    let batch: Int
    private(set) var results: [(elapsed: Duration, operations: Int)] = []
    private var start = ContinuousClock.now
    private var operations = 0

    init(minimum: Duration, batch: Int) {
        self.minimum = minimum
        self.batch = batch
    }

    var isDone: Bool { results.count == 5 }

    /// Call after each batch; a run ends with the first batch that reaches `minimum`.
    mutating func batchDone() {
        operations += batch
        let elapsed = start.duration(to: .now)
        guard elapsed >= minimum else { return }
        results.append((elapsed, operations))
        operations = 0
        start = .now
    }
}

func measure(_ name: String, minimum: Duration = .milliseconds(300), _ body: () -> Void) -> Measurement {
    for _ in 0..<1000 { body() } // warm up
    var runs = TimedRuns(minimum: minimum, batch: 256)
    while !runs.isDone {
        for _ in 0..<runs.batch { body() }
        runs.batchDone()
    }
    return Measurement(name, runs.results)
}

extension Measurement {
    /// The median of the runs' ns per operation, and how many operations ran in all.
    init(_ name: String, _ runs: [(elapsed: Duration, operations: Int)]) {
        let perOp = runs.map { (Double($0.elapsed.components.seconds) * 1e9 + Double($0.elapsed.components.attoseconds) / 1e9) / Double($0.operations) }
        self.init(name: name, nanosecondsPerOp: perOp.sorted()[perOp.count / 2], operations: runs.reduce(0) { $0 + $1.operations })
    }
}

func report(_ results: [Measurement]) {
    let width = results.map(\.name.count).max() ?? 10
    print("| " + "benchmark".padding(toLength: width, withPad: " ", startingAt: 0) + " | ns/op (median of 5) | ops measured |")
    print("|" + String(repeating: "-", count: width + 2) + "|---:|---:|")
    for r in results {
        print("| " + r.name.padding(toLength: width, withPad: " ", startingAt: 0) + " | " + String(Int(r.nanosecondsPerOp.rounded())) + " | \(r.operations) |")
    }
}

/// The async variant (token verification, Redis round trips). The loop runs in a detached
/// task: called from main.swift's top level (the main actor), every await of a
/// nonisolated operation would otherwise add two thread hops (~30 µs here) to the figure.
func measureAsync(_ name: String, minimum: Duration = .milliseconds(300), _ body: @escaping @Sendable () async -> Void) async -> Measurement {
    await Task.detached {
        for _ in 0..<200 { await body() }
        var runs = TimedRuns(minimum: minimum, batch: 32)
        while !runs.isDone {
            for _ in 0..<runs.batch { await body() }
            runs.batchDone()
        }
        return Measurement(name, runs.results)
    }.value
}

/// Latency percentiles of single awaited operations, in microseconds (off the main actor,
/// as `measureAsync`).
func percentiles(_ name: String, count: Int, _ body: @escaping @Sendable () async -> Void) async -> String {
    await Task.detached { await percentilesHere(name, count: count, body) }.value
}

/// A cycling index shared by a benchmark closure (which must be Sendable).
final class Cycle: @unchecked Sendable {
    private var i = 0
    let count: Int
    init(_ count: Int) { self.count = count }
    func next() -> Int {
        i = (i + 1) % count
        return i
    }
}

private func percentilesHere(_ name: String, count: Int, _ body: @Sendable () async -> Void) async -> String {
    var samples: [Double] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        await body()
        let d = start.duration(to: clock.now)
        samples.append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12)
    }
    samples.sort()
    func p(_ q: Double) -> String { String(format: "%.1f", samples[min(samples.count - 1, Int(Double(samples.count) * q))]) }
    return "| \(name) | p50 \(p(0.5)) µs | p99 \(p(0.99)) µs | n=\(count) |"
}
