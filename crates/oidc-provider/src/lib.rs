//! `passerelle-oidc-provider` — the OpenID Connect provider that faces the UNESS apps.
//!
//! It will hold relying parties, signing keys, the authorization, token, userinfo,
//! revocation, introspection and logout logic. It knows nothing of accounts or pages: the
//! server hands it an authenticated subject and claims. It must never redirect to a
//! redirect URI it has not matched exactly against the client's registration.
//!
//! Not built yet: see issue #4.
