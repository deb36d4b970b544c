#!/usr/bin/env python3
"""Generate the synthetic FHIR R4 data set served by the sample upstream (`fhirgate demo`
and the integration tests): Sources/FHIRGateDemo/Resources/sample-data.json.

Entirely made up here (no real person, nothing copied). Three patients with US Core 3.1.1
shaped resources, including data that references other patients (an Observation of
patient B whose performer is patient A; a Provenance targeting A's Condition) so that
compartment checks have something to get wrong.
Run from the repository root: python3 scripts/gen-sample-data.py
"""
import json

LOINC = "http://loinc.org"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CAT = "http://terminology.hl7.org/CodeSystem/condition-category"
META = {"versionId": "1", "lastUpdated": "2026-01-15T10:00:00Z"}

patients = [
    ("pat-a", "Rivera", "Ana", "female", "1984-03-02"),
    ("pat-b", "Okafor", "Ben", "male", "1971-11-20"),
    ("pat-c", "Lindqvist", "Cora", "female", "2002-07-09"),
]
resources = []

resources.append({"resourceType": "Organization", "id": "org-1", "meta": META, "active": True, "name": "Harbor Clinic"})
resources.append({"resourceType": "Practitioner", "id": "prac-1", "meta": META, "active": True,
                  "name": [{"family": "Chen", "given": ["Mei"], "prefix": ["Dr."]}]})
resources.append({"resourceType": "Location", "id": "loc-1", "meta": META, "name": "Harbor Clinic Main"})
resources.append({"resourceType": "Medication", "id": "med-1", "meta": META,
                  "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]}})

for pid, family, given, gender, birth in patients:
    resources.append({"resourceType": "Patient", "id": pid, "meta": META, "active": True,
                      "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.9999", "value": "MRN-" + pid}],
                      "name": [{"family": family, "given": [given]}], "gender": gender, "birthDate": birth,
                      "managingOrganization": {"reference": "Organization/org-1"}})
    ref = {"reference": "Patient/" + pid}
    resources.append({"resourceType": "Encounter", "id": "enc-" + pid, "meta": META, "status": "finished",
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                      "subject": ref, "participant": [{"individual": {"reference": "Practitioner/prac-1"}}],
                      "period": {"start": "2026-01-10T09:00:00Z", "end": "2026-01-10T09:30:00Z"}})
    resources.append({"resourceType": "Condition", "id": "cond-" + pid, "meta": META,
                      "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                      "category": [{"coding": [{"system": COND_CAT, "code": "problem-list-item"}]}],
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}]},
                      "subject": ref})
    for i, (code, display, value, unit) in enumerate([("2339-0", "Glucose", 95 + len(pid), "mg/dL"), ("718-7", "Hemoglobin", 13.5, "g/dL")]):
        resources.append({"resourceType": "Observation", "id": f"obs-lab-{i}-{pid}", "meta": META, "status": "final",
                          "category": [{"coding": [{"system": OBS_CAT, "code": "laboratory"}]}],
                          "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                          "subject": ref, "effectiveDateTime": "2026-01-10T09:15:00Z",
                          "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}})
    resources.append({"resourceType": "Observation", "id": "obs-vital-" + pid, "meta": META, "status": "final",
                      "category": [{"coding": [{"system": OBS_CAT, "code": "vital-signs"}]}],
                      "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
                      "subject": ref, "effectiveDateTime": "2026-01-10T09:05:00Z",
                      "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}})
    resources.append({"resourceType": "MedicationRequest", "id": "medreq-" + pid, "meta": META, "status": "active", "intent": "order",
                      "medicationReference": {"reference": "Medication/med-1"}, "subject": ref,
                      "requester": {"reference": "Practitioner/prac-1"}})
    resources.append({"resourceType": "Provenance", "id": "prov-" + pid, "meta": META,
                      "target": [{"reference": "Condition/cond-" + pid}], "recorded": "2026-01-10T09:30:00Z",
                      "agent": [{"who": {"reference": "Practitioner/prac-1"}}]})
    # The lab results' provenance, one each (so _revinclude has something on every page).
    for i in range(2):
        resources.append({"resourceType": "Provenance", "id": f"prov-lab-{i}-{pid}", "meta": META,
                          "target": [{"reference": f"Observation/obs-lab-{i}-{pid}"}], "recorded": "2026-01-10T09:40:00Z",
                          "agent": [{"who": {"reference": "Organization/org-1"}}]})

# Cross-patient data: B's Observation performed by A (in A's compartment via performer,
# in B's via subject) and a Provenance about A's Condition.
resources.append({"resourceType": "Observation", "id": "obs-b-performed-by-a", "meta": META, "status": "final",
                  "category": [{"coding": [{"system": OBS_CAT, "code": "survey"}]}],
                  "code": {"coding": [{"system": LOINC, "code": "72133-2", "display": "Caregiver note"}]},
                  "subject": {"reference": "Patient/pat-b"}, "performer": [{"reference": "Patient/pat-a"}],
                  "focus": [{"reference": "Patient/pat-a"}], "valueString": "Observed by family member"})
# B's Observation that only mentions A as its focus (not a compartment link: A must not
# see it), a Provenance in B's chart that targets A's Condition and B's Encounter, and
# an old record of A replaced by pat-a (shown to A only when a policy follows links).
resources.append({"resourceType": "Observation", "id": "obs-b-focus-a", "meta": META, "status": "final",
                  "category": [{"coding": [{"system": OBS_CAT, "code": "social-history"}]}],
                  "code": {"coding": [{"system": LOINC, "code": "72166-2", "display": "Tobacco smoking status"}]},
                  "subject": {"reference": "Patient/pat-b"}, "focus": [{"reference": "Patient/pat-a"}],
                  "valueString": "Never smoker"})
resources.append({"resourceType": "Provenance", "id": "prov-b-about-a", "meta": META,
                  "target": [{"reference": "Condition/cond-pat-a"}, {"reference": "Encounter/enc-pat-b"}],
                  "recorded": "2026-01-11T10:00:00Z", "agent": [{"who": {"reference": "Practitioner/prac-1"}}]})
resources.append({"resourceType": "Patient", "id": "pat-a-old", "meta": META, "active": False,
                  "name": [{"family": "Rivera", "given": ["Ana"]}], "gender": "female", "birthDate": "1984-03-02",
                  "link": [{"other": {"reference": "Patient/pat-a"}, "type": "replaced-by"}]})
resources.append({"resourceType": "Device", "id": "dev-a", "meta": META, "patient": {"reference": "Patient/pat-a"},
                  "udiCarrier": [{"deviceIdentifier": "09504000059118"}]})

# A restricted record of C (meta.security R): patient-facing policies withhold it.
resources.append({"resourceType": "Observation", "id": "obs-restricted-pat-c", "status": "final",
                  "meta": {"versionId": "1", "lastUpdated": "2026-01-15T10:00:00Z",
                           "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
                  "category": [{"coding": [{"system": OBS_CAT, "code": "social-history"}]}],
                  "code": {"coding": [{"system": LOINC, "code": "11331-6", "display": "History of alcohol use"}]},
                  "subject": {"reference": "Patient/pat-c"}, "valueString": "restricted"})

# A Group for Bulk Data's group-level export (the one (g)(10) tests).
resources.append({"resourceType": "Group", "id": "grp-1", "meta": META, "type": "person", "actual": True,
                  "member": [{"entity": {"reference": "Patient/" + pid}} for pid, *_ in patients]})

json.dump({"resources": resources}, open("Sources/FHIRGateDemo/Resources/sample-data.json", "w"), indent=1)
print(f"wrote {len(resources)} resources")
