import CHiredis

/// hiredis's RESP reader, fed with bytes as they arrive. Not thread-safe: one per
/// connection, used only on that connection's event loop. `redisReaderFeed` copies, so
/// callers may release their buffers at once.
public final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        reader = redisReaderCreate()
    }

    deinit {
        redisReaderFree(reader)
    }

    public enum ReaderError: Error, Equatable {
        case protocolError(String)
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw ReaderError.protocolError(errorText)
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    public func next() throws -> RESPValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw ReaderError.protocolError(errorText) }
        guard let raw else { return nil }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return Self.convert(reply)
    }

    private var errorText: String {
        // `redisReaderGetError` is a macro Swift cannot see: read the field.
        withUnsafeBytes(of: reader.pointee.errstr) { buf in
            String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        func text() -> [UInt8] {
            guard let s = r.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: s, count: Int(r.len)))
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .bulkString(text())
        case REDIS_REPLY_STATUS: return .simpleString(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_ARRAY:
            var items: [RESPValue] = []
            for i in 0..<Int(r.elements) {
                if let child = r.element[i] { items.append(convert(child)) }
            }
            return .array(items)
        default: return .null
        }
    }
}

/// Formats a command with hiredis's binary-safe `redisFormatCommandArgv`.
public enum RedisCommandFormatter {
    public static func format(_ arguments: [[UInt8]]) -> [UInt8] {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = arguments.map(\.count)
        let storage = arguments.map { arg -> UnsafeMutablePointer<CChar> in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(arg.count, 1))
            arg.withUnsafeBytes { buf in
                if let base = buf.baseAddress { p.initialize(from: base.assumingMemoryBound(to: CChar.self), count: arg.count) }
            }
            return p
        }
        defer { storage.forEach { $0.deallocate() } }
        pointers = storage.map { UnsafePointer($0) }
        var target: UnsafeMutablePointer<CChar>?
        let length = pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeMutableBufferPointer { argvlen in
                redisFormatCommandArgv(&target, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
        guard length > 0, let target else { return [] }
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(length)))
    }

    public static func format(_ arguments: [String]) -> [UInt8] {
        format(arguments.map { Array($0.utf8) })
    }
}
