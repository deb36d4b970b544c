import NIOCore

/// The body of an upstream response, chunk by chunk as the connection reads it. At most
/// a couple of chunks wait unconsumed: a slow client slows the upstream read instead of
/// filling memory (a 1 GB Bulk file passes with flat memory). A response that arrived
/// whole in the socket read that brought its head (most FHIR reads) is handed over as
/// one buffer: no stream is set up for it.
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark,
                                                          UpstreamBodyDelegate>
    private enum Source: Sendable {
        case complete(ByteBuffer)
        case stream(Producer)
    }

    private let source: Source

    init(producer: Producer) { source = .stream(producer) }

    /// A body that is all here.
    init(complete: ByteBuffer) { source = .complete(complete) }

    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate enum State {
            case complete(ByteBuffer?)
            case stream(Producer.AsyncIterator)
        }

        fileprivate var state: State

        mutating func next() async throws -> ByteBuffer? {
            switch state {
            case .complete(let buffer):
                state = .complete(nil)
                return buffer.flatMap { $0.readableBytes > 0 ? $0 : nil }
            case .stream(let inner):
                return try await inner.next()
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        switch source {
        case .complete(let buffer): AsyncIterator(state: .complete(buffer))
        case .stream(let producer): AsyncIterator(state: .stream(producer.makeAsyncIterator()))
        }
    }

    /// The whole body, refused (`NIOTooManyBytesError`) past `maxBytes`.
    func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        if case .complete(let buffer) = source {
            guard buffer.readableBytes <= maxBytes else { throw NIOTooManyBytesError(maxBytes: maxBytes) }
            return buffer
        }
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
