//! The mail catalogue: every sentence of every message, in French (the default) and
//! English. Templates hold the layout; this file holds the words.

use std::time::Duration;

use super::{Lang, Mail};

/// The words of one message, filled into the templates.
pub(crate) struct Texts {
    pub(crate) lang: &'static str,
    pub(crate) product: &'static str,
    pub(crate) subject: String,
    pub(crate) greeting: &'static str,
    /// A greeting naming the person, when known (replaces `greeting`).
    pub(crate) greeting_name: Option<String>,
    pub(crate) paragraphs: Vec<String>,
    pub(crate) code: Option<String>,
    pub(crate) action_url: Option<String>,
    pub(crate) action_label: &'static str,
    pub(crate) fallback_hint: &'static str,
    pub(crate) validity: String,
    pub(crate) ignore: &'static str,
    pub(crate) support_label: &'static str,
    pub(crate) support_url: String,
}

/// "24 heures", "1 hour", "3 minutes".
fn duration(lang: Lang, d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit_fr, unit_en) = if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "heure", "hour")
    } else if secs >= 60 {
        (secs.div_ceil(60), "minute", "minute")
    } else {
        (secs, "seconde", "second")
    };
    let plural = if n > 1 { "s" } else { "" };
    match lang {
        Lang::Fr => format!("{n} {unit_fr}{plural}"),
        Lang::En => format!("{n} {unit_en}{plural}"),
    }
}

pub(crate) fn texts(lang: Lang, mail: &Mail, support_url: &str) -> Texts {
    let mut t = Texts {
        lang: lang.tag(),
        product: "UNESS",
        subject: String::new(),
        greeting: match lang {
            Lang::Fr => "Bonjour,",
            Lang::En => "Hello,",
        },
        greeting_name: None,
        paragraphs: Vec::new(),
        code: None,
        action_url: None,
        action_label: "",
        fallback_hint: match lang {
            Lang::Fr => {
                "Si le bouton ne fonctionne pas, copiez cette adresse dans votre navigateur :"
            }
            Lang::En => "If the button does not work, copy this address into your browser:",
        },
        validity: String::new(),
        ignore: match lang {
            Lang::Fr => {
                "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne sera modifié."
            }
            Lang::En => "If you did not ask for this, ignore this message: nothing will change.",
        },
        support_label: match lang {
            Lang::Fr => "Besoin d'aide ?",
            Lang::En => "Need help?",
        },
        support_url: support_url.to_owned(),
    };
    match (mail, lang) {
        (
            Mail::Activation {
                url,
                valid_for,
                institution,
            },
            Lang::Fr,
        ) => {
            t.subject = "Activez votre compte UNESS".into();
            t.paragraphs = vec![
                match institution {
                    Some(name) => format!("{name} a confirmé votre identité et demandé l'activation de votre compte UNESS pour cette adresse. Pour la terminer, créez votre mot de passe en suivant ce lien :"),
                    None => "Votre établissement a confirmé votre identité. Pour terminer l'activation de votre compte UNESS, créez votre mot de passe en suivant ce lien :".into(),
                },
            ];
            t.action_url = Some(url.clone());
            t.action_label = "Créer mon mot de passe UNESS";
            t.validity = format!(
                "Ce lien est valable {} et ne peut servir qu'une fois.",
                duration(lang, *valid_for)
            );
        }
        (
            Mail::Activation {
                url,
                valid_for,
                institution,
            },
            Lang::En,
        ) => {
            t.subject = "Activate your UNESS account".into();
            t.paragraphs = vec![
                match institution {
                    Some(name) => format!("{name} has confirmed your identity and asked for your UNESS account to be activated for this address. To finish, create your password by following this link:"),
                    None => "Your institution has confirmed your identity. To finish activating your UNESS account, create your password by following this link:".into(),
                },
            ];
            t.action_url = Some(url.clone());
            t.action_label = "Create my UNESS password";
            t.validity = format!(
                "This link is valid for {} and works only once.",
                duration(lang, *valid_for)
            );
        }
        (
            Mail::Invitation {
                url,
                valid_for,
                app,
                name,
            },
            lang,
        ) => invitation(
            &mut t,
            lang,
            url,
            *valid_for,
            app.as_deref(),
            name.as_deref(),
        ),
        (Mail::Registration { url, valid_for }, Lang::Fr) => {
            t.subject = "Créez votre compte UNESS".into();
            t.paragraphs = vec![
                "Vous avez demandé à créer un compte UNESS pour cette adresse. Pour le créer, choisissez votre mot de passe en suivant ce lien :".into(),
            ];
            t.action_url = Some(url.clone());
            t.action_label = "Créer mon compte UNESS";
            t.validity = format!(
                "Ce lien est valable {} et ne peut servir qu'une fois.",
                duration(lang, *valid_for)
            );
        }
        (Mail::Registration { url, valid_for }, Lang::En) => {
            t.subject = "Create your UNESS account".into();
            t.paragraphs = vec![
                "You asked to create a UNESS account for this address. To create it, choose your password by following this link:".into(),
            ];
            t.action_url = Some(url.clone());
            t.action_label = "Create my UNESS account";
            t.validity = format!(
                "This link is valid for {} and works only once.",
                duration(lang, *valid_for)
            );
        }
        (Mail::PasswordReset { url, valid_for }, Lang::Fr) => {
            t.subject = "Réinitialisez votre mot de passe UNESS".into();
            t.paragraphs = vec![
                "Vous avez demandé à changer le mot de passe de votre compte UNESS. Choisissez-en un nouveau en suivant ce lien :".into(),
            ];
            t.action_url = Some(url.clone());
            t.action_label = "Choisir un nouveau mot de passe";
            t.validity = format!(
                "Ce lien est valable {} et ne peut servir qu'une fois.",
                duration(lang, *valid_for)
            );
        }
        (Mail::PasswordReset { url, valid_for }, Lang::En) => {
            t.subject = "Reset your UNESS password".into();
            t.paragraphs = vec![
                "You asked to change the password of your UNESS account. Choose a new one by following this link:".into(),
            ];
            t.action_url = Some(url.clone());
            t.action_label = "Choose a new password";
            t.validity = format!(
                "This link is valid for {} and works only once.",
                duration(lang, *valid_for)
            );
        }
        (Mail::LoginCode { code, valid_for }, Lang::Fr) => {
            t.subject = format!("Votre code de connexion UNESS : {code}");
            t.paragraphs = vec!["Voici votre code de connexion UNESS :".into()];
            t.code = Some(code.clone());
            t.validity = format!(
                "Ce code est valable {} et ne peut servir qu'une fois. Ne le communiquez à personne.",
                duration(lang, *valid_for)
            );
        }
        (Mail::LoginCode { code, valid_for }, Lang::En) => {
            t.subject = format!("Your UNESS sign-in code: {code}");
            t.paragraphs = vec!["Here is your UNESS sign-in code:".into()];
            t.code = Some(code.clone());
            t.validity = format!(
                "This code is valid for {} and works only once. Never share it.",
                duration(lang, *valid_for)
            );
        }
    }
    t
}

