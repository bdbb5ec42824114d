//! Outgoing mail (`src/mail/`): sent through a real SMTP server (Mailpit, started by
//! `scripts/test.sh`) and read back through Mailpit's HTTP API; the console outbox; the
//! `[mail]` checks at start-up.

use std::time::Duration;

use serde_json::Value;
use ssogate::app::App;
use ssogate::config::Config;
use ssogate::mail::{templates, MailError, Message};

use crate::support::{
    fresh_database, mailpit_api, mailpit_smtp, spawn_app, spawn_app_with, test_config, Db,
};

const FROM: &str = "ssogate test <no-reply@ssogate.test>";

/// A recipient no other test (or earlier run) uses, so parallel tests sharing one
/// Mailpit find their own message.
fn unique_recipient(who: &str) -> String {
    format!("{who}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// `mail.smtp_url` with `user:password@` put in front of Mailpit's host.
fn mailpit_smtp_with_login(user: &str, password: &str) -> String {
    let smtp = mailpit_smtp();
    let rest = smtp
        .strip_prefix("smtp://")
        .unwrap_or_else(|| panic!("{smtp}: expected smtp://host:port"));
    format!("smtp://{user}:{password}@{rest}")
}

/// The ids of the messages Mailpit holds for `to` (newest first).
async fn mailpit_ids_for(to: &str) -> Vec<String> {
    let list: Value = reqwest::get(format!("{}/api/v1/messages?limit=2000", mailpit_api()))
        .await
        .expect("GET /api/v1/messages")
        .json()
        .await
        .expect("a message list");
    list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| {
            m["To"]
                .as_array()
                .is_some_and(|to_list| to_list.iter().any(|a| a["Address"] == to))
        })
        .filter_map(|m| m["ID"].as_str().map(str::to_string))
        .collect()
}

/// The one message Mailpit received for `to`, in full (`/api/v1/message/{ID}`).
async fn mailpit_message_to(to: &str) -> Value {
    // The server answered 250 before `send` returned; Mailpit may still be writing it.
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids = mailpit_ids_for(to).await;
        if !ids.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ids.len(), 1, "exactly one message to {to} in Mailpit");
    reqwest::get(format!("{}/api/v1/message/{}", mailpit_api(), ids[0]))
        .await
        .expect("GET /api/v1/message/{ID}")
        .json()
        .await
        .expect("a message")
}

fn smtp_app_config(url: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.mail.transport = "smtp".into();
        c.mail.smtp_url = url;
        c.mail.from = FROM.into();
    }
}

#[tokio::test]
async fn smtp_delivers_the_signin_code_message_with_both_bodies() {
    let app = spawn_app_with(Db::Sqlite, smtp_app_config(mailpit_smtp())).await;
    let to = unique_recipient("alice");
    let link = "https://login.example.test/login/email/verify?token=t0k&x=1";
    let message = templates::signin_code(&to, "123456", link, 10).expect("renders");
    app.state.mailer.send(message.clone()).await.expect("sent");
    assert!(
        app.state.mailer.outbox().is_none(),
        "smtp has no console outbox"
    );

    let got = mailpit_message_to(&to).await;
    assert_eq!(got["Subject"], "Your sign-in code is 123456");
    assert_eq!(got["From"]["Address"], "no-reply@ssogate.test");
    assert_eq!(got["From"]["Name"], "ssogate test");
    let to_list = got["To"].as_array().expect("To");
    assert_eq!(to_list.len(), 1);
    assert_eq!(to_list[0]["Address"], to.as_str());
    assert_eq!(got["Cc"].as_array().map_or(0, Vec::len), 0);
    assert_eq!(got["Bcc"].as_array().map_or(0, Vec::len), 0);
    // Both alternatives arrive as rendered (line endings aside).
    let text = got["Text"].as_str().expect("Text").replace("\r\n", "\n");
    assert_eq!(text.trim_end(), message.text.trim_end());
    let html = got["HTML"].as_str().expect("HTML").replace("\r\n", "\n");
    assert_eq!(html.trim_end(), message.html.trim_end());
    assert!(
        html.contains("<strong id=\"code\">123456</strong>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://login.example.test/login/email/verify?token=t0k&#38;x=1\""),
        "{html}"
    );
}

