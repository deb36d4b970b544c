import ArgumentParser
import FHIRGateDemo
import Foundation

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a development access token with the demo signing key (never for production).")

    @Option(name: .long, help: "Space-separated SMART scopes.")
    var scope: String

    @Option(name: .long, help: "Patient in context (the `patient` claim).")
    var patient: String?

    @Option(name: .long, help: "Audience: the route's public base URL.")
    var aud = "https://localhost:8443/patient/r4"

    @Option(name: .long, help: "client_id claim.")
    var client = "demo-app"

    @Option(name: .long, help: "sub claim.")
    var sub = "demo-user"

    @Option(name: .long, help: "fhirUser claim.")
    var fhirUser: String?

    @Option(name: .long, help: "Lifetime in seconds.")
    var lifetime = 3600

    @Option(name: .long, help: "Demo state folder holding signing-key.pem.")
    var stateDir = ".fhirgate-demo"

    func run() throws {
        let key = try DemoState.prepare((stateDir as NSString).standardizingPath)
        print(try key.accessToken(issuer: Demo.issuer, audience: aud, scope: scope, patient: patient, clientID: client, subject: sub,
                                  fhirUser: fhirUser, lifetime: TimeInterval(lifetime)))
    }
}
