//! Institutions for discovery tests: the real Renater aggregate's IdPs when
//! `../shared/fixtures/renater/` is present (re-signed by the test federation), else 45
//! generated « Université Paris N » with inline logos — never a failure for its absence —
//! plus two look-alike universities that speak for one mail domain.

use passerelle_saml_sp::directory::fold;
use passerelle_saml_sp::metadata::{IdpRecord, Localized, Logo, ParseOptions, parse};
use passerelle_saml_sp::types::{EntityId, Scope};

use crate::workspace;

/// A 1×1 PNG, base64.
pub const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The mail domain both look-alikes speak for.
pub const SHARED_DOMAIN: &str = "campus-commun.test";

/// An IdP record with a French name, one scope and maybe a logo.
///
/// # Panics
/// On an entityID that does not parse (test set-up).
#[must_use]
pub fn record(id: &str, name: &str, scope: &str, logo: Option<String>) -> IdpRecord {
    let mut r = IdpRecord::bare(EntityId::parse(id).expect("entityID"));
    r.display_names.push(Localized {
        lang: "fr".into(),
        value: name.into(),
    });
    r.scopes.push(Scope {
        value: scope.into(),
        regexp: false,
    });
    r.logos.extend(logo.map(|url| Logo {
        url,
        width: Some(16),
        height: Some(16),
        lang: None,
    }));
    r
}

/// Renater's IdPs (or generated ones) and the two look-alikes.
///
/// # Panics
/// When the fixture is present but unreadable (test set-up).
#[must_use]
pub fn sample() -> Vec<IdpRecord> {
    let renater =
        workspace().join("../shared/fixtures/renater/main-idps-renater-metadata-2023-06-16.xml");
    let mut idps = if renater.is_file() {
        let xml = std::fs::read_to_string(renater).expect("the Renater fixture");
        parse(&xml, ParseOptions::default())
            .expect("the Renater fixture parses")
            .idps
    } else {
        eprintln!("../shared/fixtures/renater absent: generated institutions instead");
        (0..45)
            .map(|i| {
                record(
                    &format!("https://idp.paris-{i}.test/idp"),
                    &format!("Université Paris {i}"),
                    &format!("paris-{i}.test"),
                    Some(format!("data:image/png;base64,{PIXEL}")),
                )
            })
            .collect()
    };
    idps.push(record(
        "https://idp.sorbonne-universite.test/idp",
        "Sorbonne Université (test)",
        SHARED_DOMAIN,
        None,
    ));
    idps.push(record(
        "https://idp.sorbonne-paris-nord.test/idp",
        "Sorbonne Paris Nord (test)",
        SHARED_DOMAIN,
        None,
    ));
    idps
}

/// The entityIDs discovery must offer for a one-word search: every IdP not hidden from
/// discovery with a name word starting with `word`.
#[must_use]
pub fn matching(idps: &[IdpRecord], word: &str) -> std::collections::BTreeSet<String> {
    idps.iter()
        .filter(|i| !i.hidden_from_discovery())
        .filter(|i| {
            i.display_names.iter().any(|n| {
                fold(&n.value)
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.starts_with(word))
            })
        })
        .map(|i| i.entity_id.as_str().to_owned())
        .collect()
}
