import Foundation

/// One problem in a config or policy file, located as `file:line:column` so that an
/// editor can jump to it, with a one-line hint saying how to fix it.
public struct ConfigDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?

    public init(file: String, line: Int, column: Int, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(file):\(line):\(column): error: \(message)" + (hint.map { " (hint: \($0))" } ?? "")
    }
}

/// All problems found in one load; a load reports every problem at once.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    /// In reading order: grouped by file (in the order the files came up), then by line
    /// and column, so an operator fixes them top to bottom.
    public init(_ diagnostics: [ConfigDiagnostic]) {
        var fileOrder: [String: Int] = [:]
        for d in diagnostics where fileOrder[d.file] == nil { fileOrder[d.file] = fileOrder.count }
        self.diagnostics = diagnostics.enumerated().sorted { a, b in
            let x = (fileOrder[a.element.file]!, a.element.line, a.element.column, a.offset)
            let y = (fileOrder[b.element.file]!, b.element.line, b.element.column, b.offset)
            return x < y
        }.map(\.element)
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

extension ConfigDiagnostic {
    /// The text of a config, policy or policy test file (`kind` names it in messages):
    /// a file that cannot be read, or is not UTF-8 text, is one located diagnostic.
    static func readText(_ file: String, kind: String) throws(ConfigErrors) -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            let reason = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "does not exist"
            throw ConfigErrors([ConfigDiagnostic(file: file, line: 0, column: 0, message: "the \(kind) \(reason)", hint: "check the path and permissions")])
        }
        if let text = String(validating: data, as: UTF8.self) { return text }
        // Where the first byte that is not UTF-8 is: the line and column to fix.
        var line = 1, column = 1
        var bytes = data.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&bytes) {
            if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        throw ConfigErrors([ConfigDiagnostic(file: file, line: line, column: column, message: "the \(kind) is not UTF-8 text",
                                             hint: "save it as UTF-8")])
    }
}
