//! The discovery indexes answer exactly what a scan of every institution answers: the
//! scan below is the rule as written (every query word a prefix of a word of one same
//! name, French names first, then by folded French name, feed order on ties; for an
//! address, the institutions that speak for its domain or a parent, the most specific
//! first), run on random feeds — names with accents and punctuation in several
//! languages, nameless IdPs, literal and regexp scopes, operator mail domains, hidden
//! IdPs — and random queries and addresses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use passerelle_saml_sp::authority::{Authority, MailDomains};
use passerelle_saml_sp::directory::{Directory, fold};
use passerelle_saml_sp::metadata::{CATEGORY_HIDE_FROM_DISCOVERY, IdpRecord, Localized};
use passerelle_saml_sp::types::{EntityId, Scope};
use proptest::prelude::*;

const VOCABULARY: &[&str] = &[
    "Université",
    "universite",
    "University",
    "Paris",
    "Cité",
    "École",
    "ecole",
    "nationale",
    "Sud",
    "Lyon",
    "42",
    "de",
    "l'Institut",
    "Saint-Étienne",
    "Sainte",
    "ÉCOLE",
];
const DOMAINS: &[&str] = &[
    "univ-paris.fr",
    "etu.univ-paris.fr",
    "ens.fr",
    "univ-lyon.fr",
    "u-psud.fr",
    "chu-lyon.fr",
];

fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The rule, by scanning: entity IDs of every match in order.
fn scan_search(idps: &[IdpRecord], query: &str) -> Vec<String> {
    let wanted = words(query);
    let mut hits: Vec<(u8, String, usize, String)> = Vec::new();
    for (i, idp) in idps
        .iter()
        .filter(|i| !i.hidden_from_discovery())
        .enumerate()
    {
        let mut names: Vec<(bool, Vec<String>)> = idp
            .display_names
            .iter()
            .map(|n| (n.lang == "fr", words(&n.value)))
            .collect();
        if names.is_empty() {
            let mut w = words(idp.entity_id.as_str());
            for s in idp.scopes.iter().filter(|s| !s.regexp) {
                w.extend(words(&s.value));
            }
            names.push((true, w));
        }
        let matches = |ws: &Vec<String>| {
            wanted
                .iter()
                .all(|q| ws.iter().any(|w| w.starts_with(q.as_str())))
        };
        let french = names.iter().any(|(fr, ws)| *fr && matches(ws));
        if french || names.iter().any(|(_, ws)| matches(ws)) || wanted.is_empty() {
            hits.push((
                u8::from(!french),
                fold(idp.name("fr")),
                i,
                idp.entity_id.to_string(),
            ));
        }
    }
    hits.sort();
    hits.into_iter().map(|h| h.3).collect()
}

/// The rule, by scanning: entity IDs of the institutions speaking for `address`.
fn scan_email(idps: &[IdpRecord], mail: &MailDomains, address: &str) -> Vec<String> {
    let mut hits: Vec<(usize, String, usize, String)> = idps
        .iter()
        .filter(|i| !i.hidden_from_discovery())
        .enumerate()
        .filter_map(|(i, idp)| {
            Authority::of(idp, mail.of(&idp.entity_id))
                .depth(address)
                .map(|d| (d, fold(idp.name("fr")), i, idp.entity_id.to_string()))
        })
        .collect();
    hits.sort();
    hits.into_iter().map(|h| h.3).collect()
}

fn idp_strategy(i: usize) -> impl Strategy<Value = IdpRecord> {
    let name = (
        prop::sample::select(vec!["fr", "en", "de"]),
        prop::collection::vec(prop::sample::select(VOCABULARY), 1..5),
    )
        .prop_map(|(lang, ws)| Localized {
            lang: lang.into(),
            value: ws.join(" "),
        });
    let scope =
        (prop::sample::select(DOMAINS), any::<bool>(), 0..4u8).prop_map(|(d, regexp, case)| {
            let value = if regexp {
                format!(r"([a-z]+\.)?{}", d.replace('.', r"\."))
            } else if case == 0 {
                d.to_ascii_uppercase()
            } else {
                d.to_owned()
            };
            Scope { value, regexp }
        });
    (
        prop::collection::vec(name, 0..3),
        prop::collection::vec(scope, 0..3),
        prop::bool::weighted(0.1),
    )
        .prop_map(move |(display_names, scopes, hidden)| IdpRecord {
            entity_id: EntityId::parse(&format!("https://idp{i}.example.fr/idp")).unwrap(),
            display_names,
            logos: Vec::new(),
            information_urls: Vec::new(),
            scopes,
            sso: Vec::new(),
            signing_certs: Vec::new(),
            encryption_certs: Vec::new(),
            entity_categories: if hidden {
                vec![CATEGORY_HIDE_FROM_DISCOVERY.into()]
            } else {
                Vec::new()
            },
            registration_authority: None,
        })
}

fn feed() -> impl Strategy<Value = Vec<IdpRecord>> {
    (1..40usize).prop_flat_map(|n| (0..n).map(idp_strategy).collect::<Vec<_>>())
}

fn query() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        (prop::sample::select(VOCABULARY), 1..6usize)
            .prop_map(|(w, n)| w.chars().take(n).collect::<String>()),
        "[a-zé0-9' -]{0,6}",
    ];
    prop::collection::vec(word, 0..5).prop_map(|ws| ws.join(" "))
}

fn address() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "etu.", "a.b.", "ETU.", "evil-"]),
        prop::sample::select(
            DOMAINS
                .iter()
                .copied()
                .chain(["fr", "example.org", "x"])
                .collect::<Vec<_>>(),
        ),
    )
        .prop_map(|(sub, d)| format!("prenom.nom@{sub}{d}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_indexes_answer_what_the_scan_answers(
        idps in feed(),
        queries in prop::collection::vec(query(), 1..6),
        addresses in prop::collection::vec(address(), 1..6),
        extra in prop::sample::select(DOMAINS),
    ) {
        let mut mail = MailDomains::none();
        mail.add(idps[0].entity_id.as_str(), &[format!("mail.{extra}")]).unwrap();
        let dir = Directory::with_mail_domains(&idps, &mail);
        for q in &queries {
            let found = dir.search_page(q, "fr", 0, usize::MAX);
            let got: Vec<String> = found.items.iter().map(|i| i.entity_id.to_string()).collect();
            let want = scan_search(&idps, q);
            prop_assert_eq!(found.total, want.len(), "query {:?}", q);
            prop_assert_eq!(got, want, "query {:?}", q);
        }
        for a in addresses.iter().chain([format!("x@mail.{extra}")].iter()) {
            let got: Vec<String> = dir.for_email(a, "fr").iter().map(|i| i.entity_id.to_string()).collect();
            prop_assert_eq!(got, scan_email(&idps, &mail, a), "address {:?}", a);
        }
    }
}
