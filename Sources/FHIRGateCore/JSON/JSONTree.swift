/// A parsed JSON document that stays in its bytes: one flat array of nodes holding byte
/// ranges, no dictionaries, no boxed values. The guard reads a few elements of every
/// entry of Bundles that can be megabytes long, and Foundation's `JSONSerialization`
/// spends most of its time building (and re-serializing) values nobody looks at.
///
/// Strict where it matters for security: RFC 8259 grammar, no duplicate keys in an object
/// (two `subject` members could be read one way here and another way upstream), nesting
/// limited to `maxDepth`. Anything else is refused: the caller fails closed.
public final class JSONTree: @unchecked Sendable {
    public enum Kind: UInt8, Sendable, BitwiseCopyable {
        case object, array, string, number, bool, null
    }

    struct Node: Sendable, BitwiseCopyable {
        var kind: Kind
        /// The string has escapes (decode before comparing).
        var escaped: Bool
        /// Byte range of the value (strings include their quotes).
        var start: Int32
        var end: Int32
        /// Index of the first node after this one's subtree.
        var after: Int32
    }

    public let bytes: [UInt8]
    /// Immutable once parsed (hence `@unchecked Sendable`); owned and freed by the tree.
    /// Every index a `JSONValue` holds was produced by the parser, so reads are unchecked.
    let nodes: GrowableBuffer<Node>
    static let maxDepth = 256

    /// Parses `bytes` as one JSON value (surrounding whitespace allowed); nil if invalid.
    public init?(_ bytes: [UInt8]) {
        var parser = JSONTreeParser(count: bytes.count)
        let ok = bytes.withUnsafeBufferPointer { parser.parseDocument($0) }
        guard ok else { return nil }
        self.bytes = bytes
        nodes = parser.takeNodes()
    }

    deinit { nodes.free() }

    public var root: JSONValue { JSONValue(tree: self, index: 0) }
}

/// One value inside a `JSONTree`.
public struct JSONValue: Sendable {
    let tree: JSONTree
    let index: Int

    var node: JSONTree.Node { tree.nodes[index] }
    public var kind: JSONTree.Kind { node.kind }

    /// The value's exact bytes in the document.
    public var range: Range<Int> { Int(node.start)..<Int(node.end) }
    public var rawBytes: ArraySlice<UInt8> { tree.bytes[range] }

    public var isObject: Bool { kind == .object }
    public var isArray: Bool { kind == .array }

    /// A string's decoded value; nil for other kinds.
    public var string: String? {
        guard kind == .string else { return nil }
        let n = node
        if !n.escaped { return String(decoding: tree.bytes[Int(n.start + 1)..<Int(n.end - 1)], as: UTF8.self) }
        return JSONTreeParser.unescape(tree.bytes[Int(n.start + 1)..<Int(n.end - 1)])
    }

    /// Whether this is a string equal to `text` (no allocation for unescaped strings).
    public func isString(_ text: StaticString) -> Bool {
        guard kind == .string else { return false }
        let n = node
        if n.escaped { return string == text.description }
        let count = Int(n.end - n.start) - 2
        guard count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { wanted in
            tree.bytes.withUnsafeBufferPointer { all in
                memcmpEqual(all.baseAddress! + Int(n.start) + 1, wanted.baseAddress!, count)
            }
        }
    }

    /// Whether this is a string whose value is `prefix` followed by `rest`, without
    /// building a `String` when it has no escapes.
    public func isString(prefix: StaticString, rest: String) -> Bool {
        guard kind == .string else { return false }
        let n = node
        var rest = rest
        return rest.withUTF8 { tail in
            prefix.withUTF8Buffer { head in
                if n.escaped {
                    // `Patient\/123`: some JSON writers (Foundation's, PHP's) escape every
                    // slash. Compared as contiguous bytes (the generic `starts(with:)` over
                    // UTF8Views cost more than the decoding).
                    guard var value = string else { return false }
                    return value.withUTF8 { Self.bytes($0, are: head, then: tail) }
                }
                return tree.bytes.withUnsafeBufferPointer { all in
                    Self.bytes(UnsafeBufferPointer(rebasing: all[Int(n.start + 1)..<Int(n.end - 1)]), are: head, then: tail)
                }
            }
        }
    }

    /// Whether `value` is `head` followed by `tail`.
    static func bytes(_ value: UnsafeBufferPointer<UInt8>, are head: UnsafeBufferPointer<UInt8>, then tail: UnsafeBufferPointer<UInt8>) -> Bool {
        value.count == head.count + tail.count
            && (head.isEmpty || memcmpEqual(value.baseAddress!, head.baseAddress!, head.count))
            && (tail.isEmpty || memcmpEqual(value.baseAddress! + head.count, tail.baseAddress!, tail.count))
    }

