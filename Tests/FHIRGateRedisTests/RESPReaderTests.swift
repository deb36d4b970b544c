import Testing
@testable import FHIRGateRedis

@Suite struct RESPReaderTests {
    func parse(_ chunks: [String]) throws -> [RESPValue] {
        let reader = HiredisReader()
        var out: [RESPValue] = []
        for chunk in chunks {
            try Array(chunk.utf8).withUnsafeBytes { try reader.feed($0) }
            while let v = try reader.next() { out.append(v) }
        }
        return out
    }

    @Test func everyReplyType() throws {
        let all = "+OK\r\n-ERR wrong type\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n-NOSCRIPT no\r\n"
        let expected: [RESPValue] = [
            .simpleString("OK"), .error("ERR wrong type"), .integer(-42), .bulkString(Array("he\r\no".utf8)), .null, .bulkString([]), .null,
            .array([]), .array([.integer(1), .array([.bulkString(Array("x".utf8)), .null]), .error("NOSCRIPT no")]),
        ]
        #expect(try parse([all]) == expected)
    }

    @Test func repliesSplitAcrossReadsAtEveryByte() throws {
        let text = "*2\r\n$3\r\nabc\r\n:7\r\n+PONG\r\n"
        #expect(try parse(text.map { String($0) }) == [.array([.bulkString(Array("abc".utf8)), .integer(7)]), .simpleString("PONG")])
        #expect(try parse(["$1", "0\r\n01234", "56789\r", "\n"]) == [.bulkString(Array("0123456789".utf8))])
    }

    @Test func protocolErrorIsReported() {
        #expect(throws: HiredisReader.ReaderError.self) { try parse(["!nonsense\r\n"]) }
    }

    @Test func formatterIsBinarySafe() {
        let bytes = RedisCommandFormatter.format([Array("SET".utf8), Array("k".utf8), [0x00, 0x0D, 0x0A, 0xFF]])
        #expect(bytes == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + [0x00, 0x0D, 0x0A, 0xFF] + Array("\r\n".utf8))
    }

    @Test func urlForms() {
        #expect(RedisURL("redis://127.0.0.1:6380/3") == { var u = RedisURL("redis://x")!; u.host = "127.0.0.1"; u.port = 6380; u.database = 3; return u }())
        let auth = RedisURL("rediss://user:p%40ss@cache:7000/1")
        #expect(auth?.user == "user" && auth?.password == "p%40ss" && auth?.tls == true && auth?.port == 7000 && auth?.database == 1)
        #expect(RedisURL("redis://:secret@h")?.password == "secret")
        #expect(RedisURL("http://h") == nil)
        #expect(RedisURL("redis://h:99999") == nil)
        #expect(RedisURL("redis://h/x") == nil)
    }
}
