/// Writing JSON by splicing the original bytes: a Bundle the guard trims is rebuilt from
/// the slices of the entries it keeps, so nothing it did not change is re-encoded.
public enum JSONBytes {
    /// `text` as a JSON string literal.
    public static func string(_ text: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(text.utf8.count + 2)
        JSONText.appendEscaped(text, to: &out)
        out.append(0x22)
        return out
    }

    /// An object with the members of `object` in order, except that a member whose key is
    /// in `replacing` gets that value instead (nil drops the member).
    public static func object(_ object: JSONValue, replacing: [String: [UInt8]?]) -> [UInt8] {
        var out: [UInt8] = [0x7B]
        out.reserveCapacity(object.range.count)
        var first = true
        for (key, value) in object.members {
            let name = key.string ?? ""
            let replacement = replacing[name]
            if let replacement, replacement == nil { continue }
            if !first { out.append(0x2C) }
            first = false
            out += key.rawBytes
            out.append(0x3A)
            if let replacement, let bytes = replacement { out += bytes } else { out += value.rawBytes }
        }
        out.append(0x7D)
        return out
    }

    /// An array of already-encoded elements.
    public static func array(_ elements: [ArraySlice<UInt8>]) -> [UInt8] {
        var out: [UInt8] = [0x5B]
        out.reserveCapacity(elements.reduce(2) { $0 + $1.count + 1 })
        for (i, e) in elements.enumerated() {
            if i > 0 { out.append(0x2C) }
            out += e
        }
        out.append(0x5D)
        return out
    }
}
