//! The password policy: configuration, with UNESS's preset as the default.
//!
//! UNESS (DESIGN.md §1 step 5): 8 to 50 characters, at least one A–Z, one a–z, one 0–9
//! and one special character from `! [ ] { } ( ) % $ # @ + - _`, no spaces, nothing
//! else. [`PasswordPolicy::check`] returns every unmet rule, in the order of
//! [`PasswordPolicy::rules`], so the page can tick a live checklist; the server-side
//! check is the authority.

use serde::{Deserialize, Serialize};

/// One rule of the policy, as shown in the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", content = "value", rename_all = "snake_case")]
pub enum Rule {
    /// At least this many characters.
    MinLength(usize),
    /// At most this many characters.
    MaxLength(usize),
    /// At least one ASCII capital letter.
    Uppercase,
    /// At least one ASCII small letter.
    Lowercase,
    /// At least one digit 0–9.
    Digit,
    /// At least one character from the configured special characters.
    Special(String),
    /// No spaces.
    NoSpaces,
    /// Only letters A–Z/a–z, digits and the configured special characters.
    OnlyAllowedCharacters(String),
}

/// The password policy (configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_length: usize,
    /// Maximum length in characters.
    pub max_length: usize,
    /// Require an ASCII capital letter.
    pub require_uppercase: bool,
    /// Require an ASCII small letter.
    pub require_lowercase: bool,
    /// Require a digit.
    pub require_digit: bool,
    /// Require one of `specials`.
    pub require_special: bool,
    /// The special characters (each char of the string).
    pub specials: String,
    /// Allow spaces.
    pub allow_spaces: bool,
    /// Allow characters other than ASCII letters, digits and `specials`.
    pub allow_other_characters: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::uness()
    }
}

impl PasswordPolicy {
    /// UNESS's policy.
    #[must_use]
    pub fn uness() -> Self {
        Self {
            min_length: 8,
            max_length: 50,
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_special: true,
            specials: "![]{}()%$#@+-_".into(),
            allow_spaces: false,
            allow_other_characters: false,
        }
    }

    /// Every rule of this policy, in checklist order.
    #[must_use]
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules = vec![
            Rule::MinLength(self.min_length),
            Rule::MaxLength(self.max_length),
        ];
        if self.require_uppercase {
            rules.push(Rule::Uppercase);
        }
        if self.require_lowercase {
            rules.push(Rule::Lowercase);
        }
        if self.require_digit {
            rules.push(Rule::Digit);
        }
        if self.require_special {
            rules.push(Rule::Special(self.specials.clone()));
        }
        if !self.allow_spaces {
            rules.push(Rule::NoSpaces);
        }
        if !self.allow_other_characters {
            rules.push(Rule::OnlyAllowedCharacters(self.specials.clone()));
        }
        rules
    }

    /// The rules `password` does not meet (empty when it is acceptable).
    #[must_use]
    pub fn check(&self, password: &str) -> Vec<Rule> {
        let len = password.chars().count();
        let special = |c: char| self.specials.contains(c);
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || special(c) || (self.allow_spaces && c == ' ');
        self.rules()
            .into_iter()
            .filter(|rule| match rule {
                Rule::MinLength(n) => len < *n,
                Rule::MaxLength(n) => len > *n,
                Rule::Uppercase => !password.chars().any(|c| c.is_ascii_uppercase()),
                Rule::Lowercase => !password.chars().any(|c| c.is_ascii_lowercase()),
                Rule::Digit => !password.chars().any(|c| c.is_ascii_digit()),
                Rule::Special(_) => !password.chars().any(special),
                Rule::NoSpaces => password.chars().any(char::is_whitespace),
                Rule::OnlyAllowedCharacters(_) => !password
                    .chars()
                    .all(|c| allowed(c) || (!self.allow_spaces && c.is_whitespace())),
            })
            .collect()
    }

    /// Checks that the policy itself makes sense (start-up).
    ///
    /// # Errors
    /// A sentence naming the problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_length == 0 || self.min_length > self.max_length {
            return Err(format!(
                "password_policy: min_length ({}) must be between 1 and max_length ({})",
                self.min_length, self.max_length
            ));
        }
        if self.max_length > 1024 {
            return Err("password_policy: max_length must be at most 1024".into());
        }
        if self.require_special && self.specials.is_empty() {
            return Err(
                "password_policy: require_special needs at least one special character".into(),
            );
        }
        if self
            .specials
            .chars()
            .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace())
        {
            return Err(
                "password_policy: specials must not contain letters, digits or spaces".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_password_meeting_every_uness_rule_passes() {
        assert_eq!(PasswordPolicy::uness().check("Abcdef1!"), vec![]);
        assert_eq!(PasswordPolicy::uness().check("x_Y-9[]{}()%$#@+"), vec![]);
    }

    #[test]
    fn every_unmet_rule_is_reported_not_only_the_first() {
        let p = PasswordPolicy::uness();
        assert_eq!(
            p.check("abc"),
            vec![
                Rule::MinLength(8),
                Rule::Uppercase,
                Rule::Digit,
                Rule::Special(p.specials.clone())
            ]
        );
    }

    #[test]
    fn spaces_and_other_characters_are_refused() {
        let p = PasswordPolicy::uness();
        assert_eq!(p.check("Abcdef1! x"), vec![Rule::NoSpaces]);
        assert_eq!(
            p.check("Abcdéf1!"),
            vec![Rule::OnlyAllowedCharacters(p.specials.clone())]
        );
        // '*' and '&' are not in UNESS's list.
        assert_eq!(
            p.check("Abcdef1*"),
            vec![
                Rule::Special(p.specials.clone()),
                Rule::OnlyAllowedCharacters(p.specials.clone())
            ]
        );
    }

    #[test]
    fn length_counts_characters_and_is_bounded_both_ways() {
        let p = PasswordPolicy::uness();
        let fifty = format!("Ab1!{}", "x".repeat(46));
        assert_eq!(p.check(&fifty), vec![]);
        assert_eq!(p.check(&format!("{fifty}x")), vec![Rule::MaxLength(50)]);
    }

    #[test]
    fn a_relaxed_policy_from_configuration_is_honoured() {
        let p: PasswordPolicy = serde_json::from_str(
            r#"{"min_length":12,"require_special":false,"allow_spaces":true,"allow_other_characters":true}"#,
        )
        .unwrap();
        assert!(p.validate().is_ok());
        assert_eq!(p.check("Correct horse battery 9é"), vec![]);
        assert_eq!(p.check("Short 9"), vec![Rule::MinLength(12)]);
    }

    #[test]
    fn nonsensical_policies_are_configuration_errors() {
        let mut p = PasswordPolicy::uness();
        p.min_length = 60;
        assert!(p.validate().is_err());
        let mut p = PasswordPolicy::uness();
        p.specials = "a!".into();
        assert!(p.validate().is_err());
    }

    proptest! {
        #[test]
        fn check_agrees_with_the_rules_it_lists(s in "\\PC{0,60}") {
            let p = PasswordPolicy::uness();
            let unmet = p.check(&s);
            let rules = p.rules();
            prop_assert!(unmet.iter().all(|r| rules.contains(r)));
        }
    }
}
