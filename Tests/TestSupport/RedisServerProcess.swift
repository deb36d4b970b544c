import Foundation
import NIOCore
import NIOPosix

/// A real `redis-server` on a free loopback port, owned by one test (shared by the
/// Redis unit tests and the gateway integration tests).
public final class RedisServerProcess: @unchecked Sendable {
    public let port: Int
    public let password: String?
    private var process: Process?
    let directory: String

    /// Starts a server and waits (without blocking a thread) until it accepts connections.
    public static func start(password: String? = nil) async throws -> RedisServerProcess {
        let server = try RedisServerProcess(password: password)
        try await server.restart()
        return server
    }

    init(password: String? = nil) throws {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress!.port!
        try channel.close().wait()
        self.password = password
        directory = NSTemporaryDirectory() + "fhirgate-redis-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static var binary: String {
        ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "redis-server"
    }

    /// (Re)starts the server on the same port.
    public func restart() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        var args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory,
                    "--enable-debug-command", "local", "--protected-mode", "no"]
        if let password { args += ["--requirepass", password] }
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Ready when it accepts connections.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGKILL: no goodbye, connections just break.
    public func kill() {
        guard let p = process, p.isRunning else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    public var url: String { password.map { "redis://:\($0)@127.0.0.1:\(port)/2" } ?? "redis://127.0.0.1:\(port)/0" }
}
