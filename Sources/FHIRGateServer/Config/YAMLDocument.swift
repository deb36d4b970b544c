import Foundation
import Yams

/// Strict reading of a YAML file into typed values, collecting located diagnostics:
/// unknown keys, wrong types and missing required keys are all reported with
/// `file:line:column`, never silently ignored.
final class YAMLDocument {
    let file: String
    let directory: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// False when only the file's meaning matters (`fhirgate explain` on a config written
    /// for another machine): referenced files are not required to exist.
    var requireFiles = true

    init(file: String) {
        self.file = file
        directory = (file as NSString).deletingLastPathComponent
    }

    /// Parses the text; syntax errors become diagnostics.
    func root(text: String) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                let tabbed = mark.line >= 1 && mark.line <= lines.count && lines[mark.line - 1].prefix(mark.column).contains("\t")
                report(line: mark.line, column: mark.column, "YAML syntax: \(problem)",
                       hint: tabbed ? "YAML does not allow tabs for indentation: use spaces" : "check indentation and quoting")
            case .duplicatedKeysInMapping(let duplicates, let context):
                // Yams marks the mapping (or the first occurrence); the line to fix is the repeat.
                for key in duplicates.sorted() {
                    let at = Self.repeatedKey(key, in: text, from: context.mark.line) ?? (context.mark.line, context.mark.column)
                    report(line: at.line, column: at.column, "duplicate key '\(key)'", hint: "each key may appear once in a mapping")
                }
            default:
                report(line: 1, column: 1, "YAML: \(error)")
            }
            return nil
        } catch {
            report(line: 1, column: 1, "YAML: \(error)")
            return nil
        }
    }

    /// The line and column of the second `key:` at the indentation of its first, from
    /// line `start` (1-based) on.
    static func repeatedKey(_ key: String, in text: String, from start: Int) -> (line: Int, column: Int)? {
        var firstColumn: Int?
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where offset + 1 >= start {
            let indent = line.prefix { $0 == " " }.count
            var rest = line.dropFirst(indent)
            if rest.hasPrefix("- ") { rest = rest.dropFirst(2) }
            let column = line.count - rest.count + 1
            guard rest.hasPrefix(key + ":") || rest.hasPrefix("\"\(key)\":") || rest.hasPrefix("'\(key)':") else { continue }
            if let first = firstColumn {
                if first == column { return (offset + 1, column) }
            } else {
                firstColumn = column
            }
        }
        return nil
    }

    func report(_ node: Node?, _ message: String, hint: String? = nil) {
        report(line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, message, hint: hint)
    }

    func report(line: Int, column: Int, _ message: String, hint: String? = nil) {
        diagnostics.append(ConfigDiagnostic(file: file, line: line, column: column, message: message, hint: hint))
    }

    /// Diagnostics of another file (a policy named by this config) join this load's.
    func absorb(_ other: [ConfigDiagnostic]) {
        diagnostics += other
    }

    /// Resolves a path from the file against the file's folder.
    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return directory.isEmpty ? path : (directory as NSString).appendingPathComponent(path)
    }

    /// A mapping with a known key set.
    func mapping(_ node: Node?, at path: String, keys: Set<String>) -> MappingReader? {
        guard let node else { return nil }
        guard case .mapping(let mapping) = node else {
            report(node, "'\(path)' must be a mapping", hint: "write it as 'key: value' lines indented under '\(path)'")
            return nil
        }
        var values: [String: (key: Node, value: Node)] = [:]
        for (k, v) in mapping {
            guard let name = k.string else { report(k, "keys in '\(path)' must be strings"); continue }
            if !keys.contains(name) {
                let suggestion = keys.min { Self.distance($0, name) < Self.distance($1, name) }
                let hint = suggestion.map { Self.distance($0, name) <= 3 ? "did you mean '\($0)'?" : "allowed keys: \(keys.sorted().joined(separator: ", "))" }
                report(k, "unknown key '\(name)' in '\(path)'", hint: hint)
                continue
            }
            if values[name] != nil { report(k, "duplicate key '\(name)' in '\(path)'", hint: "keep one of them"); continue }
            values[name] = (k, v)
        }
        return MappingReader(document: self, node: node, path: path, values: values)
    }

    /// A mapping whose keys are data (resource type names, …): every entry with its nodes.
    func entries(_ node: Node?, at path: String) -> [(name: String, key: Node, value: Node)]? {
        guard let node else { return nil }
        guard case .mapping(let mapping) = node else {
            report(node, "'\(path)' must be a mapping", hint: "write it as 'key: value' lines indented under '\(path)'")
            return nil
        }
        var out: [(name: String, key: Node, value: Node)] = []
        var seen = Set<String>()
        for (k, v) in mapping {
            guard let name = k.string else { report(k, "keys in '\(path)' must be strings"); continue }
            guard seen.insert(name).inserted else { report(k, "duplicate key '\(name)' in '\(path)'", hint: "keep one of them"); continue }
            out.append((name, k, v))
        }
        return out
    }

    /// A list of strings with each item's node (so a bad item is reported where it is).
    func stringItems(_ node: Node?, at path: String) -> [(value: String, node: Node)]? {
        guard let node else { return nil }
        guard case .sequence(let seq) = node else {
            report(node, "'\(path)' must be a list", hint: "write it as [a, b] or as '- a' lines")
            return nil
        }
        var out: [(value: String, node: Node)] = []
        for item in seq {
            guard case .scalar = item, let s = item.string else { report(item, "items of '\(path)' must be strings"); continue }
            out.append((s, item))
        }
        return out
    }

    /// The closest of `candidates` to `word`, as a hint, when it is close enough.
    static func suggestion(_ word: String, in candidates: some Sequence<String>) -> String? {
        guard let best = candidates.min(by: { distance($0, word) < distance($1, word) }), distance(best, word) <= max(2, word.count / 3) else {
            return nil
        }
        return "did you mean '\(best)'?"
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}

