//! A re-issued email address: the IdP gives a departed person's `first.last@` to someone
//! new. The same connector asserting an account's email for a new subject is refused
//! (`subject_changed_for_email`, audited, nothing written) until an administrator moves
//! the account's identity to the new subject (`POST /api/v1/users/{id}/identities/relink`).
//! End to end through the real Keycloak (OIDC and SAML) on SQLite and PostgreSQL, and the
//! re-link API on both databases.

use serde_json::{json, Value};
use ssogate::address::Email;
use ssogate::store::audit::{self, AuditEvent, AuditFilter};
use ssogate::store::connectors::{self, ConnectorRecord};
use ssogate::store::{identities, now_ms, sessions, users};

use crate::signin::keycloak::{counts, setup_keycloak, Setup};
use crate::support::downstream::{api_key, sign_in as session_for};
use crate::support::keycloak::{sign_in, unique, KeycloakAdmin};
use crate::support::{new_client, spawn_app, Db, TestApp};

macro_rules! per_db_and_connector {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            mod oidc { $(#[tokio::test] async fn $name() { super::super::$name(crate::support::Db::Sqlite, "kc-oidc").await })* }
            mod saml { $(#[tokio::test] async fn $name() { super::super::$name(crate::support::Db::Sqlite, "kc-saml").await })* }
        }
        mod postgres {
            mod oidc { $(#[tokio::test] async fn $name() { super::super::$name(crate::support::Db::Postgres, "kc-oidc").await })* }
            mod saml { $(#[tokio::test] async fn $name() { super::super::$name(crate::support::Db::Postgres, "kc-saml").await })* }
        }
    };
}

per_db_and_connector!(a_reissued_email_is_refused_until_an_administrator_relinks);

mod api {
    use super::*;
    both!(relink_moves_the_identity_ends_sessions_and_refuses_what_it_cannot_do);
}

async fn events(app: &TestApp, kind: &str) -> Vec<AuditEvent> {
    let mut c = app.store.read().await.expect("conn");
    audit::query(
        &mut c,
        &AuditFilter {
            kind: Some(kind.into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit")
}

async fn subjects_of(app: &TestApp, user_id: &str) -> Vec<String> {
    let mut c = app.store.read().await.expect("conn");
    identities::list_for_user(&mut c, user_id)
        .await
        .expect("identities")
        .into_iter()
        .map(|i| i.subject)
        .collect()
}

async fn relink(app: &TestApp, key: &str, user_id: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/users/{user_id}/identities/relink")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("relink")
}

async fn a_reissued_email_is_refused_until_an_administrator_relinks(db: Db, connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let departed = unique("departed");
    let newcomer = unique("newhire");
    let email = format!("{}@acme.test", unique("first.last"));
    let departed_kc = kc
        .create_user(&departed, &email, "Dana", "Departed", &[])
        .await;
    let app = spawn_app(db).await;
    let key = setup_keycloak(&app, &Setup::default()).await;

    // The first holder of the address signs in: account + identity (subject S1) + JIT.
    let r = sign_in(&app, &new_client(), connector, &departed).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let account = {
        let mut c = app.store.read().await.expect("conn");
        users::find_by_email(&mut c, &Email::parse(&email).expect("email"))
            .await
            .expect("q")
            .expect("the account")
    };
    let s1 = subjects_of(&app, &account.id).await;
    assert_eq!(s1.len(), 1);

    // The IdP re-issues the address: the departed user's record moves aside, a new user
    // (a new subject S2) gets the same email.
    kc.set_user_field(
        &departed_kc,
        "email",
        &format!("{departed}@former.acme.test"),
    )
    .await;
    kc.create_user(&newcomer, &email, "Nia", "Newhire", &[])
        .await;

    let before = counts(&app).await;
    let r = sign_in(&app, &new_client(), connector, &newcomer).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.expect("html");
    assert!(
        html.contains(r#"<code id="error-code">subject_changed_for_email</code>"#),
        "{html}"
    );
    assert!(
        html.contains("belongs to another person at your identity provider")
            && html.contains("Contact your administrator"),
        "the page tells the person what happened and whom to ask: {html}"
    );
    assert_eq!(counts(&app).await, before, "nothing written");
    assert_eq!(
        subjects_of(&app, &account.id).await,
        s1,
        "the account keeps its identity"
    );
    let refused = events(&app, "signin.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].reason.as_deref(),
        Some("subject_changed_for_email")
    );
    assert_eq!(refused[0].connector_id.as_deref(), Some(connector));
    assert_eq!(
        refused[0].user_id.as_deref(),
        Some(account.id.as_str()),
        "the administrator is told which account"
    );
    let s2 = refused[0].data["detail"]["subject"]
        .as_str()
        .expect("the new subject is audited")
        .to_string();
    assert_ne!(s2, s1[0]);
    assert!(events(&app, "identity.linked").await.len() == 1);

    // The administrator checks it is the same person and moves the identity to S2.
    let r = relink(
        &app,
        &key,
        &account.id,
        json!({ "connector": connector, "subject": s2 }),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let done: Value = r.json().await.expect("json");
    assert_eq!(done["previous_subject"], json!(s1[0]));
    assert_eq!(done["subject"], json!(s2));

    // Now S2 signs in to the account; nothing new is created.
    let r = sign_in(&app, &new_client(), connector, &newcomer).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(
        counts(&app).await,
        before,
        "the same account, no second one"
    );
    assert_eq!(subjects_of(&app, &account.id).await, vec![s2.clone()]);
    let relinked = events(&app, "identity.relinked").await;
    assert_eq!(relinked.len(), 1);
    assert_eq!(relinked[0].user_id.as_deref(), Some(account.id.as_str()));
    assert!(relinked[0]
        .actor
        .as_deref()
        .is_some_and(|a| a.starts_with("api-key:")));
}

async fn connector(app: &TestApp, id: &str) {
    let rec = ConnectorRecord {
        id: id.into(),
        kind: "oidc".into(),
        display_name: id.into(),
        enabled: true,
        config: json!({ "create_accounts": true }),
        secrets: None,
        domains: vec!["acme.test".into()],
        created_at: 0,
        updated_at: 0,
    };
    let mut c = app.store.write().await.expect("conn");
    connectors::upsert(&mut c, &rec).await.expect("connector");
}

async fn user_with_identities(app: &TestApp, email: &str, links: &[(&str, &str)]) -> String {
    let mut c = app.store.write().await.expect("conn");
    let u = users::insert(
        &mut c,
        &users::Profile {
            email: Some(Email::parse(email).expect("email")),
            email_verified: true,
            ..Default::default()
        },
    )
    .await
    .expect("user");
    for (connector, subject) in links {
        identities::link(&mut c, &u.id, connector, subject, &json!({}))
            .await
            .expect("link");
    }
    u.id
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

async fn relink_moves_the_identity_ends_sessions_and_refuses_what_it_cannot_do(db: Db) {
    let app = spawn_app(db).await;
    let key = api_key(&app).await;
    connector(&app, "sso").await;
    connector(&app, "other").await;
    let alice = user_with_identities(&app, "alice@acme.test", &[("sso", "S1")]).await;
    let bob = user_with_identities(&app, "bob@acme.test", &[("sso", "B1")]).await;
    // Left over from before the check: two identities of one connector on one account.
    let carol =
        user_with_identities(&app, "carol@acme.test", &[("sso", "C1"), ("sso", "C2")]).await;
    let sid = session_for(&app, &alice).await;

    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        (status, error_code(&v).to_string())
    };
    let unauthenticated = app
        .client
        .post(app.url(&format!("/api/v1/users/{alice}/identities/relink")))
        .json(&json!({ "connector": "sso", "subject": "S2" }))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthenticated.status(), 401);
    for (user, body, expected) in [
        (
            "nobody",
            json!({ "connector": "sso", "subject": "S2" }),
            (404, "not_found"),
        ),
        (
            alice.as_str(),
            json!({ "connector": "missing", "subject": "S2" }),
            (404, "not_found"),
        ),
        (
            alice.as_str(),
            json!({ "connector": "sso", "subject": "  " }),
            (400, "subject_missing"),
        ),
        (
            alice.as_str(),
            json!({ "connector": "sso", "subject": "S2", "extra": 1 }),
            (400, "invalid_json"),
        ),
        (
            alice.as_str(),
            json!({ "connector": "other", "subject": "S2" }),
            (409, "identity_not_linked"),
        ),
        (
            alice.as_str(),
            json!({ "connector": "sso", "subject": "S2", "previous_subject": "B1" }),
            (409, "identity_not_linked"),
        ),
        (
            alice.as_str(),
            json!({ "connector": "sso", "subject": "B1" }),
            (409, "subject_already_linked"),
        ),
        (
            carol.as_str(),
            json!({ "connector": "sso", "subject": "C3" }),
            (409, "previous_subject_required"),
        ),
    ] {
        let got = answer(relink(&app, &key, user, body.clone()).await).await;
        assert_eq!(got, (expected.0, expected.1.to_string()), "{user} {body}");
    }
    assert_eq!(subjects_of(&app, &alice).await, vec!["S1"]);
    assert_eq!(subjects_of(&app, &bob).await, vec!["B1"], "untouched");
    assert!(events(&app, "identity.relinked").await.is_empty());

    let r = relink(
        &app,
        &key,
        &alice,
        json!({ "connector": "sso", "subject": "S2" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.expect("json");
    assert_eq!(
        done,
        json!({ "user_id": alice, "connector": "sso", "previous_subject": "S1", "subject": "S2", "sessions_ended": 1 })
    );
    assert_eq!(subjects_of(&app, &alice).await, vec!["S2"]);
    {
        let mut c = app.store.read().await.expect("conn");
        assert!(identities::find(&mut c, "sso", "S1")
            .await
            .expect("q")
            .is_none());
        assert!(
            sessions::get_live(&mut c, &sid, now_ms())
                .await
                .expect("q")
                .is_none(),
            "the previous holder's session ended"
        );
    }
    let r = relink(
        &app,
        &key,
        &carol,
        json!({ "connector": "sso", "subject": "C3", "previous_subject": "C2" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut carols = subjects_of(&app, &carol).await;
    carols.sort();
    assert_eq!(carols, vec!["C1", "C3"]);

    let relinked = events(&app, "identity.relinked").await;
    assert_eq!(relinked.len(), 2);
    let alices = relinked
        .iter()
        .find(|e| e.user_id.as_deref() == Some(alice.as_str()))
        .expect("alice's event");
    assert_eq!(alices.connector_id.as_deref(), Some("sso"));
    assert_eq!(alices.data["previous_subject"], json!("S1"));
    assert_eq!(alices.data["subject"], json!("S2"));
    assert!(alices
        .actor
        .as_deref()
        .is_some_and(|a| a.starts_with("api-key:")));

    let doc: Value = app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("openapi");
    assert!(
        doc["paths"]["/api/v1/users/{id}/identities/relink"]["post"].is_object(),
        "documented"
    );
}
