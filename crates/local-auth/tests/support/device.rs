//! A software authenticator for the passkey tests and the benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use webauthn_rs::prelude::Url;

/// A software authenticator (webauthn-authenticator-rs' SoftPasskey, user verification
/// claimed) answering our ceremonies. It cannot keep discoverable credentials, so the
/// registration options are relaxed on its side only; sign-ins go through the
/// account-bound check (allowCredentials listed), verified as every assertion is.
pub struct Device(
    webauthn_authenticator_rs::WebauthnAuthenticator<
        webauthn_authenticator_rs::softpasskey::SoftPasskey,
    >,
);

impl Device {
    pub fn new() -> Self {
        Self(webauthn_authenticator_rs::WebauthnAuthenticator::new(
            webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true),
        ))
    }

    pub fn register(&mut self, options: &serde_json::Value) -> String {
        let mut options = options.clone();
        let sel = &mut options["publicKey"]["authenticatorSelection"];
        sel["requireResidentKey"] = false.into();
        sel["residentKey"] = "discouraged".into();
        let answer = self
            .0
            .do_registration(
                Url::parse("https://login.uness.fr").unwrap(),
                serde_json::from_value(options).unwrap(),
            )
            .unwrap();
        serde_json::to_string(&answer).unwrap()
    }

    pub fn assert(&mut self, options: &serde_json::Value) -> String {
        let answer = self
            .0
            .do_authentication(
                Url::parse("https://login.uness.fr").unwrap(),
                serde_json::from_value(options.clone()).unwrap(),
            )
            .unwrap();
        serde_json::to_string(&answer).unwrap()
    }
}
