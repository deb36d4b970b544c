import Testing
@testable import FHIRGateCore

/// Table-driven request/claims → decision cases for the authorization issue. Each row is
/// one request as the gateway would receive it, the token's scopes and patient, and the
/// decision it must get.
struct DecisionCase: CustomTestStringConvertible, Sendable {
    let method: String
    let target: String
    let scope: String?
    let patient: String?
    let body: String?
    let ifNoneExist: String?
    let form: String?
    let expected: Outcome

    init(_ method: String, _ target: String, _ scope: String?, patient: String? = nil, body: String? = nil,
         ifNoneExist: String? = nil, form: String? = nil, _ expected: Outcome) {
        self.method = method
        self.target = target
        self.scope = scope
        self.patient = patient
        self.body = body
        self.ifNoneExist = ifNoneExist
        self.form = form
        self.expected = expected
    }

    var testDescription: String { "\(method) \(target) [\(scope ?? "no token")\(patient.map { " patient=\($0)" } ?? "")] → \(expected)" }
}

extension Outcome: @unchecked Sendable {}

enum DecisionTable {
    static let p = "p1"
    static let narrowP = "patient=Patient/p1"
    static let usCoreTypes = ["AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "DiagnosticReport", "DocumentReference",
                              "Encounter", "Goal", "Immunization", "MedicationRequest", "Observation", "Procedure"]

    /// Sixteen rows per US Core patient-compartment type.
    static var perType: [DecisionCase] {
        usCoreTypes.flatMap { t -> [DecisionCase] in
            let rs = "patient/\(t).rs"
            let body = #"{"resourceType":"\#(t)","subject":{"reference":"Patient/p1"},"patient":{"reference":"Patient/p1"}}"#
            let otherBody = #"{"resourceType":"\#(t)","subject":{"reference":"Patient/p2"},"patient":{"reference":"Patient/p2"}}"#
            return [
                DecisionCase("GET", "/\(t)?patient=p1", rs, patient: p, .narrowed([narrowP])),
                DecisionCase("GET", "/\(t)?patient=Patient/p1", rs, patient: p, .narrowed([narrowP])),
                DecisionCase("GET", "/\(t)?patient=p2", rs, patient: p, .deny(403, "other_patient")),
                DecisionCase("GET", "/\(t)?patient=p1,p2", rs, patient: p, .deny(403, "other_patient")),
                DecisionCase("GET", "/\(t)?patient=\(Harness.base)/Patient/p2", rs, patient: p, .deny(403, "other_patient")),
                DecisionCase("GET", "/\(t)", rs, patient: p, .narrowed([narrowP])),
                DecisionCase("GET", "/\(t)/abc", rs, patient: p, .checked),
                DecisionCase("GET", "/\(t)?patient=p1", "patient/\(t).r", patient: p, .deny(403, "missing_search_permission")),
                DecisionCase("GET", "/\(t)/abc", "patient/\(t).s", patient: p, .deny(403, "missing_read_permission")),
                DecisionCase("GET", "/\(t)?patient=p2", "user/\(t).rs", patient: p, .allow),
                DecisionCase("POST", "/\(t)", rs, patient: p, body: body, .deny(403, "missing_write_permission")),
                DecisionCase("POST", "/\(t)", "patient/\(t).c", patient: p, body: body, .checked),
                DecisionCase("POST", "/\(t)", "patient/\(t).c", patient: p, body: otherBody, .deny(403, "body_outside_compartment")),
                DecisionCase("GET", "/\(t)?patient=p1", "patient/*.read", patient: p, .narrowed([narrowP])),
                DecisionCase("GET", "/Patient/p1/\(t)", rs, patient: p, .allow),
                DecisionCase("GET", "/Patient/p2/\(t)", rs, patient: p, .deny(403, "other_patient")),
            ]
        }
    }

    /// Targets that must be refused before anything else looks at them.
    static let malformed: [DecisionCase] = [
        "/Patient/p1%2Fx", "/Patient%2Fp1", "/Patient/%2e%2e/Observation", "/Patient/.%2e/x", "/Patient/../Observation",
        "/Patient/./p1", "/Patient//p1", "/Patient/p1;jsessionid=1", "/Patient/p1%00", "/Patient/p1%3Fx=1", "/Patient/p1%5C",
        "/patient/p1", "/Unknown/1", "/Patient/" + String(repeating: "a", count: 65), "/Patient/a_b", "/Patient/p1?x=%zz",
        "/Patient/p1?x=%0a", "/Patient/p1?_count=1&_count=2", "/Patient/p1?_format=json&_format=xml", "/Patient/p1#frag",
        "/Patient/p1/_history/v/extra", "/Patient/p1/Observation/x/y", "/Observation/x/_history/%2e", "/$Bad!op",
        "/Patient?access_token=abc", "/Observation?_sort=a&_sort=b",
    ].map { DecisionCase("GET", $0, "user/*.cruds", .deny(400, "*")) }

