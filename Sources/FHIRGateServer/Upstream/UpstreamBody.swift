import NIOCore

/// The body of an upstream response, chunk by chunk as the connection reads it. At most
/// a couple of chunks wait unconsumed: a slow client slows the upstream read instead of
/// filling memory (a 1 GB Bulk file passes with flat memory).
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark,
                                                          UpstreamBodyDelegate>
    let producer: Producer

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Producer.AsyncIterator
        mutating func next() async throws -> ByteBuffer? { try await inner.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: producer.makeAsyncIterator()) }

    /// The whole body, refused (`NIOTooManyBytesError`) past `maxBytes`.
    func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        var all: ByteBuffer?
        for try await var chunk in self {
            if (all?.readableBytes ?? 0) + chunk.readableBytes > maxBytes { throw NIOTooManyBytesError(maxBytes: maxBytes) }
            if all == nil { all = chunk } else { all!.writeBuffer(&chunk) }
        }
        return all ?? ByteBuffer()
    }
}

/// Tells the connection to read on (the consumer caught up) or that the consumer is gone.
struct UpstreamBodyDelegate: NIOAsyncSequenceProducerDelegate {
    let connection: NIOLoopBound<UpstreamConnectionHandler>
    let exchange: Int

    func produceMore() {
        let (connection, exchange) = (self.connection, self.exchange)
        connection.eventLoop.execute { connection.value.consumerWantsMore(exchange: exchange) }
    }

    func didTerminate() {
        let (connection, exchange) = (self.connection, self.exchange)
        connection.eventLoop.execute { connection.value.consumerGone(exchange: exchange) }
    }
}
