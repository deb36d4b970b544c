/// The R4 Patient compartment, as far as request-side decisions need it.
public enum PatientCompartment {
    /// Whether resources of `type` can belong to a patient's compartment.
    public static func contains(type: String) -> Bool {
        R4Tables.patientCompartment[type] != nil
    }

    /// Search parameter codes that bind a search on `type` to a patient: the R4
    /// compartment parameters plus US Core's `patient` alias where the type has one.
    public static func bindingParameters(for type: String) -> Set<String> {
        bindingTable[type] ?? computeBinding(type)
    }

    /// Computed once for every type (the decision runs on every request).
    static let bindingTable: [String: Set<String>] = Dictionary(uniqueKeysWithValues: R4Tables.resourceTypes.map { ($0, computeBinding($0)) })

    static func computeBinding(_ type: String) -> Set<String> {
        var names = Set((R4Tables.patientCompartment[type] ?? []).map(\.name))
        if R4Tables.searchParameter("patient", on: type) != nil { names.insert("patient") }
        if type == "Patient" { names = ["_id"] }
        return names
    }

    /// The parameter the gateway adds to narrow a search on `type` to one patient.
    public static func narrowingParameter(for type: String) -> String? {
        if type == "Patient" { return "_id" }
        if R4Tables.searchParameter("patient", on: type) != nil { return "patient" }
        if let subject = R4Tables.searchParameter("subject", on: type), subject.targets.contains("Patient") { return "subject" }
        return R4Tables.patientCompartment[type]?.first?.name
    }
}
