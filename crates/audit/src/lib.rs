//! `passerelle-audit` — the audit log: every staff action and every security-relevant
//! event, as an append-only record (who, when, from where, what, on whom, why).
//!
//! Records are kept in the store as one journal ([`passerelle_store::Store::journal_append`]:
//! atomic appends, bounded by a record cap and a retention, time-ordered ids), so every
//! instance writes to the same log and concurrent writers never lose each other. Each
//! record is also written to the process log as one JSON line (target `audit`) for the
//! operator's log shipping. [`AuditLog::page`] reads it backwards with filters (the
//! console), [`AuditLog::export`] forwards as JSON lines (`passerelle audit export`).
//!
//! What it must never do: change or delete a record (only the cap and the retention drop
//! the oldest), or hold a secret — callers pass addresses, ids and reasons, never a
//! password, code, token or link.

use std::time::Duration;

use passerelle_store::{JournalId, Key, Store, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed or cannot be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be written (export).
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
}

/// What happened: a closed set (metric labels and filters use [`Action::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A staff member opened the console (second factor passed).
    StaffSignIn,
    /// A staff member's second factor was refused.
    StaffSecondFactorRefused,
    /// Someone was invited.
    Invited,
    /// An activation or reset link was sent on someone's behalf.
    LinkSent,
    /// An account was disabled.
    AccountDisabled,
    /// An account was enabled again.
    AccountEnabled,
    /// A university identity was unlinked from an account.
    IdentityUnlinked,
    /// Every session of an account was ended.
    SignedOutEverywhere,
    /// An account and its data were deleted.
    AccountDeleted,
    /// A user downloaded their data.
    DataExported,
    /// The OIDC signing keys were rotated.
    KeysRotated,
    /// A federation feed was dropped (expired, refused).
    FeedDropped,
    /// A user dropped their password: the account signs in with passkeys.
    PasswordDropped,
    /// A passkey-only account got a way in back (a new passkey or password) after a
    /// weaker proof (an e-mailed code or link, the university): the detail says which.
    AccountRecovered,
}

impl Action {
    /// Every action, for filters.
    pub const ALL: [Self; 14] = [
        Self::StaffSignIn,
        Self::StaffSecondFactorRefused,
        Self::Invited,
        Self::LinkSent,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::IdentityUnlinked,
        Self::SignedOutEverywhere,
        Self::AccountDeleted,
        Self::DataExported,
        Self::KeysRotated,
        Self::FeedDropped,
        Self::PasswordDropped,
        Self::AccountRecovered,
    ];

    /// A stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StaffSignIn => "staff_sign_in",
            Self::StaffSecondFactorRefused => "staff_second_factor_refused",
            Self::Invited => "invited",
            Self::LinkSent => "link_sent",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::SignedOutEverywhere => "signed_out_everywhere",
            Self::AccountDeleted => "account_deleted",
            Self::DataExported => "data_exported",
            Self::KeysRotated => "keys_rotated",
            Self::FeedDropped => "feed_dropped",
            Self::PasswordDropped => "password_dropped",
            Self::AccountRecovered => "account_recovered",
        }
    }

    /// The action named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A sysadmin on the command line (the OS user, when known).
    Operator {
        /// `$USER` of the command.
        user: Option<String>,
    },
    /// A staff member in the console.
    Staff {
        /// Their address.
        email: String,
    },
    /// A user acting on their own account.
    User {
        /// Their address.
        email: String,
    },
    /// Passerelle itself (refresh, expiry).
    System,
}

impl Actor {
    /// A short label: `operator:alice`, `staff:a@b`, `user:a@b`, `system`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Operator { user } => format!("operator:{}", user.as_deref().unwrap_or("-")),
            Self::Staff { email } => format!("staff:{email}"),
            Self::User { email } => format!("user:{email}"),
            Self::System => "system".into(),
        }
    }
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub actor: Actor,
    /// From where: the client address, or `cli`.
    pub from: String,
    /// What.
    pub action: Action,
    /// On whom or what: an account address, a client id, a feed name.
    #[serde(default)]
    pub subject: Option<String>,
    /// Why (mandatory for staff actions: the console asks for it).
    #[serde(default)]
    pub reason: Option<String>,
    /// More about it (a key id, an institution, a refusal reason).
    #[serde(default)]
    pub detail: Option<String>,
}

impl Record {
    /// A record of `action` by `actor` from `from`, now.
    #[must_use]
    pub fn now(actor: Actor, from: &str, action: Action) -> Self {
        Self {
            at: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            actor,
            from: from.to_owned(),
            action,
            subject: None,
            reason: None,
            detail: None,
        }
    }

    /// A person acting on their own account (`email`), from `from`.
    #[must_use]
    pub fn by_owner(email: &str, from: &str, action: Action) -> Self {
        Self::now(
            Actor::User {
                email: email.to_owned(),
            },
            from,
            action,
        )
        .on(email)
    }

    /// On whom or what.
    #[must_use]
    pub fn on(mut self, subject: &str) -> Self {
        self.subject = Some(subject.to_owned());
        self
    }

    /// Why.
    #[must_use]
    pub fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// More about it.
    #[must_use]
    pub fn detail(mut self, detail: &str) -> Self {
        self.detail = Some(detail.to_owned());
        self
    }
}

/// A record and its place in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id (`MS-SEQ`): the order records were written in.
    pub id: String,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
}

