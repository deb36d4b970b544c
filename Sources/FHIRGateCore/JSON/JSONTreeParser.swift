/// Builds a `JSONTree`'s node array in one pass over the bytes (recursive descent, depth
/// bounded). Every rule of RFC 8259 that could make two readers disagree is enforced.
struct JSONTreeParser: ~Copyable {
    /// Nodes go into a buffer the tree takes over: appending to an `Array` checked its
    /// uniqueness and capacity for every value (a fifth of the parse in profiles).
    var nodes: GrowableBuffer<JSONTree.Node>
    var i = 0
    var depth = 0
    /// Key node indices of the objects being parsed (one shared stack, no per-object array).
    var keyStack = GrowableBuffer<Int32>(capacity: 64)

    init(count: Int) {
        // A FHIR Bundle has roughly one node per 12 bytes.
        nodes = GrowableBuffer(capacity: max(16, count / 12))
    }

    deinit {
        nodes.free()
        keyStack.free()
    }

    /// Hands the nodes to the tree (which frees them); the parser keeps an empty buffer.
    mutating func takeNodes() -> GrowableBuffer<JSONTree.Node> {
        let taken = nodes
        nodes = GrowableBuffer(capacity: 1)
        return taken
    }

    mutating func parseDocument(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count < Int(Int32.max) else { return false }
        skipSpace(b)
        guard parseValue(b) else { return false }
        skipSpace(b)
        return i == b.count
    }

    @inline(__always)
    mutating func skipSpace(_ b: UnsafeBufferPointer<UInt8>) {
        while i < b.count {
            let c = b[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    mutating func parseValue(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard i < b.count else { return false }
        switch b[i] {
        case UInt8(ascii: "{"): return parseObject(b)
        case UInt8(ascii: "["): return parseArray(b)
        case UInt8(ascii: "\""): return parseString(b)
        case UInt8(ascii: "t"): return parseLiteral(b, "true", .bool)
        case UInt8(ascii: "f"): return parseLiteral(b, "false", .bool)
        case UInt8(ascii: "n"): return parseLiteral(b, "null", .null)
        default: return parseNumber(b)
        }
    }

    @inline(__always)
    mutating func open(_ kind: JSONTree.Kind) -> Int {
        nodes.append(JSONTree.Node(kind: kind, escaped: false, start: Int32(i), end: 0, after: 0))
        return nodes.count - 1
    }

    @inline(__always)
    mutating func close(_ index: Int) {
        nodes[index].end = Int32(i)
        nodes[index].after = Int32(nodes.count)
    }

    mutating func parseObject(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        depth += 1
        guard depth <= JSONTree.maxDepth else { return false }
        defer { depth -= 1 }
        let me = open(.object)
        i += 1
        skipSpace(b)
        let keysBase = keyStack.count
        defer { keyStack.truncate(to: keysBase) }
        if i < b.count, b[i] == UInt8(ascii: "}") {
            i += 1
            close(me)
            return true
        }
        while true {
            skipSpace(b)
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return false }
            keyStack.append(Int32(nodes.count))
            guard parseString(b) else { return false }
            skipSpace(b)
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return false }
            i += 1
            skipSpace(b)
            guard parseValue(b) else { return false }
            skipSpace(b)
            guard i < b.count else { return false }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard b[i] == UInt8(ascii: "}") else { return false }
            i += 1
            close(me)
            return !hasDuplicateKey(from: keysBase, b)
        }
    }

    mutating func parseArray(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        depth += 1
        guard depth <= JSONTree.maxDepth else { return false }
        defer { depth -= 1 }
        let me = open(.array)
        i += 1
        skipSpace(b)
        if i < b.count, b[i] == UInt8(ascii: "]") {
            i += 1
            close(me)
            return true
        }
        while true {
            skipSpace(b)
            guard parseValue(b) else { return false }
            skipSpace(b)
            guard i < b.count else { return false }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard b[i] == UInt8(ascii: "]") else { return false }
            i += 1
            close(me)
            return true
        }
    }

    mutating func parseString(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        // A string has no children: its node is appended once, complete, at its end.
        let start = i
        var j = i + 1
        defer { i = j }
        let count = b.count
        let base = b.baseAddress!
        var escaped = false
        while j < count {
            // Eight plain bytes (no quote, backslash or control byte) at a time: strings
            // are most of a FHIR document's bytes.
            while j + 8 <= count {
                let v = UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self)
                let quote = v ^ 0x2222_2222_2222_2222
                let slash = v ^ 0x5C5C_5C5C_5C5C_5C5C
                let special = (((quote &- 0x0101_0101_0101_0101) & ~quote) | ((slash &- 0x0101_0101_0101_0101) & ~slash)
                    | ((v &- 0x2020_2020_2020_2020) & ~v)) & 0x8080_8080_8080_8080
                if special != 0 {
                    // The lowest flagged byte is exact (a borrow only flags bytes above a
                    // flagged one): go straight to it, not byte by byte through the word.
                    j += special.trailingZeroBitCount >> 3
                    break
                }
                j += 8
            }
            guard j < count else { return false }
            let c = base[j]
            // Plain bytes are the common case: skip them without the checks below.
            if c >= 0x20 && c != 0x22 && c != 0x5C {
                j += 1
                continue
            }
            if c == UInt8(ascii: "\"") {
                j += 1
                nodes.append(JSONTree.Node(kind: .string, escaped: escaped, start: Int32(start), end: Int32(j), after: Int32(nodes.count + 1)))
                return true
            }
            if c < 0x20 { return false }
            // A backslash.
            escaped = true
            guard j + 1 < count else { return false }
            switch base[j + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                j += 2
            case UInt8(ascii: "u"):
                // Surrogates must come in pairs: a lone half is read differently by
                // different parsers, so it is refused.
                guard let unit = Self.hex4(b, j + 2) else { return false }
                j += 6
                if unit >= 0xDC00 && unit < 0xE000 { return false }
                if unit >= 0xD800 && unit < 0xDC00 {
                    guard j + 5 < count, base[j] == UInt8(ascii: "\\"), base[j + 1] == UInt8(ascii: "u"),
                          let low = Self.hex4(b, j + 2), low >= 0xDC00 && low < 0xE000 else { return false }
                    j += 6
                }
            default:
                return false
            }
        }
        return false
    }

