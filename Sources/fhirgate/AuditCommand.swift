import ArgumentParser
import FHIRGateAudit
import FHIRGateCore
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the audit log: verify its hash chain, or tail it.",
        subcommands: [Verify.self, Tail.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain of audit files (oldest first; rotated files before the current one).")

        @Argument(help: "Audit files, oldest first.")
        var files: [String]

        func run() throws {
            do {
                let summary = try AuditChainVerifier.verify(files: files)
                print("ok: \(summary.records) records, chain intact" + (summary.incompleteTail ? " (last line incomplete: written during a crash)" : ""))
                for place in summary.cutOff {
                    print("\(place): a record cut off by a stop during its write (the chain continues from the line before it)")
                }
            } catch {
                FileHandle.standardError.write(Data("\(error.description)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit records, one readable line each (or raw JSON).")

        @Argument(help: "The audit file.")
        var file: String

        @Flag(name: .shortAndLong, help: "Keep printing new records (follows rotation).")
        var follow = false

        @Option(name: .long, help: "Only records whose FIELD equals VALUE (FIELD=VALUE; repeatable). 'patient' also matches compartment_patient.")
        var filter: [String] = []

        @Option(name: .long, help: "Only records newer than this (e.g. 90s, 10m, 2h, 1d).")
        var since: String?

        @Flag(name: .long, help: "Print the raw JSON lines.")
        var json = false

        @Option(name: .short, help: "Start with the last N records.")
        var n = 20

        func run() async throws {
            // Without --follow there is nothing to wait for: a missing or unreadable file is
            // an error, not an empty log. (--follow waits for the file to appear.)
            if !follow, !FileManager.default.isReadableFile(atPath: file) {
                FileHandle.standardError.write(Data("\(file): cannot read the audit log (missing, or no permission)\n".utf8))
                throw ExitCode(1)
            }
            let filters = try filter.map { text -> (String, String) in
                guard let eq = text.firstIndex(of: "=") else { throw ValidationError("--filter takes FIELD=VALUE") }
                return (String(text[..<eq]), String(text[text.index(after: eq)...]))
            }
            var cutoff: String?
            var reader: AuditLogFollower
            if let since {
                guard let seconds = Self.seconds(since) else { throw ValidationError("--since takes 90s, 10m, 2h or 1d") }
                let now = Date()
                cutoff = AuditTailFormatter.timestamp(now.addingTimeInterval(-seconds))
                // Read from the last record well before the cutoff (records can be a little
                // out of time order); the formatter keeps exactly those since the cutoff.
                reader = AuditLogFollower(path: file, fromTime: AuditTailFormatter.timestamp(now.addingTimeInterval(-seconds - 300)))
            } else {
                // Only the last n records are wanted: read from near the end.
                reader = AuditLogFollower(path: file, fromLast: n)
            }
            let formatter = AuditTailFormatter(color: isatty(STDOUT_FILENO) != 0, raw: json, filters: filters, since: cutoff)
            let initial = reader.readNewLines()
            for line in initial.suffix(since == nil ? n : Int.max) { formatter.print(line) }
            guard follow else { return }
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(250))
                for line in reader.readNewLines() { formatter.print(line) }
            }
        }

        static func seconds(_ text: String) -> Double? {
            guard let unit = text.last, let value = Double(text.dropLast()) else { return nil }
            switch unit {
            case "s": return value
            case "m": return value * 60
            case "h": return value * 3600
            case "d": return value * 86400
            default: return nil
            }
        }
    }
}

/// One readable line per record: time, decision, status, client, patient, interaction, reason.
struct AuditTailFormatter {
    let color: Bool
    let raw: Bool
    let filters: [(String, String)]
    let since: String?

    func print(_ line: String) {
        guard let record = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return }
        func field(_ k: String) -> String {
            if let s = record[k] as? String { return s }
            if let n = record[k] as? NSNumber { return n.stringValue }
            return ""
        }
        for (k, v) in filters {
            let matches = field(k) == v || (k == "patient" && field("compartment_patient") == v)
            if !matches { return }
        }
        if let since, field("time") < since { return }
        if raw {
            Swift.print(line)
            return
        }
        let decision = field("decision")
        let paint: String
        switch decision {
        case "allow": paint = "\u{1B}[32m"
        case "narrowed": paint = "\u{1B}[36m"
        case "would_deny": paint = "\u{1B}[33m"
        default: paint = "\u{1B}[31m"
        }
        let decisionText = color ? paint + decision.padding(toLength: 8, withPad: " ", startingAt: 0) + "\u{1B}[0m" : decision.padding(toLength: 8, withPad: " ", startingAt: 0)
        let what = [field("interaction"), [field("resource_type"), field("resource_id")].filter { !$0.isEmpty }.joined(separator: "/")]
            .filter { !$0.isEmpty }.joined(separator: " ")
        let patient = field("patient").isEmpty ? field("compartment_patient") : field("patient")
        Swift.print([field("time"), decisionText, field("status"), "client=" + (field("client_id").isEmpty ? "-" : field("client_id")),
                     "patient=" + (patient.isEmpty ? "-" : patient), what.isEmpty ? field("method") + " " + field("path") : what,
                     field("reason")].joined(separator: "  "))
    }

    static func timestamp(_ date: Date) -> String {
        UTCTime.iso8601(secondsSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}
