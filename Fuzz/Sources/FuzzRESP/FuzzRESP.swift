import FuzzSupport
import FHIRGateRedis

/// libFuzzer entry for the glue around hiredis's RESP reader: any bytes, split anywhere,
/// give the same replies (or the same protocol error) as when fed at once, and what the
/// formatter writes reads back as exactly the arguments it was given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let step = Int(bytes[0] % 7) + 1
    let input = Array(bytes.dropFirst())

    func replies(_ chunks: [ArraySlice<UInt8>]) -> [RESPValue]? {
        let reader = HiredisReader()
        var out: [RESPValue] = []
        do {
            for chunk in chunks {
                try Array(chunk).withUnsafeBytes { try reader.feed($0) }
                while let reply = try reader.next() { out.append(reply) }
            }
        } catch {
            return nil
        }
        return out
    }
    let whole = replies([input[...]])
    let pieces = stride(from: 0, to: input.count, by: step).map { input[$0..<min($0 + step, input.count)] }
    let split = replies(pieces)
    if (whole == nil) != (split == nil) || (whole != nil && whole! != split!) {
        fatalError("split feeding changed the replies")
    }

    // Formatter round trip: arguments separated by 0x00.
    let arguments = input.split(separator: 0, omittingEmptySubsequences: false).map { Array($0) }
    let formatted = RedisCommandFormatter.format(arguments)
    guard let back = replies([formatted[...]]), back.count == 1, case .array(let items) = back[0],
          items == arguments.map({ RESPValue.bulkString($0) }) else {
        fatalError("formatted command did not read back")
    }
    return 0
}

@_cdecl("FuzzRESP_main")
public func fuzzRESPMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