#[tokio::test]
async fn smtp_logs_in_with_the_user_and_password_of_the_url() {
    // Mailpit (scripts/services/mailpit.sh) accepts any login and records the user.
    let url = mailpit_smtp_with_login("mailer%40ssogate.test", "s3cret%3Apw");
    let app = spawn_app_with(Db::Sqlite, smtp_app_config(url)).await;
    let to = unique_recipient("bob");
    app.state
        .mailer
        .send(Message {
            to: format!("Bob Example <{to}>"),
            subject: "Hello over SMTP AUTH".into(),
            text: "text body".into(),
            html: "<p>html body</p>".into(),
        })
        .await
        .expect("sent");
    let got = mailpit_message_to(&to).await;
    assert_eq!(got["Username"], "mailer@ssogate.test");
    assert_eq!(got["Subject"], "Hello over SMTP AUTH");
    assert_eq!(got["To"][0]["Name"], "Bob Example");
}

#[tokio::test]
async fn tls_is_required_never_a_fallback_to_clear_text() {
    // Mailpit here offers no TLS: exactly what a man in the middle stripping STARTTLS
    // looks like. `smtp+starttls://` and `smtps://` must send nothing rather than fall
    // back to clear text (the message carries a sign-in code).
    let smtp = mailpit_smtp();
    let host_port = smtp.strip_prefix("smtp://").expect("smtp://host:port");
    for scheme in ["smtp+starttls", "smtps"] {
        let app = spawn_app_with(
            Db::Sqlite,
            smtp_app_config(format!("{scheme}://u:pw@{host_port}")),
        )
        .await;
        let to = unique_recipient("carol");
        let message =
            templates::signin_code(&to, "654321", "https://x.test/", 10).expect("renders");
        let err = app.state.mailer.send(message).await.unwrap_err();
        assert!(matches!(err, MailError::Send(_)), "{scheme}: {err}");
        if scheme == "smtp+starttls" {
            assert!(err.to_string().contains("STARTTLS"), "{err}");
        }
        // `send` failed before any message was handed over: Mailpit has nothing for `to`.
        assert!(
            mailpit_ids_for(&to).await.is_empty(),
            "{scheme}: sent in clear text"
        );
    }
}

#[tokio::test]
async fn plain_smtp_to_another_host_is_refused_at_start_up() {
    let expected = "configuration: mail.smtp_url: smtp:// (no TLS) is allowed only for a \
                    loopback host (127.0.0.1, ::1, localhost), not \"mail.example.com\": \
                    sign-in codes and the SMTP password would cross the network in clear \
                    text; use smtp+starttls://mail.example.com:587 or \
                    smtps://mail.example.com:465";
    let env = [
        ("SSOGATE_MAIL__TRANSPORT", "smtp"),
        (
            "SSOGATE_MAIL__SMTP_URL",
            "smtp://ops:hunter2@mail.example.com:25",
        ),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let err = Config::load_from(None, env).unwrap_err().to_string();
    assert_eq!(err, expected);
    assert!(
        !err.contains("hunter2"),
        "the password is never printed: {err}"
    );

    // A Config built in code (not loaded) is refused by App::build the same way.
    let db = fresh_database(Db::Sqlite).await;
    let mut config = test_config(&db);
    config.mail.transport = "smtp".into();
    config.mail.smtp_url = "smtp://ops:hunter2@mail.example.com:25".into();
    let err = match App::build(config).await {
        Ok(_) => panic!("the app must not build with plain SMTP to another host"),
        Err(e) => format!("{e:#}"),
    };
    assert_eq!(format!("configuration: {err}"), expected);

    // Loopback in clear text is fine; so is TLS to any host.
    for url in [
        "smtp://127.0.0.1:25",
        "smtp+starttls://mail.example.com",
        "smtps://mail.example.com",
    ] {
        let env = [
            ("SSOGATE_MAIL__TRANSPORT", "smtp"),
            ("SSOGATE_MAIL__SMTP_URL", url),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert!(Config::load_from(None, env).is_ok(), "{url}");
    }
}

#[tokio::test]
async fn the_console_outbox_is_the_default_and_keeps_the_message() {
    let app = spawn_app(Db::Sqlite).await;
    let to = unique_recipient("dave");
    let message = templates::signin_code(&to, "111222", "https://x.test/in", 10).expect("renders");
    app.state.mailer.send(message.clone()).await.expect("kept");
    let kept = app
        .state
        .mailer
        .outbox()
        .expect("the default transport is the console")
        .last_to(&to)
        .expect("the outbox keeps the message");
    assert_eq!(kept.message, message);
    assert_eq!(kept.from, "ssogate <no-reply@localhost>");
}
