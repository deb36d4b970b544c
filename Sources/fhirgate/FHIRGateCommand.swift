import ArgumentParser
import FHIRGateServer
import Foundation
import Logging

struct FHIRGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fhirgate",
        abstract: "A SMART on FHIR enforcing reverse proxy for FHIR R4 servers.",
        version: FHIRGateVersion.current,
        subcommands: [Serve.self, Check.self, Explain.self, PolicyCommand.self, Demo.self, Token.self, Revoke.self, Audit.self, Version.self]
    )
}

enum FHIRGateVersion {
    static let current = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("fhirgate \(FHIRGateVersion.current)") }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a config file, the policy files it names and their tests (like nginx -t).")

    @Option(name: .long, help: "The config file.")
    var config: String

    func run() throws {
        do {
            let (cfg, policies) = try ConfigLoader.load(file: config)
            let tested = policies.values.filter { $0.testsFile != nil }.count
            print("\(config): ok (\(cfg.routes.count) route(s), \(policies.count) policy file(s), \(tested) with passing tests)")
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            FileHandle.standardError.write(Data("\(config): \(error.diagnostics.count) error(s)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(name: .long, help: "The config file.")
    var config: String

    func run() async throws {
        LogSetup.bootstrap()
        let logger = Logger(label: "fhirgate")
        let runtime: GatewayRuntime
        do {
            runtime = try await GatewayRuntime(configFile: config, logger: logger)
        } catch let errors as ConfigErrors {
            for d in errors.diagnostics { logger.critical("\(d.description)") }
            throw ExitCode(1)
        }
        try await GatewayRunner.run(Gateway(runtime: runtime), logger: logger)
    }
}
