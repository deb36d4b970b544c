import NIOCore

/// Turns bytes from Redis into `RESPValue`s with hiredis's reader. Event-loop confined.
final class RESPReplyDecoder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RESPValue

    private let reader = HiredisReader()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { try reader.feed($0) }
            while let reply = try reader.next() {
                context.fireChannelRead(wrapInboundOut(reply))
            }
        } catch {
            context.fireErrorCaught(error)
        }
    }
}

/// Pipelining: each batch of commands (one request's, written at once) is queued with its
/// reply count, its promise and its deadline; replies arrive in order and fill the oldest
/// batch. One timer per connection watches the oldest deadline (re-armed only when it
/// fires early) instead of a timer scheduled and cancelled per command. A reply that does
/// not come in time fails every batch and closes the connection (it would answer the wrong
/// command otherwise); so do close and error (reconnecting is the client's job).
final class RedisPipelineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisBatch
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        let expected: Int
        var replies: [RESPValue]
        let promise: EventLoopPromise<[RESPValue]>
        let deadline: NIODeadline
    }

    private var waiting = CircularBuffer<Waiting>(initialCapacity: 64)
    private var context: ChannelHandlerContext?
    private var wakeAt: NIODeadline?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        failAll(RedisError.connectionClosed)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let batch = unwrapOutboundIn(data)
        waiting.append(Waiting(expected: batch.count, replies: [], promise: batch.replies, deadline: batch.deadline))
        armTimer(batch.deadline)
        context.write(wrapOutboundOut(batch.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard !waiting.isEmpty else {
            context.fireErrorCaught(RedisError.protocolError("reply without a request"))
            return
        }
        waiting[waiting.startIndex].replies.append(reply)
        if waiting[waiting.startIndex].replies.count == waiting[waiting.startIndex].expected {
            let done = waiting.removeFirst()
            done.promise.succeed(done.replies)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connectionClosed)
        context.fireChannelInactive()
    }

    private func armTimer(_ deadline: NIODeadline) {
        if let wakeAt, wakeAt <= deadline { return }
        guard let context else { return }
        wakeAt = deadline
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [weak self] in self?.wake(deadline) }
    }

    private func wake(_ at: NIODeadline) {
        if wakeAt == at { wakeAt = nil }
        guard let oldest = waiting.first else { return }
        if oldest.deadline <= .now() {
            failAll(RedisError.timeout)
            context?.close(promise: nil)
        } else {
            armTimer(oldest.deadline)
        }
    }

    private func failAll(_ error: any Error) {
        while let w = waiting.popFirst() { w.promise.fail(error) }
    }
}

/// One write: the formatted commands, how many replies they bring, where they go, and
/// by when they must have come.
struct RedisBatch {
    let bytes: ByteBuffer
    let count: Int
    let replies: EventLoopPromise<[RESPValue]>
    let deadline: NIODeadline
}

public enum RedisError: Error, Sendable, Equatable {
    case connectionClosed
    case protocolError(String)
    case timeout
    case unavailable
    case server(String)
}