/// What the console filters on (all given parts must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// This action only.
    pub action: Option<Action>,
    /// The actor's label contains this (case-insensitive).
    pub actor: Option<String>,
    /// The subject contains this (case-insensitive).
    pub subject: Option<String>,
}

impl Filter {
    fn matches(&self, r: &Record) -> bool {
        let has = |field: Option<&str>, wanted: &Option<String>| {
            wanted
                .as_ref()
                .is_none_or(|w| field.is_some_and(|f| f.to_lowercase().contains(&w.to_lowercase())))
        };
        self.action.is_none_or(|a| a == r.action)
            && has(Some(&r.actor.label()), &self.actor)
            && has(r.subject.as_deref(), &self.subject)
    }
}

/// How much is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The most records kept (the oldest go first).
    pub max_records: usize,
    /// How long a record is kept, days.
    pub retention_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_records: 200_000,
            retention_days: 400,
        }
    }
}

/// How many records a filtered page reads at most before it stops (bounded work).
const SCAN_LIMIT: usize = 20_000;

/// The audit log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
    config: AuditConfig,
}

fn key() -> Key {
    Key::new("audit", "log")
}

impl AuditLog {
    /// The log in `store`, kept as `config` says.
    #[must_use]
    pub fn new(store: Store, config: AuditConfig) -> Self {
        Self { store, config }
    }

    /// Appends a record, and writes it to the process log as one JSON line.
    ///
    /// # Errors
    /// [`Error::Store`]: the record is not kept (the caller must not report the action
    /// as done).
    pub async fn record(&self, record: Record) -> Result<JournalId, Error> {
        let keep = Duration::from_secs(self.config.retention_days.saturating_mul(86_400));
        let id = self
            .store
            .journal_append(&key(), &record, self.config.max_records, keep)
            .await?;
        let line = serde_json::to_string(&Entry {
            id: id.to_string(),
            record,
        })
        .unwrap_or_default();
        tracing::info!(target: "audit", audit = %line, "audit");
        Ok(id)
    }

    /// Up to `count` records matching `filter`, newest first, strictly before `before`;
    /// and where the next page starts, when there may be more.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn page(
        &self,
        before: Option<JournalId>,
        count: usize,
        filter: &Filter,
    ) -> Result<(Vec<Entry>, Option<JournalId>), Error> {
        let mut out = Vec::new();
        let mut cursor = before;
        let mut scanned = 0;
        loop {
            let batch: Vec<(JournalId, Record)> =
                self.store.journal_before(&key(), cursor, 500).await?;
            let Some((last, _)) = batch.last() else {
                return Ok((out, None));
            };
            let last = *last;
            for (id, record) in batch {
                scanned += 1;
                if filter.matches(&record) {
                    out.push(Entry {
                        id: id.to_string(),
                        record,
                    });
                    if out.len() == count {
                        return Ok((out, Some(id)));
                    }
                }
            }
            if scanned >= SCAN_LIMIT {
                return Ok((out, Some(last)));
            }
            cursor = Some(last);
        }
    }

    /// Writes every record (oldest first, from `since` when given) as JSON lines;
    /// returns how many.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Write`].
    pub async fn export(
        &self,
        out: &mut impl std::io::Write,
        since: Option<OffsetDateTime>,
    ) -> Result<usize, Error> {
        let mut cursor = since.map(|t| JournalId {
            ms: u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(0)
                .saturating_sub(1),
            seq: u64::MAX,
        });
        let mut n = 0;
        loop {
            let batch: Vec<(JournalId, Record)> =
                self.store.journal_after(&key(), cursor, 1000).await?;
            let Some((last, _)) = batch.last() else {
                return Ok(n);
            };
            cursor = Some(*last);
            for (id, record) in batch {
                let line = serde_json::to_string(&Entry {
                    id: id.to_string(),
                    record,
                })
                .map_err(std::io::Error::other)?;
                writeln!(out, "{line}")?;
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn actions_round_trip_through_their_names() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
    }

    async fn subjects(log: &AuditLog, filter: Filter) -> Vec<String> {
        let (page, _) = log.page(None, 10, &filter).await.unwrap();
        page.into_iter()
            .map(|e| e.record.subject.unwrap())
            .collect()
    }

    #[tokio::test]
    async fn filters_match_action_actor_and_subject() {
        let log = AuditLog::new(Store::memory("audit-test"), AuditConfig::default());
        for (who, what, on) in [
            ("a@uness.fr", Action::AccountDisabled, "x@univ.fr"),
            ("b@uness.fr", Action::LinkSent, "y@univ.fr"),
            ("a@uness.fr", Action::LinkSent, "z@univ.fr"),
        ] {
            log.record(
                Record::now(Actor::Staff { email: who.into() }, "10.0.0.1", what)
                    .on(on)
                    .because("ticket 42"),
            )
            .await
            .unwrap();
        }
        let f = |action, actor: Option<&str>, subject: Option<&str>| Filter {
            action,
            actor: actor.map(str::to_owned),
            subject: subject.map(str::to_owned),
        };
        assert_eq!(
            subjects(&log, f(Some(Action::LinkSent), None, None)).await,
            vec!["z@univ.fr", "y@univ.fr"]
        );
        assert_eq!(
            subjects(&log, f(None, Some("A@UNESS"), None)).await,
            vec!["z@univ.fr", "x@univ.fr"]
        );
        assert_eq!(
            subjects(&log, f(None, None, Some("y@"))).await,
            vec!["y@univ.fr"]
        );
    }
}
