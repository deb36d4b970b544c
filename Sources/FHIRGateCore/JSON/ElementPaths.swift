import Foundation

/// A FHIRPath expression from the R4 tables compiled, once, into the plain element paths
/// the gateway can follow (`Observation.performer` → [["performer"]]). Only the shapes
/// that occur in the compartment and US Core token parameters are understood (`Type.a.b`,
/// `.where(resolve() is Patient)`, ` | ` unions); an expression with any other shape is
/// `understood == false` and selects nothing, so checks built on it fail closed.
public struct ElementPaths: Sendable, Hashable {
    /// Element names below the resource, as UTF-8 (compared against JSON keys).
    public let paths: [[[UInt8]]]
    public let understood: Bool

    public static let nothing = ElementPaths(paths: [], understood: false)

    public static func compile(_ expression: String, type: String) -> ElementPaths {
        var paths: [[[UInt8]]] = []
        let prefix = type + "."
        for part in expression.split(separator: "|") {
            var p = part.trimmingCharacters(in: .whitespaces)
            if p.hasSuffix(".where(resolve() is Patient)") { p = String(p.dropLast(".where(resolve() is Patient)".count)) }
            guard p.hasPrefix(prefix) else { continue } // another type's branch of a shared expression
            guard !p.contains("("), !p.contains(" ") else { return .nothing } // a shape we do not understand
            paths.append(p.dropFirst(prefix.count).split(separator: ".").map { Array($0.utf8) })
        }
        return ElementPaths(paths: paths, understood: true)
    }
}
