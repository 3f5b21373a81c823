//! `/demo/outbox`: the demo's e-mails, newest first, with their links clickable — so a
//! newcomer follows the activation link or reads the code without a mail server.
//!
//! Reads the `.eml` files the mailer's outbox transport writes; a file that does not
//! parse is shown as such. Message text is escaped like every page.

use std::path::PathBuf;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mail_parser::MessageParser;

struct Shown {
    to: String,
    subject: String,
    date: String,
    text: String,
    links: Vec<String>,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    messages: Vec<Shown>,
    dir: String,
}

fn links_in(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_owned())
        .collect()
}

fn read(dir: &PathBuf) -> Vec<Shown> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
        .into_iter()
        .take(50)
        .map(|(_, path)| {
            let raw = std::fs::read(&path).unwrap_or_default();
            match MessageParser::default().parse(&raw) {
                Some(m) => {
                    let text = m.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
                    Shown {
                        to: m
                            .to()
                            .and_then(|a| a.first())
                            .and_then(|a| a.address())
                            .unwrap_or_default()
                            .to_owned(),
                        subject: m.subject().unwrap_or_default().to_owned(),
                        date: m.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
                        links: links_in(&text),
                        text,
                    }
                }
                None => Shown {
                    to: String::new(),
                    subject: format!("(unreadable message {})", path.display()),
                    date: String::new(),
                    text: String::new(),
                    links: Vec::new(),
                },
            }
        })
        .collect()
}

async fn page(State(dir): State<PathBuf>) -> Response {
    let messages = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || read(&dir)
    })
    .await
    .unwrap_or_default();
    let page = OutboxPage {
        messages,
        dir: dir.display().to_string(),
    };
    match page.render() {
        Ok(body) => (
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `/demo/outbox`.
pub(crate) fn router(dir: PathBuf) -> Router {
    Router::new()
        .route("/demo/outbox", get(page))
        .with_state(dir)
}
