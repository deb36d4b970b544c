import NIOCore
import NIOHTTP1

/// Where an exchange writes its response (an `ExchangeHandler`, for an HTTP/1.1
/// connection or an HTTP/2 stream). `write` returns once the parts are queued and the
/// client is taking bytes (backpressure); it throws once the connection is gone.
/// Keeps `RequestExchange` free of channel handlers.
protocol ResponseSink: Sendable {
    /// Writes and flushes `parts`; `final` marks the parts that end the response (the
    /// call then returns once they are handed to the socket).
    func write(_ parts: [HTTPServerResponsePart], final: Bool) async throws
}
