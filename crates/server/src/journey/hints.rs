//! E-mail typo hints for the portal: the slips the UNESS tutorial warns about.
//!
//! - `etu` on the wrong side of the `@` (`prenom.nom.etu@unilim.fr`,
//!   `etu.prenom.nom@unilim.fr`) when `etu.<domain>` belongs to an institution;
//! - a domain no federation scope knows, close (1–2 edits) to one that does;
//! - `-` and `_` swapped in the local part, when the swapped address has an account
//!   (checked by the caller: this module only proposes variants).
//!
//! Pure functions: no store, no I/O. A hint is only ever a suggestion the user accepts
//! with a click; nothing is corrected silently.

use passerelle_saml_sp::federation::Snapshot;

/// Edit distance (insertions, deletions, substitutions), on bytes; inputs are short.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + cost;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = del.min(ins).min(sub);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

fn known(snapshot: &Snapshot, domain: &str) -> bool {
    !snapshot
        .directory
        .for_email(&format!("x@{domain}"), "fr")
        .is_empty()
}

/// A better address for `address` (already a syntactically valid, lower-case address),
/// if one of the known slips explains it.
pub(crate) fn suggest(address: &str, snapshot: &Snapshot) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    // `etu` on the wrong side of the @.
    let stripped = local
        .strip_prefix("etu.")
        .or_else(|| local.strip_prefix("etu-"))
        .or_else(|| local.strip_prefix("etu_"))
        .or_else(|| local.strip_suffix(".etu"))
        .or_else(|| local.strip_suffix("-etu"))
        .or_else(|| local.strip_suffix("_etu"));
    if let Some(bare) = stripped.filter(|s| !s.is_empty()) {
        let etu = format!("etu.{domain}");
        if known(snapshot, &etu) {
            return Some(format!("{bare}@{etu}"));
        }
    }
    if known(snapshot, domain) {
        return None;
    }
    // A domain close to a literal scope.
    let budget = if domain.len() >= 10 { 2 } else { 1 };
    if domain.len() < 5 {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    for idp in &snapshot.idps {
        for scope in idp.scopes.iter().filter(|s| !s.regexp) {
            let candidate = scope.value.as_str();
            if candidate.len().abs_diff(domain.len()) > budget {
                continue;
            }
            let d = distance(domain, &candidate.to_ascii_lowercase());
            if d > 0 && d <= budget && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, candidate));
            }
        }
    }
    best.map(|(_, d)| format!("{local}@{}", d.to_ascii_lowercase()))
}

/// `-`/`_` variants of the local part (the caller keeps those that have an account).
pub(crate) fn separator_variants(address: &str) -> Vec<String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (from, to) in [('_', '-'), ('-', '_'), ('_', '.'), ('-', '.')] {
        if local.contains(from) {
            out.push(format!("{}@{domain}", local.replace(from, &to.to_string())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use passerelle_saml_sp::metadata::{ParseOptions, parse};

    fn snapshot() -> Snapshot {
        let xml = r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui">
<md:EntityDescriptor entityID="https://idp.unilim.fr/idp/shibboleth"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope regexp="false">unilim.fr</shibmd:Scope><shibmd:Scope regexp="false">etu.unilim.fr</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Université de Limoges</mdui:DisplayName></mdui:UIInfo></md:Extensions><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.unilim.fr/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>
</md:EntitiesDescriptor>"#;
        Snapshot::from_idps(parse(xml, ParseOptions::default()).unwrap().idps)
    }

    #[test]
    fn etu_on_the_wrong_side_of_the_at_is_moved_to_the_domain() {
        let s = snapshot();
        assert_eq!(
            suggest("prenom.nom.etu@unilim.fr", &s).as_deref(),
            Some("prenom.nom@etu.unilim.fr")
        );
        assert_eq!(
            suggest("etu.prenom.nom@unilim.fr", &s).as_deref(),
            Some("prenom.nom@etu.unilim.fr")
        );
    }

    #[test]
    fn a_domain_one_slip_away_from_a_scope_is_suggested() {
        let s = snapshot();
        assert_eq!(
            suggest("prenom.nom@etu.unlim.fr", &s).as_deref(),
            Some("prenom.nom@etu.unilim.fr")
        );
        assert_eq!(suggest("prenom.nom@unilim.fr", &s), None);
        assert_eq!(suggest("someone@gmail.com", &s), None);
    }

    #[test]
    fn separator_variants_swap_dashes_and_underscores() {
        let v = separator_variants("jean_pierre@etu.unilim.fr");
        assert!(v.contains(&"jean-pierre@etu.unilim.fr".to_owned()));
        assert!(separator_variants("jean@x.fr").is_empty());
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("unilim.fr", "unlim.fr"), 1);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("", "ab"), 2);
    }
}
