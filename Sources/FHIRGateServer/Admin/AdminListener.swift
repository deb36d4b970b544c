import FHIRGateCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The plain-HTTP admin listener (bind it to loopback): `/healthz`, `/readyz`,
/// `/metrics` in Prometheus text format, `/policies`.
struct AdminListener {
    let runtime: GatewayRuntime

    typealias Server = NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>

    func bind(_ address: ListenAddress) async throws -> Server {
        try await ServerBootstrap(group: runtime.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    func serve(_ server: Server) async throws {
        await withDiscardingTaskGroup { group in
            // Ending the accept loop must not cancel connections being answered.
            try? await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { try? await handle(connection) }
                }
            }
        }
    }

    private func handle(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            for try await part in inbound {
                guard case .head(let head) = part else { continue }
                let (status, type, body) = await answer(head.uri)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: type)
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                headers.add(name: "Connection", value: "close")
                try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                try await outbound.write(.end(nil))
                return
            }
        }
    }

    private func answer(_ uri: String) async -> (HTTPResponseStatus, String, String) {
        switch uri.split(separator: "?").first.map(String.init) ?? uri {
        case "/healthz":
            return (.ok, "text/plain", "ok\n")
        case "/readyz":
            let ready = await runtime.isReady()
            return (ready ? .ok : .serviceUnavailable, "text/plain", ready ? "ready\n" : "not ready\n")
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4", runtime.metrics.text())
        case "/policies":
            let snapshot = runtime.snapshot
            let items = snapshot.routes.compactMap { route -> String? in
                guard let p = route.policy else { return nil }
                // Names and paths are the operator's text: escaped like everything else written as JSON.
                return "{\"route\":\"\(JSONText.escape(route.settings.name))\",\"file\":\"\(JSONText.escape(p.file))\",\"name\":\"\(JSONText.escape(p.name))\",\"hash\":\"\(p.contentHash)\"}"
            }
            let error = runtime.lastReloadError.withLock { $0 }
            let errorJSON = error.map { "\"\(JSONText.escape($0))\"" } ?? "null"
            return (.ok, "application/json", "{\"policies\":[\(items.joined(separator: ","))],\"last_reload_error\":\(errorJSON)}\n")
        default:
            return (.notFound, "text/plain", "not found\n")
        }
    }
}
