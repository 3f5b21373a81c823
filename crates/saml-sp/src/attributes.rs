//! The attributes Passerelle asks universities for, by their SAML names (URIs).
//!
//! One table serves the SP metadata (`RequestedAttribute`s) and, later, the mapping of
//! an assertion to an identity; nothing else in the crate spells an attribute OID.

/// One attribute of the French higher-education profile (SupAnn / eduPerson / SAML
/// subject identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDef {
    /// The friendly name (`mail`, `eduPersonPrincipalName`, …).
    pub friendly_name: &'static str,
    /// The URI name (`urn:oid:…` or `urn:oasis:…`).
    pub name: &'static str,
    /// Whether the SP declares it required.
    pub required: bool,
}

const fn def(friendly_name: &'static str, name: &'static str, required: bool) -> AttributeDef {
    AttributeDef {
        friendly_name,
        name,
        required,
    }
}

/// `subject-id` (SAML V2.0 Subject Identifier Attributes Profile).
pub const SUBJECT_ID: AttributeDef = def(
    "subject-id",
    "urn:oasis:names:tc:SAML:attribute:subject-id",
    false,
);
/// `pairwise-id`.
pub const PAIRWISE_ID: AttributeDef = def(
    "pairwise-id",
    "urn:oasis:names:tc:SAML:attribute:pairwise-id",
    false,
);
/// `eduPersonPrincipalName`.
pub const EPPN: AttributeDef = def(
    "eduPersonPrincipalName",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    false,
);
/// `eduPersonTargetedID`.
pub const EPTID: AttributeDef = def(
    "eduPersonTargetedID",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10",
    false,
);
/// `mail` — the address the activation link is sent to.
pub const MAIL: AttributeDef = def("mail", "urn:oid:0.9.2342.19200300.100.1.3", true);
/// `givenName`.
pub const GIVEN_NAME: AttributeDef = def("givenName", "urn:oid:2.5.4.42", false);
/// `sn`.
pub const SURNAME: AttributeDef = def("sn", "urn:oid:2.5.4.4", false);
/// `displayName`.
pub const DISPLAY_NAME: AttributeDef =
    def("displayName", "urn:oid:2.16.840.1.113730.3.1.241", false);
/// `eduPersonAffiliation`.
pub const AFFILIATION: AttributeDef = def(
    "eduPersonAffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
    false,
);
/// `eduPersonScopedAffiliation`.
pub const SCOPED_AFFILIATION: AttributeDef = def(
    "eduPersonScopedAffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
    false,
);
/// `supannEtablissement`.
pub const SUPANN_ETABLISSEMENT: AttributeDef = def(
    "supannEtablissement",
    "urn:oid:1.3.6.1.4.1.7135.1.2.1.14",
    false,
);
/// `schacHomeOrganization`.
pub const SCHAC_HOME_ORGANIZATION: AttributeDef = def(
    "schacHomeOrganization",
    "urn:oid:1.3.6.1.4.1.25178.1.2.9",
    false,
);

/// Every attribute the SP requests, in metadata order.
pub const REQUESTED: &[AttributeDef] = &[
    SUBJECT_ID,
    PAIRWISE_ID,
    EPPN,
    EPTID,
    MAIL,
    GIVEN_NAME,
    SURNAME,
    DISPLAY_NAME,
    AFFILIATION,
    SCOPED_AFFILIATION,
    SUPANN_ETABLISSEMENT,
    SCHAC_HOME_ORGANIZATION,
];