    static let explicit: [DecisionCase] = [
        // Public endpoints need no token.
        DecisionCase("GET", "/metadata", nil, .allow),
        DecisionCase("HEAD", "/metadata", nil, .allow),
        DecisionCase("GET", "/.well-known/smart-configuration", nil, .allow),
        DecisionCase("POST", "/metadata", nil, .deny(405, "method_metadata")),
        // Everything else needs one.
        DecisionCase("GET", "/Patient/p1", nil, .deny(401, "missing_token")),
        DecisionCase("GET", "/Observation?patient=p1", nil, .deny(401, "missing_token")),
        // Patient reads: only the patient in context.
        DecisionCase("GET", "/Patient/p1", "patient/Patient.r", patient: p, .allow),
        DecisionCase("GET", "/Patient/p2", "patient/Patient.r", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Patient/p1/_history/3", "patient/Patient.r", patient: p, .allow),
        DecisionCase("GET", "/Patient/p1/_history", "patient/Patient.r", patient: p, .allow),
        DecisionCase("GET", "/Patient/p2/_history", "patient/Patient.r", patient: p, .deny(403, "other_patient")),
        DecisionCase("HEAD", "/Patient/p2", "patient/Patient.r", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Patient?_id=p1", "patient/Patient.s", patient: p, .narrowed(["_id=p1"])),
        DecisionCase("GET", "/Patient?_id=p2", "patient/Patient.s", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Patient?name=smith", "patient/Patient.s", patient: p, .narrowed(["_id=p1"])),
        DecisionCase("GET", "/Patient?_id=p1", "patient/Patient.r", patient: p, .deny(403, "missing_search_permission")),
        DecisionCase("GET", "/Patient/p1", "patient/Patient.s", patient: p, .deny(403, "missing_read_permission")),
        // patient/ scopes without a patient in context grant nothing.
        DecisionCase("GET", "/Patient/p1", "patient/Patient.r", .deny(403, "no_patient_context")),
        DecisionCase("GET", "/Observation", "patient/Observation.rs", .deny(403, "no_patient_context")),
        // user/ and system/ are not pinned.
        DecisionCase("GET", "/Patient/p2", "user/Patient.r", patient: p, .allow),
        DecisionCase("GET", "/Patient/p2", "system/Patient.read", .allow),
        DecisionCase("GET", "/Observation?patient=p1,p2,p3", "user/Observation.rs", .allow),
        // Non-clinical scopes grant nothing.
        DecisionCase("GET", "/Patient/p1", "openid fhirUser launch/patient offline_access", patient: p, .deny(403, "no_matching_scope")),
        // Malformed scopes are ignored, never widened.
        DecisionCase("GET", "/Patient/p1", "patient/Patient.sr", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Patient/p1", "patient/patient.read", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Patient/p1", "patient/Patient.readwrite", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Patient/p1", "Patient/Patient.read", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Patient/p1", "patient/Patient.r?name=x", patient: p, .checked),
        // Union: letters from different scopes combine.
        DecisionCase("GET", "/Observation?patient=p1&_id=1", "patient/Observation.r patient/Observation.s", patient: p, .narrowed([narrowP])),
        // Writes need their own letters; write does not imply read.
        DecisionCase("GET", "/Observation/o1", "patient/Observation.write", patient: p, .deny(403, "missing_read_permission")),
        DecisionCase("PUT", "/Observation/o1", "user/Observation.u", body: #"{"resourceType":"Observation","id":"o1"}"#, .allow),
        DecisionCase("PUT", "/Observation/o1", "user/Observation.u", body: #"{"resourceType":"Observation","id":"o2"}"#, .deny(400, "body_id_mismatch")),
        DecisionCase("PUT", "/Observation/o1", "user/Observation.u", body: #"{"resourceType":"Condition","id":"o1"}"#, .deny(400, "body_type_mismatch")),
        DecisionCase("PUT", "/Observation/o1", "user/Observation.rs", body: #"{"resourceType":"Observation","id":"o1"}"#, .deny(403, "missing_write_permission")),
        // Patient-scope writes to existing resources: the current version is checked first,
        // the new content against the compartment, a patch against its references.
        DecisionCase("PUT", "/Observation/o1", "patient/Observation.u", patient: p, body: #"{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}}"#, .prechecked),
        DecisionCase("PUT", "/Observation/o1", "patient/Observation.u", patient: p, body: #"{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p2"}}"#, .deny(403, "body_outside_compartment")),
        DecisionCase("PUT", "/Observation/o1", "patient/Observation.u", patient: p, body: #"{"resourceType":"Observation","id":"o1","focus":[{"reference":"Patient/p1"}]}"#, .deny(403, "body_outside_compartment")),
        DecisionCase("PUT", "/Patient/p1", "patient/Patient.u", patient: p, body: #"{"resourceType":"Patient","id":"p1"}"#, .prechecked),
        DecisionCase("PUT", "/Patient/p2", "patient/Patient.u", patient: p, body: #"{"resourceType":"Patient","id":"p2"}"#, .deny(403, "other_patient")),
        DecisionCase("PUT", "/Practitioner/pr1", "patient/Practitioner.u", patient: p, body: #"{"resourceType":"Practitioner","id":"pr1"}"#, .deny(403, "outside_compartment")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"replace","path":"/status","value":"amended"}]"#, .prechecked),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"replace","path":"/subject/reference","value":"Patient/p2"}]"#, .deny(403, "patch_changes_compartment_reference")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"remove","path":"/subject"}]"#, .deny(403, "patch_changes_compartment_reference")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"add","path":"/performer/-","value":{"reference":"Patient/p2"}}]"#, .deny(403, "patch_changes_compartment_reference")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"move","from":"/subject","path":"/focus/0"}]"#, .deny(403, "patch_changes_compartment_reference")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"test","path":"/subject/reference","value":"Patient/p1"},{"op":"add","path":"/note","value":[{"text":"x"}]}]"#, .prechecked),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"replace","path":"","value":{}}]"#, .deny(403, "patch_changes_compartment_reference")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"replace","path":"/id","value":"o9"}]"#, .deny(403, "patch_changes_compartment_reference")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"{"resourceType":"Parameters","parameter":[]}"#, .deny(403, "fhirpath_patch_unverifiable")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: #"[{"op":"frobnicate","path":"/status"}]"#, .deny(400, "patch_unknown_operation")),
        DecisionCase("PATCH", "/Observation/o1", "patient/Observation.u", patient: p, body: "not json", .deny(400, "patch_not_json")),
        DecisionCase("PATCH", "/Encounter/e1", "patient/Encounter.u", patient: p, body: #"[{"op":"replace","path":"/subject","value":{"reference":"Patient/p2"}}]"#, .deny(403, "patch_changes_compartment_reference")),
        // Conditional writes under a patient scope: the criteria are narrowed to the patient.
        DecisionCase("PUT", "/Observation?identifier=x", "patient/Observation.us", patient: p, body: #"{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}"#, .narrowedChecked(["patient=Patient/p1"])),
        DecisionCase("PUT", "/Observation?identifier=x&patient=p2", "patient/Observation.us", patient: p, body: #"{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}"#, .deny(403, "other_patient")),
        DecisionCase("DELETE", "/Observation?identifier=x", "patient/Observation.ds", patient: p, .narrowed(["patient=Patient/p1"])),
        DecisionCase("DELETE", "/Observation?subject:Group=g1", "patient/Observation.ds", patient: p, .deny(403, "compartment_parameter_modifier")),
        DecisionCase("PATCH", "/Observation/o1", "user/Observation.u", .allow),
        DecisionCase("DELETE", "/Observation/o1", "user/Observation.d", .allow),
        DecisionCase("DELETE", "/Observation/o1", "user/Observation.cu", .deny(403, "missing_write_permission")),
        DecisionCase("DELETE", "/Observation/o1", "patient/Observation.d", patient: p, .prechecked),
        DecisionCase("DELETE", "/Patient/p2", "patient/Patient.d", patient: p, .deny(403, "other_patient")),
        // Conditional writes need the search letter too.
        DecisionCase("PUT", "/Observation?identifier=x", "user/Observation.u", body: #"{"resourceType":"Observation"}"#, .deny(403, "missing_write_permission")),
        DecisionCase("PUT", "/Observation?identifier=x", "user/Observation.us", body: #"{"resourceType":"Observation"}"#, .allow),
        DecisionCase("DELETE", "/Observation?identifier=x", "user/Observation.ds", .allow),
        DecisionCase("DELETE", "/Observation", "user/Observation.ds", .deny(400, "conditional_without_criteria")),
        DecisionCase("PATCH", "/Observation?identifier=x", "user/Observation.us", .allow),
        DecisionCase("POST", "/Observation", "user/Observation.c", body: #"{"resourceType":"Observation"}"#, ifNoneExist: "identifier=x", .deny(403, "missing_write_permission")),
        DecisionCase("POST", "/Observation", "user/Observation.cs", body: #"{"resourceType":"Observation"}"#, ifNoneExist: "identifier=x", .allow),
        // Conditional create matching by identifier must stay in the compartment.
        DecisionCase("POST", "/Observation", "patient/Observation.cs", patient: p, body: #"{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}"#, ifNoneExist: "identifier=x&patient=p2", .deny(403, "other_patient")),
        DecisionCase("POST", "/Observation", "patient/Observation.cs", patient: p, body: #"{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}"#, ifNoneExist: "identifier=x&patient=p1", .checked),
        DecisionCase("POST", "/Observation", "patient/Observation.cs", patient: p, body: #"{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}"#, ifNoneExist: "encounter.status=finished&patient=p1", .deny(403, "chain_under_patient_scope")),
        DecisionCase("POST", "/Observation", "patient/Observation.cs", patient: p, body: #"{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}"#, ifNoneExist: "_has:Observation:has-member:code=x&patient=p1", .deny(403, "chain_under_patient_scope")),
        // Create bodies.
        DecisionCase("POST", "/Observation", "user/Observation.c", body: #"{"resourceType":"Condition"}"#, .deny(400, "body_type_mismatch")),
        DecisionCase("POST", "/Observation", "user/Observation.c", body: "not json", .deny(400, "body_not_fhir_json")),
        DecisionCase("POST", "/Patient", "patient/Patient.c", patient: p, body: #"{"resourceType":"Patient"}"#, .deny(403, "outside_compartment")),
        // _include / _revinclude / chains / _has.
        DecisionCase("GET", "/MedicationRequest?patient=p1&_include=MedicationRequest:medication", "patient/MedicationRequest.rs patient/Medication.rs", patient: p, .narrowedChecked([narrowP])),
        DecisionCase("GET", "/MedicationRequest?patient=p1&_include=MedicationRequest:medication", "patient/MedicationRequest.rs", patient: p, .deny(403, "include_type_not_granted")),
        DecisionCase("GET", "/Condition?patient=p1&_revinclude=Provenance:target", "patient/Condition.rs patient/Provenance.rs", patient: p, .narrowedChecked([narrowP])),
        DecisionCase("GET", "/Condition?patient=p1&_revinclude=Provenance:target", "patient/Condition.rs", patient: p, .deny(403, "include_type_not_granted")),
        DecisionCase("GET", "/Observation?patient=p1&_include:iterate=Observation:subject", "patient/Observation.rs", patient: p, .deny(403, "include_type_not_granted")),
        DecisionCase("GET", "/Observation?patient=p1&_include:iterate=Observation:subject:Patient", "patient/Observation.rs patient/Patient.rs", patient: p, .narrowedChecked([narrowP])),
        DecisionCase("GET", "/Observation?patient=p1&_include=*", "patient/*.rs", patient: p, .deny(400, "bad_include")),
        DecisionCase("GET", "/Observation?patient=p1&_include=Observation:nonsense", "patient/*.rs", patient: p, .deny(400, "bad_include")),
        DecisionCase("GET", "/Observation?patient=p1&_include:recurse=Observation:subject", "patient/*.rs", patient: p, .deny(400, "bad_include")),
        DecisionCase("GET", "/Observation?subject:Patient.name=smith", "patient/*.rs", patient: p, .deny(403, "chain_under_patient_scope")),
        DecisionCase("GET", "/Observation?performer.name=smith&patient=p1", "patient/*.rs", patient: p, .deny(403, "chain_under_patient_scope")),
        DecisionCase("GET", "/Observation?subject:Patient.name=smith", "user/Observation.rs user/Patient.rs", .allow),
        DecisionCase("GET", "/Observation?subject:Patient.name=smith", "user/Observation.rs", .deny(403, "chain_type_not_granted")),
        DecisionCase("GET", "/Patient?_has:Observation:patient:code=1234", "patient/*.rs", patient: p, .deny(403, "reverse_chain_under_patient_scope")),
        DecisionCase("GET", "/Patient?_has:Observation:patient:code:text=x", "patient/*.rs", patient: p, .deny(403, "reverse_chain_under_patient_scope")),
        DecisionCase("GET", "/Patient?_has:Observation:patient:code=1234", "user/Patient.rs user/Observation.rs", .allow),
        DecisionCase("GET", "/Patient?_has:Observation:patient:code=1234", "user/Patient.rs", .deny(403, "reverse_chain_type_not_granted")),
        DecisionCase("GET", "/Observation?patient:missing=true", "patient/Observation.rs", patient: p, .deny(403, "compartment_parameter_modifier")),
        DecisionCase("GET", "/Observation?subject:Group=p1", "patient/Observation.rs", patient: p, .deny(403, "compartment_parameter_modifier")),
        DecisionCase("GET", "/Observation?subject:Patient=p1", "patient/Observation.rs", patient: p, .narrowed([narrowP])),
        DecisionCase("GET", "/Observation?subject=Group/p1", "patient/Observation.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Observation?performer=p2", "patient/Observation.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Observation?subject=Patient/p1/_history/2", "patient/Observation.rs", patient: p, .narrowed([narrowP])),
        DecisionCase("GET", "/Observation?subject=https://evil.example/Patient/p1", "patient/Observation.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Observation?patient=p1%5C,p2", "patient/Observation.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Observation?patient=p1\\,p2", "patient/Observation.rs", patient: p, .deny(400, "target_character")),
        DecisionCase("GET", "/Observation?patient=p10", "patient/Observation.rs", patient: p, .deny(403, "other_patient")),
        // POST _search: form body merged and checked the same way.
        DecisionCase("POST", "/Observation/_search", "patient/Observation.rs", patient: p, form: "patient=p2", .deny(403, "other_patient")),
        DecisionCase("POST", "/Observation/_search", "patient/Observation.rs", patient: p, form: "code=1234", .narrowed([narrowP])),
        DecisionCase("POST", "/Observation/_search?patient=p1", "patient/Observation.rs", patient: p, form: "patient=p2", .deny(403, "other_patient")),
        DecisionCase("POST", "/Observation/_search", "patient/Observation.rs", patient: p, .deny(400, "search_body_not_form")),
        // Types outside the compartment.
        DecisionCase("GET", "/Practitioner/pr1", "patient/Practitioner.rs", patient: p, .checked),
        DecisionCase("GET", "/Practitioner?name=chen", "patient/Practitioner.rs", patient: p, .allow),
        DecisionCase("GET", "/Organization?name=x", "patient/Organization.rs", patient: p, .allow),
        DecisionCase("GET", "/Medication?code=x", "patient/Medication.rs", patient: p, .allow),
        DecisionCase("GET", "/Location?name=x", "patient/Location.rs", patient: p, .allow),
        DecisionCase("GET", "/ValueSet?url=x", "patient/ValueSet.rs", patient: p, .deny(403, "outside_compartment")),
        DecisionCase("GET", "/Device?patient=p1", "patient/Device.rs", patient: p, .narrowed([narrowP])),
        DecisionCase("GET", "/Device?patient=p2", "patient/Device.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Device/d1", "patient/Device.rs", patient: p, .checked),
        // System-level interactions.
        DecisionCase("GET", "/?_type=Observation", "patient/*.rs", patient: p, .deny(403, "system_level_search")),
        DecisionCase("GET", "/_history", "patient/*.rs", patient: p, .deny(403, "system_level_search")),
        DecisionCase("GET", "/_history", "user/*.rs", .allow),
        DecisionCase("GET", "/_history", "user/Observation.rs", .deny(403, "system_level_search")),
        DecisionCase("GET", "/Observation/_history", "patient/Observation.rs", patient: p, .narrowedChecked([narrowP])),
        DecisionCase("GET", "/Observation/_history?_since=2020-01-01", "patient/Observation.rs", patient: p, .narrowedChecked([narrowP])),
        DecisionCase("GET", "/Observation/_history?patient=p2", "patient/Observation.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Observation/_history", "user/Observation.rs", .allow),
        DecisionCase("GET", "/?_getpages=abc&_getpagesoffset=10", "patient/*.rs", patient: p, .deny(403, "system_level_search")),
        DecisionCase("GET", "/?_getpages=abc&_getpagesoffset=10", "user/*.rs", .allow),
        DecisionCase("GET", "/Patient/p1/*", "patient/*.rs", patient: p, .checked),
        DecisionCase("GET", "/Patient/p1/*", "patient/Observation.rs", patient: p, .deny(403, "compartment_wildcard")),
        DecisionCase("GET", "/Patient/p2/*", "patient/*.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Encounter/e1/Observation", "user/*.rs", .deny(403, "compartment_type")),
        // Operations.
        DecisionCase("GET", "/Patient/p1/$everything", "patient/*.rs", patient: p, .checked),
        DecisionCase("GET", "/Patient/p2/$everything", "patient/*.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Patient/p1/$everything", "patient/Patient.rs patient/Observation.rs", patient: p, .deny(403, "everything_needs_all_types")),
        DecisionCase("GET", "/Patient/p1/$everything", "patient/*.rs?category=x", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/DocumentReference/$docref?patient=p1", "patient/DocumentReference.rs", patient: p, .narrowed([narrowP])),
        DecisionCase("GET", "/DocumentReference/$docref?patient=p2", "patient/DocumentReference.rs", patient: p, .deny(403, "other_patient")),
        DecisionCase("GET", "/Observation/$lastn?patient=p1", "patient/Observation.rs", patient: p, .narrowed([narrowP])),
        // By POST the Parameters body selects data as the query would: decided together.
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","valueId":"p1"}]}"#, .narrowed([narrowP])),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","valueId":"p2"}]}"#, .deny(403, "other_patient")),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p2"}}]}"#, .deny(403, "other_patient")),
        DecisionCase("POST", "/DocumentReference/$docref?patient=p1", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","valueString":"Patient/p2"}]}"#, .deny(403, "other_patient")),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","valueId":"p1"},{"name":"type","valueCoding":{"code":"34133-9"}}]}"#, .narrowed([narrowP])),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"subject","valueCoding":{"code":"p2"}}]}"#, .deny(400, "operation_parameters_shape")),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","part":[{"name":"x","valueId":"p2"}]}]}"#, .deny(400, "operation_parameters_shape")),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"patient","valueId":"p1","valueString":"p2"}]}"#, .deny(400, "operation_parameters_shape")),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: #"{"resourceType":"Patient","id":"p2"}"#, .deny(400, "operation_parameters_shape")),
        DecisionCase("POST", "/DocumentReference/$docref", "patient/DocumentReference.rs", patient: p, body: "", .narrowed([narrowP])),
        DecisionCase("POST", "/Observation/$lastn", "patient/Observation.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"subject:Patient.name","valueString":"x"}]}"#, .deny(403, "chain_under_patient_scope")),
        DecisionCase("POST", "/Observation/$lastn", "patient/Observation.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"code","valueString":"1"},{"name":"code","valueString":"2"}]}"#, .narrowed([narrowP])),
        DecisionCase("POST", "/Observation/$lastn", "patient/Observation.rs", patient: p, body: #"{"resourceType":"Parameters","parameter":[{"name":"_count","valueInteger":1},{"name":"_count","valueInteger":2}]}"#, .deny(400, "duplicate_parameter")),
        DecisionCase("POST", "/Observation/$lastn", "user/Observation.rs", body: #"{"resourceType":"Parameters","parameter":[{"name":"_has:Group:member:_id","valueString":"g"}]}"#, .deny(403, "reverse_chain_type_not_granted")),
        DecisionCase("POST", "/Observation/$lastn", "user/Observation.rs", body: #"{"resourceType":"Parameters","parameter":[{"name":"code","valueString":"1"}]}"#, .allow),
        DecisionCase("GET", "/ValueSet/$expand?url=x", "patient/Observation.rs", patient: p, .allow),
        DecisionCase("POST", "/Observation/$validate", "user/Observation.c", .allow),
        DecisionCase("POST", "/Observation/$validate", "user/Observation.rs", .deny(403, "validate_needs_write")),
        DecisionCase("POST", "/Observation/o1/$validate", "patient/Observation.cu", patient: p, .prechecked),
        DecisionCase("GET", "/Observation/o1/$validate", "patient/Observation.cu", patient: p, .prechecked),
        DecisionCase("POST", "/Observation/o1/$validate", "user/Observation.cu", .allow),
        DecisionCase("POST", "/Patient/p1/$validate", "patient/Patient.u", patient: p, .allow),
        DecisionCase("POST", "/Patient/p2/$validate", "patient/Patient.u", patient: p, .deny(403, "other_patient")),
        DecisionCase("POST", "/Practitioner/x/$validate", "patient/Practitioner.u", patient: p, .deny(403, "outside_compartment")),
        DecisionCase("GET", "/$export", "system/*.rs", .export("")),
        DecisionCase("GET", "/Patient/$export", "patient/*.rs", patient: p, .deny(403, "bulk_export_context")),
        DecisionCase("POST", "/Patient/p1/$meta-delete", "user/*.cruds", .deny(403, "operation_not_allowed")),
        DecisionCase("GET", "/Patient/p1/$unknown", "user/*.cruds", .deny(403, "operation_not_allowed")),
        // Method shapes.
        DecisionCase("POST", "/Patient/p1", "user/*.cruds", .deny(405, "method_instance")),
        DecisionCase("PUT", "/_history", "user/*.cruds", .deny(405, "method_history")),
        DecisionCase("DELETE", "/", "user/*.cruds", .deny(405, "method_at_base")),
        DecisionCase("TRACE", "/Patient/p1", "user/*.cruds", .deny(405, "method_unsupported")),
        // Granular scopes.
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", patient: p,
                     .narrowedChecked([narrowP, "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"])),
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.rs?category=a|lab patient/Observation.rs?category=a|vital", patient: p,
                     .narrowedChecked([narrowP, "category=a|lab,a|vital"])),
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.rs?category=a|lab patient/Observation.rs", patient: p, .narrowed([narrowP])),
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.rs?category=a|lab patient/Observation.rs?code=b|1", patient: p, .narrowedChecked([narrowP])),
        DecisionCase("GET", "/Observation/o1", "patient/Observation.rs?category=a|lab", patient: p, .checked),
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.rs?bogus=1", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.read?category=a|lab", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Observation?patient=p1", "patient/*.rs?category=a|lab", patient: p, .deny(403, "no_matching_scope")),
        DecisionCase("GET", "/Observation?patient=p1", "patient/Observation.rs?category:in=a", patient: p, .deny(403, "no_matching_scope")),
        // Batch/transaction: every entry on its own; one denial denies all.
        DecisionCase("POST", "/", "patient/Observation.rs", patient: p,
                     body: #"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation/o1"}}]}"#, .checked),
        DecisionCase("POST", "/", "patient/Observation.rs patient/Patient.r", patient: p,
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Observation/o1"}},{"request":{"method":"GET","url":"Patient/p2"}}]}"#, .deny(403, "other_patient")),
        DecisionCase("POST", "/", "user/*.cruds",
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Bundle","type":"batch"},"request":{"method":"POST","url":"Bundle"}}]}"#, .deny(400, "nested_bundle")),
        DecisionCase("POST", "/", "user/*.cruds",
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Condition"},"request":{"method":"POST","url":"Observation"}}]}"#, .deny(400, "body_type_mismatch")),
        DecisionCase("POST", "/", "user/Observation.c",
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Observation"}},{"request":{"method":"DELETE","url":"Observation/o9"}}]}"#, .deny(403, "missing_write_permission")),
        DecisionCase("POST", "/", "user/*.cruds",
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Patient/../Observation"}}]}"#, .deny(400, "bundle_entry_path_dot_segment")),
        DecisionCase("POST", "/", "user/*.cruds", body: #"{"resourceType":"Bundle","type":"searchset"}"#, .deny(400, "not_a_batch_or_transaction")),
        DecisionCase("POST", "/", "user/*.cruds", body: #"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET"}}]}"#, .deny(400, "bundle_entry_request")),
        DecisionCase("POST", "/", "patient/Observation.rs", patient: p,
                     body: #"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation?patient=p1"}}]}"#, .deny(403, "bundle_entry_needs_narrowing")),
        DecisionCase("POST", "/", "user/*.cruds",
                     body: #"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"metadata"}}]}"#, .deny(400, "bundle_entry_interaction")),
        DecisionCase("POST", "/", "patient/Observation.rud", patient: p,
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Observation/o1"}}]}"#, .deny(403, "bundle_entry_needs_precheck")),
        DecisionCase("POST", "/", "patient/Observation.rud", patient: p,
                     body: #"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}},"request":{"method":"PUT","url":"Observation/o1"}}]}"#, .deny(403, "bundle_entry_needs_precheck")),
        DecisionCase("POST", "/", "user/Observation.rs",
                     body: #"{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Parameters","parameter":[{"name":"_has:Group:member:_id","valueString":"g"}]},"request":{"method":"POST","url":"Observation/$lastn"}}]}"#, .deny(403, "reverse_chain_type_not_granted")),
        DecisionCase("POST", "/", "user/Observation.rs",
                     body: #"{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Parameters","parameter":[{"name":"code","valueString":"1"}]},"request":{"method":"POST","url":"Observation/$lastn"}}]}"#, .allow),
        // Bulk Data kick-off: system/ scopes by default; _type within the scopes.
        DecisionCase("GET", "/$export", "system/*.read", .export("")),
        DecisionCase("GET", "/$export", "system/Patient.read system/Observation.rs", .export("_type=Observation,Patient")),
        DecisionCase("GET", "/Group/g1/$export?_type=Patient", "system/Patient.read system/Observation.rs", .export("_type=Patient")),
        DecisionCase("GET", "/Group/g1/$export?_type=Patient,Condition", "system/Patient.read", .deny(403, "bulk_export_type_not_granted")),
        DecisionCase("GET", "/Patient/$export?_type=Patient&_type=Observation", "system/*.read", .export("_type=Patient,Observation")),
        DecisionCase("GET", "/$export?_type=Patinet", "system/*.read", .deny(400, "bulk_export_unknown_type")),
        DecisionCase("GET", "/$export?_outputFormat=ndjson", "system/*.read", .export("_outputFormat=application/fhir+ndjson")),
        DecisionCase("GET", "/$export?_outputFormat=application/ndjson", "system/*.read", .export("_outputFormat=application/fhir+ndjson")),
        DecisionCase("GET", "/$export?_outputFormat=application/fhir%2Bndjson", "system/*.read", .export("_outputFormat=application/fhir+ndjson")),
        // An unencoded `+` arrives as a space: still unambiguous.
        DecisionCase("GET", "/$export?_outputFormat=application/fhir+ndjson", "system/*.read", .export("_outputFormat=application/fhir+ndjson")),
        DecisionCase("GET", "/$export?_outputFormat=text/csv", "system/*.read", .deny(400, "bulk_export_output_format")),
        DecisionCase("GET", "/$export?_since=2026-01-01T00:00:00Z", "system/Patient.read", .export("_type=Patient&_since=2026-01-01T00:00:00Z")),
        DecisionCase("GET", "/$export?_typeFilter=Observation%3Fcategory%3Dlaboratory", "system/Patient.read", .deny(403, "bulk_export_type_not_granted")),
        DecisionCase("GET", "/$export?_type=Patient&_typeFilter=Observation%3Fcategory%3Dlaboratory", "system/*.read", .deny(400, "bulk_export_type_filter_outside_type")),
        DecisionCase("GET", "/$export?_typeFilter=Observation%3Fcategory%3Dlaboratory", "system/Observation.read",
                     .export("_type=Observation&_typeFilter=Observation?category=laboratory")),
        DecisionCase("GET", "/$export?patient=Patient/p1", "system/*.read", .deny(400, "bulk_export_parameter")),
        DecisionCase("GET", "/$export", "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", .deny(403, "bulk_export_no_types")),
        DecisionCase("GET", "/$export", "patient/*.read", patient: p, .deny(403, "bulk_export_context")),
        DecisionCase("GET", "/$export", "user/*.read", .deny(403, "bulk_export_context")),
        DecisionCase("GET", "/$export", nil, .deny(401, "missing_token")),
        DecisionCase("GET", "/Observation/$export", "system/*.read", .deny(400, "bulk_export_level")),
        DecisionCase("POST", "/$export", "system/*.read", .deny(405, "bulk_export_method")),
        // Job URLs are the gateway's; ownership is checked against the job record.
        DecisionCase("GET", "/$export-status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "system/*.read", .allow),
        DecisionCase("DELETE", "/$export-status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "system/*.read", .allow),
        DecisionCase("POST", "/$export-status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "system/*.read", .deny(405, "method_bulk_status")),
        DecisionCase("GET", "/$export-status/short", "system/*.read", .deny(404, "bulk_job_id_shape")),
        DecisionCase("GET", "/$export-status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "patient/*.read", patient: p, .deny(403, "bulk_export_context")),
        DecisionCase("GET", "/$export-status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, .deny(401, "missing_token")),
        DecisionCase("GET", "/$export-file/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/0", "system/*.read", .allow),
        DecisionCase("DELETE", "/$export-file/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/0", "system/*.read", .deny(405, "method_bulk_file")),
        // Header-borne tricks.
        DecisionCase("GET", "/Observation?patient=p1&access_token=abc", "patient/Observation.rs", patient: p, .deny(400, "token_in_query")),
    ]

    static var all: [DecisionCase] { perType + malformed + explicit }
}

@Suite struct AuthorizationTableTests {
    @Test func tableHasAtLeast300Cases() {
        #expect(DecisionTable.all.count >= 300)
    }

    @Test(arguments: DecisionTable.all)
    func decision(_ c: DecisionCase) {
        let outcome = Harness.run(c.method, c.target, scope: c.scope, patient: c.patient, body: c.body, ifNoneExist: c.ifNoneExist, form: c.form)
        if case .deny(let status, "*") = c.expected {
            guard case .deny(let s, _) = outcome else { Issue.record("expected \(status), got \(outcome)"); return }
            #expect(s == status)
        } else {
            #expect(outcome == c.expected)
        }
    }
}
