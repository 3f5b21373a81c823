//! The crate's one error type. Feed-level errors only: a malformed *entity* is not an
//! error, it is skipped and reported in the parse result.

/// What went wrong with a metadata document.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document is not well-formed XML (the whole feed is refused: nothing in it can
    /// be trusted, and its signature could not verify anyway).
    #[error("not well-formed XML at byte {position}: {reason}")]
    Xml {
        /// Byte offset of the error.
        position: u64,
        /// What the parser said.
        reason: String,
    },
    /// The bytes are not UTF-8 XML that says so: another byte-order mark or declared
    /// encoding, invalid UTF-8, a NUL byte. Refused before any XML parser runs, so the
    /// verifier and the reader can never decode one document two ways.
    #[error("document encoding refused: {0}")]
    Encoding(String),
    /// The document carries a DOCTYPE (entity expansion attacks): refused.
    #[error("metadata carries a DOCTYPE, which is refused")]
    Doctype,
    /// The document is larger than the configured limit.
    #[error("metadata is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The document's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The root element is not an `md:EntitiesDescriptor` or `md:EntityDescriptor`.
    #[error("metadata root is not a SAML metadata element: {0}")]
    NotMetadata(String),
    /// The root's `validUntil` is missing or unreadable.
    #[error("metadata has no readable validUntil: {0}")]
    Validity(String),
    /// The document is past its `validUntil` at the instant it was checked.
    #[error("metadata expired at {valid_until} (checked as of {now})")]
    Expired {
        /// The document's `validUntil` (RFC 3339).
        valid_until: String,
        /// The instant of the check (RFC 3339).
        now: String,
    },
    /// The document's `validUntil` is further away than the configured maximum.
    #[error("metadata validUntil {valid_until} is more than {max_days} days after {now}")]
    ValidityTooLong {
        /// The document's `validUntil` (RFC 3339).
        valid_until: String,
        /// The instant of the check (RFC 3339).
        now: String,
        /// The configured maximum, in days.
        max_days: i64,
    },
    /// The signature is missing, made by a key that is not pinned, uses a refused
    /// algorithm, or does not match the content.
    #[error("metadata signature rejected: {0}")]
    Signature(String),
    /// A correctly signed copy of a feed published before the one already accepted (a
    /// replay that would bring back replaced keys or removed IdPs).
    #[error(
        "metadata published at {offered} is older than the copy already accepted (published at {held}): refused"
    )]
    Rollback {
        /// The refused copy's publication instant (RFC 3339).
        offered: String,
        /// The accepted copy's (RFC 3339).
        held: String,
    },
    /// The signature is valid but does not cover the document's root element.
    #[error("metadata signature does not cover the document root")]
    NotSignedAtRoot,
    /// A SAML response was not accepted (each reason is distinct; see the ACS).
    #[error("SAML response rejected: {0}")]
    Rejected(crate::acs::Rejection),
    /// The store could not be used (see [`passerelle_store::StoreError::is_unavailable`]).
    #[error(transparent)]
    Store(#[from] passerelle_store::StoreError),
    /// An internal failure (randomness, signing, compression).
    #[error("internal error: {0}")]
    Internal(String),
    /// A value given to the directory (a search, an address) is unusable.
    #[error("invalid input: {0}")]
    Input(String),
}

impl Error {
    /// The error for a document the byte-level gate ([`passerelle_xmldsig::utf8_document`])
    /// refused.
    pub(crate) fn from_xmldsig(e: passerelle_xmldsig::Error) -> Self {
        match e {
            passerelle_xmldsig::Error::Encoding(reason) => Self::Encoding(reason),
            other => Self::Signature(other.to_string()),
        }
    }
}
