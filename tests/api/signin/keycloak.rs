//! The whole sign-in, end to end through the real Keycloak (OIDC and SAML): ssogate's
//! /login/{connector} → Keycloak's login form → callback / ACS → engine → provisioning
//! (one transaction) → session → /me. Each test uses Keycloak users of its own.

use serde_json::{json, Value};
use ssogate::address::Email;
use ssogate::store::audit::{self, AuditFilter};
use ssogate::store::{identities, organizations as orgs, users};

use crate::signin::refusals::refusal;
use crate::support::keycloak::{sign_in, unique, KeycloakAdmin};
use crate::support::{
    keycloak_issuer, keycloak_realm, keycloak_url, new_client, spawn_app, Db, TestApp,
};

pub struct Setup {
    pub create_accounts: bool,
    pub profile_sync: &'static str,
    /// Role mapping rules given to every connector (after the organization exists).
    pub role_mappings: Option<Value>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            create_accounts: true,
            profile_sync: "first_sign_in",
            role_mappings: None,
        }
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/saml/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// Connectors for the Keycloak test realm (claiming acme.test), a `member` role and an
/// organization Acme with SSO JIT for all of them.
pub async fn setup_keycloak(app: &TestApp, s: &Setup) -> String {
    let key = crate::support::api_key(app).await;
    let descriptor = format!(
        "{}/realms/{}/protocol/saml/descriptor",
        keycloak_url(),
        keycloak_realm()
    );
    let saml = |entity: &str, sign: bool| {
        json!({
            "idp_metadata_url": descriptor, "sp_entity_id": entity, "sign_authn_requests": sign,
            "sp_private_key_pem": fixture("sp.key"), "sp_certificate_pem": fixture("sp.crt"),
        })
    };
    let common = |kind: &str| json!({ "kind": kind, "domains": ["acme.test"], "create_accounts": s.create_accounts, "profile_sync": s.profile_sync });
    let mut specs = vec![
        (
            "kc-saml",
            common("saml"),
            Some(saml("urn:ssogate:test:sp", false)),
            None,
        ),
        (
            "kc-saml-enc",
            common("saml"),
            Some(saml("urn:ssogate:test:sp-encrypted", false)),
            None,
        ),
        (
            "kc-saml-signed",
            common("saml"),
            Some(saml("urn:ssogate:test:sp-signed-requests", true)),
            None,
        ),
    ];
    specs.push((
        "kc-oidc",
        common("oidc"),
        None,
        Some(json!({ "issuer": keycloak_issuer(), "client_id": "ssogate-oidc", "client_secret": "ssogate-oidc-secret", "scopes": ["openid", "email", "profile"] })),
    ));
    let mut bodies = Vec::new();
    for (id, mut body, saml, oidc) in specs {
        if let Some(s) = saml {
            body["saml"] = s;
        }
        if let Some(o) = oidc {
            body["oidc"] = o;
        }
        bodies.push((id, body.clone()));
        let r = app
            .client
            .put(app.url(&format!("/api/v1/connectors/{id}")))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("put connector");
        assert_eq!(
            r.status(),
            201,
            "{id}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let r = app
        .client
        .post(app.url("/api/v1/roles"))
        .bearer_auth(&key)
        .json(&json!({ "name": "member" }))
        .send()
        .await
        .expect("role");
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&key)
        .json(&json!({ "name": "Acme", "jit_connectors": ["kc-saml", "kc-saml-enc", "kc-saml-signed", "kc-oidc"], "default_roles": ["member"] }))
        .send()
        .await
        .expect("org");
    assert_eq!(r.status(), 200);
    if let Some(rules) = &s.role_mappings {
        for role in ["developer", "sales"] {
            let r = app
                .client
                .post(app.url("/api/v1/roles"))
                .bearer_auth(&key)
                .json(&json!({ "name": role }))
                .send()
                .await
                .expect("role");
            assert_eq!(r.status(), 200);
        }
        for (id, mut body) in bodies {
            body["role_mappings"] = rules.clone();
            let r = app
                .client
                .put(app.url(&format!("/api/v1/connectors/{id}")))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .expect("put");
            assert_eq!(
                r.status(),
                200,
                "{id}: {}",
                r.text().await.unwrap_or_default()
            );
        }
    }
    key
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn audit_kinds(app: &TestApp) -> Vec<String> {
    let mut c = app.store.read().await.expect("conn");
    let mut v: Vec<String> = audit::query(
        &mut c,
        &AuditFilter {
            limit: 500,
            ..Default::default()
        },
    )
    .await
    .expect("q")
    .into_iter()
    .map(|e| e.kind)
    .collect();
    v.reverse();
    v
}

pub async fn counts(app: &TestApp) -> (i64, i64, i64) {
    let mut c = app.store.read().await.expect("conn");
    let u = users::count(&mut c).await.expect("users");
    let (i,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM identities")
        .fetch_one(&mut *c)
        .await
        .expect("q");
    let (g,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organization_role_grants")
        .fetch_one(&mut *c)
        .await
        .expect("q");
    (u, i, g)
}

macro_rules! per_connector {
    ($($name:ident),* $(,)?) => {
        mod oidc { $(#[tokio::test] async fn $name() { super::$name("kc-oidc").await })* }
        mod saml { $(#[tokio::test] async fn $name() { super::$name("kc-saml").await })* }
    };
}

per_connector!(
    a_new_user_is_created_and_joins_the_jit_organization,
    an_existing_user_with_the_same_verified_email_is_linked_and_joined,
    the_same_email_in_an_unclaimed_domain_is_refused_and_nothing_written,
    creation_off_and_no_account_is_refused_and_nothing_written,
    every_sign_in_sync_follows_a_rename_in_keycloak,
    first_sign_in_sync_leaves_a_rename_alone,
);

async fn a_new_user_is_created_and_joins_the_jit_organization(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("new");
    let email = format!("{name}@acme.test");
    kc.create_user(&name, &email, "Nina", "Newcomer", &["engineering"])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let browser = new_client();

    let r = sign_in(&app, &browser, connector, &name).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(location(&r), "/me");
    let me = browser.get(app.url("/me")).send().await.expect("me");
    assert_eq!(me.status(), 200);
    let html = me.text().await.expect("html");
    assert!(html.contains(&email), "{html}");
    assert!(
        html.contains(r#"<span class="org">Acme</span>: <span class="roles">member</span>"#),
        "{html}"
    );

    let mut c = app.store.read().await.expect("conn");
    let user = users::find_by_email(&mut c, &Email::parse(&email).expect("e"))
        .await
        .expect("q")
        .expect("created");
    assert!(user.email_verified);
    assert_eq!(
        (user.given_name.as_deref(), user.family_name.as_deref()),
        (Some("Nina"), Some("Newcomer"))
    );
    let ids = identities::list_for_user(&mut c, &user.id)
        .await
        .expect("q");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].connector_id, connector);
    assert!(!ids[0].subject.is_empty());
    assert_eq!(
        ids[0].raw_profile["groups"],
        json!(["engineering"]),
        "groups reach the ExternalProfile"
    );
    drop(c);
    let kinds = audit_kinds(&app).await;
    for k in [
        "user.created",
        "identity.linked",
        "organization.joined",
        "role.granted",
        "signin.succeeded",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} audited: {kinds:?}");
    }
    // A second sign-in is the same account (stable subject).
    let again = sign_in(&app, &new_client(), connector, &name).await;
    assert_eq!(again.status(), 303);
    assert_eq!(counts(&app).await, (1, 1, 1));
}

async fn an_existing_user_with_the_same_verified_email_is_linked_and_joined(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("existing");
    let email = format!("{name}@acme.test");
    kc.create_user(&name, &email, "Ed", "Existing", &[]).await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let local = {
        let mut c = app.store.write().await.expect("conn");
        users::insert(
            &mut c,
            &users::Profile {
                email: Some(Email::parse(&email).expect("e")),
                email_verified: true,
                given_name: Some("Eddie".into()),
                ..Default::default()
            },
        )
        .await
        .expect("local user")
    };
    let r = sign_in(&app, &new_client(), connector, &name).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let mut c = app.store.read().await.expect("conn");
    let ids = identities::list_for_user(&mut c, &local.id)
        .await
        .expect("q");
    assert_eq!(
        ids.len(),
        1,
        "the identity is linked to the existing account"
    );
    assert_eq!(
        users::count(&mut c).await.expect("count"),
        1,
        "no second account"
    );
    let org = orgs::get_by_name(&mut c, "Acme")
        .await
        .expect("q")
        .expect("org");
    assert!(
        orgs::is_member(&mut c, &org.id, &local.id)
            .await
            .expect("q"),
        "first SSO sign-in of an existing user: JIT join"
    );
    let u = users::get(&mut c, &local.id).await.expect("q").expect("u");
    assert_eq!(
        u.given_name.as_deref(),
        Some("Eddie"),
        "the account's own data wins at first sign-in"
    );
    assert_eq!(
        u.family_name.as_deref(),
        Some("Existing"),
        "empty fields are filled"
    );
}

async fn the_same_email_in_an_unclaimed_domain_is_refused_and_nothing_written(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("unclaimed");
    let email = format!("{name}@globex.test");
    kc.create_user(&name, &email, "Gus", "Globex", &[]).await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    {
        let mut c = app.store.write().await.expect("conn");
        users::insert(
            &mut c,
            &users::Profile {
                email: Some(Email::parse(&email).expect("e")),
                email_verified: true,
                ..Default::default()
            },
        )
        .await
        .expect("local");
    }
    let before = counts(&app).await;
    let r = sign_in(&app, &new_client(), connector, &name).await;
    assert_eq!(
        refusal(r).await,
        (403, "email_exists_link_not_allowed".to_string())
    );
    assert_eq!(counts(&app).await, before, "nothing written");
    let mut c = app.store.read().await.expect("conn");
    let refused = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].reason.as_deref(),
        Some("email_exists_link_not_allowed")
    );
    assert_eq!(refused[0].connector_id.as_deref(), Some(connector));
}

async fn creation_off_and_no_account_is_refused_and_nothing_written(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("nobody");
    kc.create_user(&name, &format!("{name}@acme.test"), "No", "Body", &[])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(
        &app,
        &Setup {
            create_accounts: false,
            ..Setup::default()
        },
    )
    .await;
    let before = counts(&app).await;
    let r = sign_in(&app, &new_client(), connector, &name).await;
    assert_eq!(
        refusal(r).await,
        (403, "account_not_provisioned".to_string())
    );
    assert_eq!(counts(&app).await, before);
}

async fn every_sign_in_sync_follows_a_rename_in_keycloak(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("sync");
    let email = format!("{name}@acme.test");
    let kc_id = kc.create_user(&name, &email, "Sam", "Before", &[]).await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(
        &app,
        &Setup {
            profile_sync: "every_sign_in",
            ..Setup::default()
        },
    )
    .await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    kc.set_user_field(&kc_id, "lastName", "After").await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    let mut c = app.store.read().await.expect("conn");
    let u = users::find_by_email(&mut c, &Email::parse(&email).expect("e"))
        .await
        .expect("q")
        .expect("user");
    assert_eq!(u.family_name.as_deref(), Some("After"));
    let synced = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("profile.synced".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(synced.len(), 1);
    let changes = synced[0].data["changes"]
        .as_array()
        .expect("changes")
        .clone();
    assert!(
        changes.contains(&json!({ "field": "family_name", "old": "Before", "new": "After" })),
        "{changes:?}"
    );
    // OIDC also sends the full `name`, which changes with it; nothing else changes.
    assert!(
        changes
            .iter()
            .all(|c| c["field"] == "family_name"
                || (c["field"] == "name" && c["new"] == "Sam After")),
        "{changes:?}"
    );
}

async fn first_sign_in_sync_leaves_a_rename_alone(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("nosync");
    let email = format!("{name}@acme.test");
    let kc_id = kc.create_user(&name, &email, "Fay", "Before", &[]).await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    kc.set_user_field(&kc_id, "lastName", "After").await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    let mut c = app.store.read().await.expect("conn");
    let u = users::find_by_email(&mut c, &Email::parse(&email).expect("e"))
        .await
        .expect("q")
        .expect("user");
    assert_eq!(u.family_name.as_deref(), Some("Before"));
    let synced = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("profile.synced".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert!(synced.is_empty());
}

/// SAML with encrypted assertions (Keycloak's default algorithms) and with signed
/// AuthnRequests, and the same sign-in on PostgreSQL.
#[tokio::test]
async fn saml_with_encrypted_assertions() {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("enc");
    kc.create_user(
        &name,
        &format!("{name}@acme.test"),
        "Enc",
        "Rypted",
        &["sales"],
    )
    .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let r = sign_in(&app, &new_client(), "kc-saml-enc", &name).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let mut c = app.store.read().await.expect("conn");
    let u = users::find_by_email(
        &mut c,
        &Email::parse(&format!("{name}@acme.test")).expect("e"),
    )
    .await
    .expect("q")
    .expect("user");
    let ids = identities::list_for_user(&mut c, &u.id).await.expect("q");
    assert_eq!(ids[0].raw_profile["groups"], json!(["sales"]));
}

#[tokio::test]
async fn saml_with_signed_authn_requests() {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("signed");
    kc.create_user(&name, &format!("{name}@acme.test"), "Sig", "Ned", &[])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let r = sign_in(&app, &new_client(), "kc-saml-signed", &name).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn sign_in_on_postgres() {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("pg");
    kc.create_user(&name, &format!("{name}@acme.test"), "Pat", "Gres", &[])
        .await;
    let app = spawn_app(Db::Postgres).await;
    setup_keycloak(&app, &Setup::default()).await;
    for connector in ["kc-saml", "kc-oidc"] {
        let r = sign_in(&app, &new_client(), connector, &name).await;
        assert_eq!(
            r.status(),
            303,
            "{connector}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    // One person, two identities, one account (same verified email in a claimed domain);
    // each connector's JIT join recorded its own grant row of the one role.
    assert_eq!(counts(&app).await, (1, 2, 2));
}