    mutating func parseLiteral(_ b: UnsafeBufferPointer<UInt8>, _ word: StaticString, _ kind: JSONTree.Kind) -> Bool {
        let me = open(kind)
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let ok = word.withUTF8Buffer { w in (0..<n).allSatisfy { b[i + $0] == w[$0] } }
        guard ok else { return false }
        i += n
        close(me)
        return true
    }

    mutating func parseNumber(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let me = open(.number)
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, isDigit(b[i]) else { return false }
        if b[i] == 0x30 { i += 1 } else { while i < b.count, isDigit(b[i]) { i += 1 } }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < b.count, isDigit(b[i]) else { return false }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, isDigit(b[i]) else { return false }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        close(me)
        return true
    }

    /// Keys compared by their decoded value (so `"a"` and `"\u0061"` are the same key);
    /// unescaped keys, nearly all of them, are compared in place. (`mutating` only so the
    /// parser is passed by reference: as a borrowing method it was copied, 64 bytes, onto
    /// the stack for every object closed.)
    mutating func hasDuplicateKey(from base: Int, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = keyStack.count - base
        guard count > 1 else { return false }
        // Two or three keys (most FHIR objects: a Reference, a Coding, a Quantity): the
        // pairs directly.
        if count <= 3 {
            let k0 = Int(keyStack[base]), k1 = Int(keyStack[base + 1])
            if sameKey(k0, k1, b) { return true }
            guard count == 3 else { return false }
            let k2 = Int(keyStack[base + 2])
            return sameKey(k0, k2, b) || sameKey(k1, k2, b)
        }
        if count <= 16 {
            // Raw lengths first (one load per key, not two nodes per pair); an escaped key
            // (length -1 here) can equal a key of any raw length, so it is compared with all.
            var lengths: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32,
                          Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            return withUnsafeMutableBytes(of: &lengths) { raw in
                let length = raw.bindMemory(to: Int32.self)
                for x in 0..<count {
                    let n = nodes[Int(keyStack[base + x])]
                    length[x] = n.escaped ? -1 : n.end - n.start
                }
                for x in 0..<(count - 1) {
                    let lx = length[x]
                    for y in (x + 1)..<count where lx == length[y] || lx < 0 || length[y] < 0 {
                        if sameKey(Int(keyStack[base + x]), Int(keyStack[base + y]), b) { return true }
                    }
                }
                return false
            }
        }
        var seen = Set<[UInt8]>()
        for x in base..<keyStack.count where !seen.insert(decoded(Int(keyStack[x]), b)).inserted { return true }
        return false
    }

    @inline(__always)
    func sameKey(_ x: Int, _ y: Int, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let p = nodes[x], q = nodes[y]
        guard !p.escaped && !q.escaped else { return decoded(x, b) == decoded(y, b) }
        let n = Int(p.end - p.start)
        guard n == Int(q.end - q.start) else { return false }
        return n <= 2 || memcmpEqual(b.baseAddress! + Int(p.start), b.baseAddress! + Int(q.start), n)
    }

    func decoded(_ k: Int, _ b: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let n = nodes[k]
        let inner = Array(b[Int(n.start + 1)..<Int(n.end - 1)])
        return n.escaped ? Array((Self.unescape(inner[...]) ?? "\u{FFFD}").utf8) : inner
    }

    static func hex4(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32? {
        guard at + 4 <= b.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let h = hexValue(b[at + k]) else { return nil }
            v = v << 4 | h
        }
        return v
    }

    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: UInt32(c - 0x30)
        case 0x41...0x46: UInt32(c - 0x41 + 10)
        case 0x61...0x66: UInt32(c - 0x61 + 10)
        default: nil
        }
    }

    /// The value of a string's inner bytes (already validated by the parser). Lone
    /// surrogates become U+FFFD.
    static func unescape(_ s: ArraySlice<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= s.endIndex else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                guard let h = hexValue(s[at + k]) else { return nil }
                v = v << 4 | h
            }
            return v
        }
        func append(_ scalar: UInt32) {
            let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(u)).utf8))
        }
        while i < s.endIndex {
            let c = s[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            guard i + 1 < s.endIndex else { return nil }
            let e = s[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard let v = hex4(i) else { return nil }
                i += 4
                if v >= 0xD800 && v < 0xDC00, i + 6 <= s.endIndex, s[i] == UInt8(ascii: "\\"), s[i + 1] == UInt8(ascii: "u"),
                   let low = hex4(i + 2), low >= 0xDC00 && low < 0xE000 {
                    i += 6
                    append(0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00))
                } else {
                    append(v)
                }
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