/// Typed access to one mapping's values; every accessor reports what is wrong.
struct MappingReader {
    let document: YAMLDocument
    let node: Node
    let path: String
    let values: [String: (key: Node, value: Node)]

    func node(_ key: String) -> Node? { values[key]?.value }

    func has(_ key: String) -> Bool { values[key] != nil }

    func missing(_ key: String, hint: String) {
        document.report(node, "missing required key '\(key)' in '\(path)'", hint: hint)
    }

    func string(_ key: String, required: Bool = false, hint: String = "") -> String? {
        guard let v = node(key) else {
            if required { missing(key, hint: hint) }
            return nil
        }
        guard case .scalar(let s) = v else {
            document.report(v, "'\(path).\(key)' must be a string", hint: "quote the value")
            return nil
        }
        return s.string
    }

    func int(_ key: String, range: ClosedRange<Int>? = nil) -> Int? {
        guard let v = node(key) else { return nil }
        guard let i = v.int else { document.report(v, "'\(path).\(key)' must be a whole number"); return nil }
        if let range, !range.contains(i) {
            document.report(v, "'\(path).\(key)' must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return i
    }

    func double(_ key: String, range: ClosedRange<Double>? = nil) -> Double? {
        guard let v = node(key) else { return nil }
        guard let d = v.float ?? v.int.map(Double.init) else { document.report(v, "'\(path).\(key)' must be a number"); return nil }
        if let range, !range.contains(d) {
            document.report(v, "'\(path).\(key)' must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return d
    }

    func bool(_ key: String) -> Bool? {
        guard let v = node(key) else { return nil }
        guard let b = v.bool else { document.report(v, "'\(path).\(key)' must be true or false"); return nil }
        return b
    }

    func stringList(_ key: String) -> [String]? {
        guard let v = node(key) else { return nil }
        guard case .sequence(let seq) = v else { document.report(v, "'\(path).\(key)' must be a list"); return nil }
        var out: [String] = []
        for item in seq {
            guard let s = item.string, case .scalar = item else { document.report(item, "items of '\(path).\(key)' must be strings"); continue }
            out.append(s)
        }
        return out
    }

    /// `stringList` with each item's node.
    func stringItems(_ key: String) -> [(value: String, node: Node)]? {
        document.stringItems(node(key), at: path + "." + key)
    }

    func sequence(_ key: String) -> [Node]? {
        guard let v = node(key) else { return nil }
        guard case .sequence(let seq) = v else { document.report(v, "'\(path).\(key)' must be a list"); return nil }
        return Array(seq)
    }

    /// A path to a file that must exist, resolved against the config's folder.
    func existingFile(_ key: String, required: Bool = false, hint: String = "") -> String? {
        guard let raw = string(key, required: required, hint: hint) else { return nil }
        let resolved = document.resolve(raw)
        if document.requireFiles, !FileManager.default.isReadableFile(atPath: resolved) {
            document.report(node(key), "file '\(raw)' for '\(path).\(key)' does not exist or is not readable",
                            hint: "paths are relative to the config file's folder (\(document.directory.isEmpty ? "." : document.directory))")
            return nil
        }
        return resolved
    }
}
