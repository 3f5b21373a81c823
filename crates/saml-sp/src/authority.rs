//! Which addresses a university speaks for: the one rule discovery and the ACS share.
//!
//! An IdP is authoritative for an address when the address's domain, or one of its
//! parent domains, is one of the IdP's `shibmd:Scope`s (literal, or an anchored regexp)
//! or a mail domain the operator listed for that IdP ([`MailDomains`]: universities whose
//! mail domain differs from their scope). Discovery pre-filters institutions with it
//! (`prenom.nom@etu.unilim.fr` → Université de Limoges), and the ACS keeps a `mail`
//! attribute only when its IdP is authoritative for it: an IdP must never be able to
//! claim another university's address. Regexps run on `regex-lite` (linear time, size
//! limited) so a hostile pattern in a feed cannot stall a request.
//!
//! What it must never do: match a bare top-level domain, or a domain by suffix alone
//! (`evil-unilim.fr` is not under `unilim.fr`).

use std::collections::HashMap;

use regex_lite::{Regex, RegexBuilder};

use crate::error::Error;
use crate::metadata::IdpRecord;
use crate::types::EntityId;

/// Mail domains the operator vouches for on behalf of IdPs, beyond their scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailDomains(HashMap<EntityId, Vec<String>>);

/// Whether `domain` is a plausible DNS name: at least two labels of letters, digits and
/// hyphens (not at either end), 253 characters at most.
fn plausible_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl MailDomains {
    /// No extra domain: IdPs speak for their scopes only.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds `domains` for the IdP `idp` (lower-cased).
    ///
    /// # Errors
    /// [`Error::Input`] for an entityID or a domain that is not usable.
    pub fn add(&mut self, idp: &str, domains: &[String]) -> Result<(), Error> {
        let id = EntityId::parse(idp.trim())
            .map_err(|e| Error::Input(format!("mail domains for {idp:?}: {e}")))?;
        let entry = self.0.entry(id).or_default();
        for d in domains {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            if !plausible_domain(&d) {
                return Err(Error::Input(format!(
                    "mail domain {d:?} for {idp} is not a domain name (like univ-exemple.fr)"
                )));
            }
            if !entry.contains(&d) {
                entry.push(d);
            }
        }
        Ok(())
    }

    /// The operator's domains for `idp`.
    #[must_use]
    pub fn of(&self, idp: &EntityId) -> &[String] {
        self.0.get(idp).map_or(&[], Vec::as_slice)
    }

    /// Every IdP named (to check they exist in the feeds).
    pub fn idps(&self) -> impl Iterator<Item = &EntityId> {
        self.0.keys()
    }
}

/// The domains one IdP speaks for, compiled once per snapshot.
#[derive(Debug, Clone, Default)]
pub struct Authority {
    literal: Vec<String>,
    regexps: Vec<Regex>,
}

/// The domain part of an address (or a bare domain), lower-cased, if plausible.
pub(crate) fn domain_of(address: &str) -> Option<String> {
    let domain = address
        .rsplit_once('@')
        .map_or(address, |(_, d)| d)
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    plausible_domain(&domain).then_some(domain)
}

impl Authority {
    /// What `idp` speaks for: its scopes and the operator's `extra` domains. A regexp
    /// scope that does not compile is ignored (and logged).
    #[must_use]
    pub fn of(idp: &IdpRecord, extra: &[String]) -> Self {
        let mut literal: Vec<String> = extra.to_vec();
        let mut regexps = Vec::new();
        for s in &idp.scopes {
            if s.regexp {
                match RegexBuilder::new(&format!("^(?:{})$", s.value))
                    .case_insensitive(true)
                    .size_limit(1 << 16)
                    .build()
                {
                    Ok(r) => regexps.push(r),
                    Err(e) => {
                        tracing::warn!(idp = %idp.entity_id, scope = %s.value, error = %e, "regexp scope ignored");
                    }
                }
            } else {
                literal.push(s.value.to_ascii_lowercase());
            }
        }
        Self { literal, regexps }
    }

    /// How many labels had to be dropped from the address's domain to reach one this
    /// IdP speaks for (0: the domain itself), or `None`. Never the bare top-level domain.
    #[must_use]
    pub fn depth(&self, address: &str) -> Option<usize> {
        let domain = domain_of(address)?;
        let labels: Vec<&str> = domain.split('.').collect();
        (0..labels.len().saturating_sub(1))
            .filter_map(|i| labels.get(i..).map(|l| (i, l.join("."))))
            .find(|(_, candidate)| {
                self.literal.iter().any(|s| s == candidate)
                    || self.regexps.iter().any(|r| r.is_match(candidate))
            })
            .map(|(i, _)| i)
    }

    /// Whether this IdP may vouch for `address`.
    #[must_use]
    pub fn speaks_for(&self, address: &str) -> bool {
        self.depth(address).is_some()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::types::Scope;

    fn idp(scopes: &[(&str, bool)]) -> IdpRecord {
        IdpRecord {
            entity_id: EntityId::parse("https://idp.unilim.fr/idp").unwrap(),
            display_names: Vec::new(),
            logos: Vec::new(),
            information_urls: Vec::new(),
            scopes: scopes
                .iter()
                .map(|(v, regexp)| Scope {
                    value: (*v).to_owned(),
                    regexp: *regexp,
                })
                .collect(),
            sso: Vec::new(),
            signing_certs: Vec::new(),
            encryption_certs: Vec::new(),
            entity_categories: Vec::new(),
            registration_authority: None,
        }
    }

    #[test]
    fn a_scope_covers_its_domain_and_subdomains_never_a_suffix_or_another_domain() {
        let a = Authority::of(&idp(&[("unilim.fr", false)]), &[]);
        assert_eq!(a.depth("prenom.nom@unilim.fr"), Some(0));
        assert_eq!(a.depth("prenom.nom@etu.unilim.fr"), Some(1));
        assert!(a.speaks_for("x@ETU.Unilim.FR"));
        for other in [
            "carol@univ-a.fr",
            "x@evil-unilim.fr",
            "x@unilim.fr.evil.com",
            "x@fr",
            "x@",
            "unilim",
            "x@unilim..fr",
        ] {
            assert!(!a.speaks_for(other), "{other}");
        }
    }

    #[test]
    fn regexp_scopes_and_operator_domains_count_and_a_tld_never_does() {
        let a = Authority::of(
            &idp(&[(r"([a-z]+\.)?univ-exemple\.fr", true), ("fr", false)]),
            &["exemple-sante.fr".to_owned()],
        );
        assert!(a.speaks_for("x@etu.univ-exemple.fr"));
        assert!(a.speaks_for("x@exemple-sante.fr"));
        assert!(a.speaks_for("x@chu.exemple-sante.fr"));
        // A literal `fr` scope never makes an IdP speak for every French address.
        assert!(!a.speaks_for("x@univ-a.fr"));
    }

    #[test]
    fn operator_domains_are_checked() {
        let mut m = MailDomains::none();
        m.add("https://idp.unilim.fr/idp", &["@Etu.Unilim.fr".to_owned()])
            .unwrap();
        let id = EntityId::parse("https://idp.unilim.fr/idp").unwrap();
        assert_eq!(m.of(&id), ["etu.unilim.fr"]);
        for bad in ["fr", "exa mple.fr", "-x.fr", ""] {
            assert!(
                m.add("https://idp.unilim.fr/idp", &[bad.to_owned()])
                    .is_err()
            );
        }
        assert!(m.add("not an entity id", &["x.fr".to_owned()]).is_err());
    }
}
