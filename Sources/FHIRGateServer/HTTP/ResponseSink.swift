import NIOCore
import NIOHTTP1
import NIOHTTP2

/// Where an exchange writes its response: an HTTP/1.1 connection's handler, or an
/// HTTP/2 stream's async channel. `write` returns once the parts are queued and the
/// client is taking bytes (backpressure); it throws once the connection is gone.
protocol ResponseSink: Sendable {
    /// Writes and flushes `parts`; `final` marks the parts that end the response (the
    /// call then returns once they are handed to the socket).
    func write(_ parts: [HTTPServerResponsePart], final: Bool) async throws
}

extension NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>: ResponseSink {
    func write(_ parts: [HTTPServerResponsePart], final: Bool) async throws {
        try await write(contentsOf: parts)
    }
}
