import FHIRGateCore
import Foundation

/// The record as a FHIR R4 AuditEvent following IHE Basic Audit Log Patterns (BALP), for
/// clinics that ship audit to a FHIR AuditEvent store or a SIEM that reads them.
extension AuditRecord {
    static let balpProfiles: [String: String] = [
        "R": "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read",
        "E": "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Query",
        "C": "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Create",
        "U": "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Update",
        "D": "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Delete",
    ]

    /// The FHIR `restful-interaction` code and the AuditEvent action for the interaction.
    var restfulInteraction: (code: String, action: String) {
        switch interaction ?? "" {
        case "read", "vread": return (interaction!, "R")
        case "historyInstance": return ("history-instance", "R")
        case "historyType": return ("history-type", "E")
        case "historySystem": return ("history-system", "E")
        case "searchType", "searchCompartment", "pageContinuation": return ("search-type", "E")
        case "searchSystem": return ("search-system", "E")
        case "create", "conditionalCreate": return ("create", "C")
        case "update", "conditionalUpdate": return ("update", "U")
        case "patch", "conditionalPatch": return ("patch", "U")
        case "delete", "conditionalDelete": return ("delete", "D")
        case "batchOrTransaction": return ("transaction", "E")
        case "capabilities": return ("capabilities", "R")
        case "operationSystem", "operationType", "operationInstance": return ("operation", "E")
        default: return ("operation", "E")
        }
    }

    /// One AuditEvent as a JSON line; the hash chain continues through an extension.
    public func auditEventLine(previousHash: String?) -> String {
        let (code, action) = restfulInteraction
        let outcome = status < 400 ? "0" : status < 500 ? "4" : "8"
        var agents: [[String: Any]] = []
        var client: [String: Any] = [
            "type": ["coding": [["system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"]]],
            "requestor": false,
        ]
        if let clientID { client["who"] = ["identifier": ["system": issuer ?? "urn:fhirgate:unknown-issuer", "value": clientID]] }
        if let clientIP { client["network"] = ["address": clientIP, "type": "2"] }
        agents.append(client)
        if fhirUser != nil || subject != nil {
            agents.append([
                "type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "humanuser", "display": "human user"]]],
                "who": fhirUser.map { ["reference": $0] as [String: Any] } ?? ["identifier": ["value": subject ?? ""]],
                "requestor": true,
            ])
        }
        agents.append([
            "type": ["coding": [["system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110153", "display": "Source Role ID"]]],
            "who": ["display": "FHIRGate"] as [String: Any], "requestor": false,
        ])
        var entities: [[String: Any]] = [[
            "what": ["identifier": ["value": requestID]],
            "type": ["system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType", "code": "XrequestId"],
        ]]
        if let p = patient ?? compartmentPatient {
            entities.append(["what": ["reference": "Patient/" + p], "type": ["system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"],
                             "role": ["system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"]])
        }
        if let resourceType, let resourceID {
            entities.append(["what": ["reference": resourceType + "/" + resourceID], "type": ["system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"],
                             "role": ["system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4"]])
        }
        if action == "E" {
            entities.append(["type": ["system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"],
                             "role": ["system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24"],
                             "query": Data((path + (query.map { "?" + $0 } ?? "")).utf8).base64EncodedString()])
        }
        var event: [String: Any] = [
            "resourceType": "AuditEvent",
            "meta": ["profile": [Self.balpProfiles[action] ?? Self.balpProfiles["E"]!]],
            "type": ["system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"],
            "subtype": [["system": "http://hl7.org/fhir/restful-interaction", "code": code]],
            "action": action,
            "recorded": time,
            "outcome": outcome,
            "outcomeDesc": "\(status) \(decision)" + (reason.map { " " + $0 } ?? ""),
            "agent": agents,
            "source": ["observer": ["display": "FHIRGate"],
                       "type": [["system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"]]],
            "entity": entities,
        ]
        var extensions: [[String: Any]] = [["url": "https://fhirgate.dev/fhir/StructureDefinition/audit-record",
                                            "valueString": jsonLine(previousHash: nil)]]
        if let previousHash { extensions.append(["url": AuditRecord.previousHashExtension, "valueString": previousHash]) }
        event["extension"] = extensions
        let data = (try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public static let previousHashExtension = "https://fhirgate.dev/fhir/StructureDefinition/prev-hash"
}