/// An invitation's words: who is greeted, which app, the link.
fn invitation(
    t: &mut Texts,
    lang: Lang,
    url: &str,
    valid_for: Duration,
    app: Option<&str>,
    name: Option<&str>,
) {
    // One short line: the name came from whoever invited.
    let name: Option<String> = name
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        })
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let name = name.as_deref();
    match lang {
        Lang::Fr => {
            t.subject = "Invitation à créer votre compte UNESS".into();
            if let Some(n) = name {
                t.greeting_name = Some(format!("Bonjour {n},"));
            }
            t.paragraphs = vec![
                match app {
                    Some(a) => format!("Vous êtes invité(e) à utiliser {a}, une application UNESS. Pour y accéder, créez votre compte UNESS en choisissant votre mot de passe :"),
                    None => "Vous êtes invité(e) à créer votre compte UNESS, qui donne accès aux applications UNESS. Choisissez votre mot de passe en suivant ce lien :".into(),
                },
                "Votre identifiant sera cette adresse e-mail.".into(),
            ];
            t.action_label = "Créer mon mot de passe UNESS";
            t.validity = format!(
                "Ce lien est valable {} et ne peut servir qu'une fois ; vous pourrez en demander un autre depuis la page de connexion.",
                duration(lang, valid_for)
            );
        }
        Lang::En => {
            t.subject = "You are invited to create your UNESS account".into();
            if let Some(n) = name {
                t.greeting_name = Some(format!("Hello {n},"));
            }
            t.paragraphs = vec![
                match app {
                    Some(a) => format!("You are invited to use {a}, a UNESS application. To get in, create your UNESS account by choosing your password:"),
                    None => "You are invited to create your UNESS account, which opens the UNESS applications. Choose your password by following this link:".into(),
                },
                "Your user name will be this e-mail address.".into(),
            ];
            t.action_label = "Create my UNESS password";
            t.validity = format!(
                "This link is valid for {} and works only once; you can ask for another one from the sign-in page.",
                duration(lang, valid_for)
            );
        }
    }
    t.action_url = Some(url.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally_in_both_languages() {
        assert_eq!(duration(Lang::Fr, Duration::from_secs(86_400)), "24 heures");
        assert_eq!(duration(Lang::En, Duration::from_secs(3600)), "1 hour");
        assert_eq!(duration(Lang::Fr, Duration::from_secs(180)), "3 minutes");
        assert_eq!(duration(Lang::En, Duration::from_secs(90)), "2 minutes");
    }
}
