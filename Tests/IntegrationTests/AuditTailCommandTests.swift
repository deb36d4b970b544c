import FHIRGateCore
import Foundation
import Testing

extension IntegrationSuite {
/// `fhirgate audit tail --since`: what an operator gets from a day's log.
@Suite struct AuditTailCommandTests {
    /// Records from two hours ago to now; two are a little out of time order, as records of
    /// two event loops can be. `--since 10m` prints exactly those of the last ten minutes.
    @Test func sinceTenMinutesPrintsTheRecordsOfTheLastTenMinutes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fhirgate-tail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Date().timeIntervalSince1970
        // One record a second for two hours, then: 9 minutes ago written before 11 minutes ago.
        var ages = Array(stride(from: 7200, to: 660, by: -1))
        ages += [540, 660]
        ages += Array(stride(from: 539, to: 0, by: -1))
        let lines = ages.map { age in
            #"{"time":"\#(UTCTime.iso8601(secondsSince1970: now - Double(age)))","request_id":"age-\#(age)","decision":"allow"}"#
        }
        let file = directory + "/audit.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: GatewayProcess.binary)
        process.arguments = ["audit", "tail", "--since", "10m", "--json", file]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let printed = Set(output.split(separator: "\n").map(String.init))
        // Ten minutes back from when the command ran (its cutoff is in whole seconds, and
        // its start on a slow machine may take a few): nothing older than 601 s, everything
        // newer than 590 s, the out-of-order record of 9 minutes ago included.
        let recent = zip(ages, lines).filter { $0.0 < 590 }.map(\.1)
        let missing = recent.filter { !printed.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) of the last \(recent.count) records missing, first: \(missing.first ?? "")")
        #expect(zip(ages, lines).allSatisfy { age, line in age <= 600 || !printed.contains(line) })
        #expect(printed.contains { $0.contains("\"age-540\"") } && !printed.contains { $0.contains("\"age-660\"") })

        // A file that is not there is an error, not an empty log.
        let absent = Process()
        absent.executableURL = URL(fileURLWithPath: GatewayProcess.binary)
        absent.arguments = ["audit", "tail", "--since", "10m", directory + "/no-such.jsonl"]
        let errors = Pipe()
        absent.standardError = errors
        try absent.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        absent.waitUntilExit()
        #expect(absent.terminationStatus == 1 && message.contains("no-such.jsonl: cannot read the audit log"), "\(message)")
    }
}
}
