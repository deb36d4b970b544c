import FHIRGateCore
import NIOCore
import NIOHTTP1

/// Gathers one request's body within `server.limits.max_body_bytes`, the same way for an
/// HTTP/1.1 connection and an HTTP/2 stream. A declared length over the limit is refused
/// before any byte is read; a body that grows past it is refused at the chunk that
/// crosses it (the rest is not kept).
struct RequestBodyCollector {
    private(set) var body = ByteBuffer()
    private(set) var refusal: GatewayError?
    let maxBytes: Int

    init(head: HTTPRequestHead, maxBytes: Int) {
        self.maxBytes = maxBytes
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
            refusal = .payloadTooLarge
        }
    }

    /// Refuses the request (a body that did not arrive in time); nothing more is kept.
    mutating func refuse(_ error: GatewayError) {
        refusal = error
        body.clear()
    }

    /// Adds a chunk; false once the body is refused (nothing more needs reading).
    mutating func append(_ chunk: inout ByteBuffer) -> Bool {
        guard refusal == nil else { return false }
        if body.readableBytes + chunk.readableBytes > maxBytes {
            refusal = .payloadTooLarge
            body.clear()
            return false
        }
        if body.readableBytes == 0 && body.capacity == 0 {
            body = chunk // the common one-chunk body is kept without a copy
        } else {
            body.writeBuffer(&chunk)
        }
        return true
    }
}
