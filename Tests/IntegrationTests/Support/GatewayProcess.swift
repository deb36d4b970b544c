import Foundation
import NIOCore
import NIOPosix

/// The real `fhirgate serve` binary as a child process, so tests can send it real
/// signals and read its real memory use.
final class GatewayProcess: @unchecked Sendable {
    let process = Process()
    let stderrFile: String
    let port: Int
    let adminPort: Int

    static var binary: String {
        // FHIRGATE_BINARY: measure a release build (e.g. .build/release/fhirgate).
        if let explicit = ProcessInfo.processInfo.environment["FHIRGATE_BINARY"] { return explicit }
        // Tests/IntegrationTests/Support/GatewayProcess.swift → repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let scratch = ProcessInfo.processInfo.environment["FHIRGATE_SCRATCH"] ?? root.appendingPathComponent(".build").path
        return scratch + "/debug/fhirgate"
    }

    init(config: String, port: Int, adminPort: Int, directory: String, signalWhenListening: Int32? = nil) async throws {
        self.port = port
        self.adminPort = adminPort
        stderrFile = directory + "/gateway-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--config", config]
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrFile))
        process.standardOutput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        environment["FHIRGATE_LOG_LEVEL"] = environment["FHIRGATE_LOG_LEVEL"] ?? "debug"
        process.environment = environment
        try process.run()
        try await waitUntilListening(thenSignal: signalWhenListening)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var log: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// Polls without blocking a thread: the tests' own servers share the small
    /// cooperative pool (2 threads on this machine).
    /// With `thenSignal`, polls every millisecond and sends the signal at once (an ops
    /// script reloading right after start).
    private func waitUntilListening(thenSignal signal: Int32? = nil) async throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if log.contains("fhirgate listening") {
                if let signal { kill(process.processIdentifier, signal) }
                return
            }
            if !process.isRunning { throw GatewayProcessError.exited(log) }
            try await Task.sleep(for: signal == nil ? .milliseconds(50) : .milliseconds(1))
        }
        throw GatewayProcessError.notListening(log)
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    var isRunning: Bool { process.isRunning }

    /// Waits for exit; returns the exit status, or nil on timeout.
    func waitForExit(timeout: TimeInterval) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Peak resident set size (VmHWM) and current (VmRSS) in KiB, from /proc.
    func memory() -> (peak: Int, current: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return Int(line.split(separator: " ").compactMap { Int($0) }.first ?? 0)
        }
        return (field("VmHWM"), field("VmRSS"))
    }
}

enum GatewayProcessError: Error {
    case exited(String)
    case notListening(String)
}