    /// Elements of an array (empty for other kinds).
    public var elements: JSONElements { JSONElements(tree: tree, first: index + 1, end: kind == .array ? Int(node.after) : index + 1) }

    /// Members of an object as (key, value) pairs (empty for other kinds).
    public var members: JSONMembers { JSONMembers(tree: tree, first: index + 1, end: kind == .object ? Int(node.after) : index + 1) }

    /// The member named `key`, if this is an object that has it.
    public subscript(key: String) -> JSONValue? {
        var key = key
        return key.withUTF8 { wanted in memberIndex(wanted).map { JSONValue(tree: tree, index: $0) } }
    }

    /// The node index of the member value named `wanted`. Walks the nodes in place: going
    /// through `members` made a key and a value (two references to the tree) per member,
    /// and the guard asks this of every entry several times.
    func memberIndex(_ wanted: UnsafeBufferPointer<UInt8>) -> Int? {
        let nodes = tree.nodes
        let me = nodes[index]
        guard me.kind == .object else { return nil }
        let end = Int(me.after)
        return tree.bytes.withUnsafeBufferPointer { all in
            var position = index + 1
            while position < end {
                let key = nodes[position]
                let value = Int(key.after)
                if key.escaped {
                    if JSONValue(tree: tree, index: position).keyEquals(wanted) { return value }
                } else if Int(key.end - key.start) - 2 == wanted.count
                            && (wanted.isEmpty || memcmpEqual(all.baseAddress! + Int(key.start) + 1, wanted.baseAddress!, wanted.count)) {
                    return value
                }
                position = Int(nodes[value].after)
            }
            return nil
        }
    }

    func keyEquals(_ wanted: [UInt8]) -> Bool {
        wanted.withUnsafeBufferPointer { keyEquals($0) }
    }

    func keyEquals(_ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = node
        if n.escaped { return string.map { Array($0.utf8) == Array(wanted) } ?? false }
        let count = Int(n.end - n.start) - 2
        guard count == wanted.count else { return false }
        if count == 0 { return true }
        return tree.bytes.withUnsafeBufferPointer { all in memcmpEqual(all.baseAddress! + Int(n.start) + 1, wanted.baseAddress!, count) }
    }

    /// Whether this (key) string is `name` followed by an upper-case letter: a choice
    /// type's form (`value` → `valueQuantity`). Compared in place for unescaped keys: the
    /// compartment check asks this of every member of every entry.
    func isChoiceForm(of name: [UInt8]) -> Bool {
        let n = node
        guard kind == .string else { return false }
        if n.escaped {
            guard let s = string else { return false }
            let u = Array(s.utf8)
            return u.count > name.count && u.starts(with: name) && u[name.count] >= 0x41 && u[name.count] <= 0x5A
        }
        let count = Int(n.end - n.start) - 2
        guard !name.isEmpty, count > name.count else { return false }
        return tree.bytes.withUnsafeBufferPointer { all in
            let key = all.baseAddress! + Int(n.start) + 1
            let next = key[name.count]
            guard next >= 0x41 && next <= 0x5A else { return false }
            return name.withUnsafeBufferPointer { memcmpEqual(key, $0.baseAddress!, name.count) }
        }
    }
}

public struct JSONElements: Sequence, Sendable {
    let tree: JSONTree
    let first: Int
    let end: Int

    public struct Iterator: IteratorProtocol {
        let tree: JSONTree
        var position: Int
        let end: Int
        public mutating func next() -> JSONValue? {
            guard position < end else { return nil }
            let v = JSONValue(tree: tree, index: position)
            position = Int(tree.nodes[position].after)
            return v
        }
    }

    public func makeIterator() -> Iterator { Iterator(tree: tree, position: first, end: end) }
    public var isEmpty: Bool { first >= end }
}

public struct JSONMembers: Sequence, Sendable {
    let tree: JSONTree
    let first: Int
    let end: Int

    public struct Iterator: IteratorProtocol {
        let tree: JSONTree
        var position: Int
        let end: Int
        public mutating func next() -> (key: JSONValue, value: JSONValue)? {
            guard position < end else { return nil }
            let key = JSONValue(tree: tree, index: position)
            let valueIndex = Int(tree.nodes[position].after)
            position = Int(tree.nodes[valueIndex].after)
            return (key, JSONValue(tree: tree, index: valueIndex))
        }
    }

    public func makeIterator() -> Iterator { Iterator(tree: tree, position: first, end: end) }
}

@inline(__always)
func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
