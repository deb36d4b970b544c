import NIOCore
import NIOHTTP1

/// Where an exchange writes its response (an `ExchangeHandler`, for an HTTP/1.1
/// connection or an HTTP/2 stream). Keeps `RequestExchange` free of channel handlers.
protocol ResponseSink: Sendable {
    /// Writes and flushes parts that do not end the response; returns once they are
    /// queued and the client is taking bytes (backpressure); throws once the connection
    /// is gone.
    func write(_ parts: [HTTPServerResponsePart]) async throws

    /// Hands over the parts that end the response, and with them the rest of the
    /// exchange: they are written once `gate` succeeds with true (the audit record is on
    /// disk), at once without a gate; a gate that fails or gives false cuts the response
    /// off, and nil parts mean it was interrupted. Either way the connection or stream
    /// then goes on as `outcome` says (or closes). Why not `await` the gate and the
    /// write: each resumption of the exchange's task from the event loop is a trip
    /// through Swift's thread pool; the sink's handler does this on its own loop.
    func finish(_ parts: [HTTPServerResponsePart]?, after gate: EventLoopFuture<Bool>?, outcome: RequestExchange.Outcome)
}
