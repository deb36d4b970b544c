import Foundation

/// Requests from several concurrent clients until `finish()`: how many were sent and how
/// many did not get `expected` (tests that change things under load).
final class SteadyLoad: Sendable {
    private let stop = Flag()
    private let task: Task<(sent: Int, failed: Int), any Error>

    init(_ f: GatewayFixture, url: String, token: String, workers: Int = 4, expected: Int = 200) {
        let stop = self.stop
        task = Task {
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        var sent = 0, failed = 0
                        while !stop.isSet {
                            let r = try await f.client.send(.GET, url, token: token)
                            sent += 1
                            if r.status != expected { failed += 1 }
                        }
                        return (sent, failed)
                    }
                }
                return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            }
        }
    }

    func finish() async throws -> (sent: Int, failed: Int) {
        stop.set()
        return try await task.value
    }
}

/// A flag set once, read from many tasks.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
