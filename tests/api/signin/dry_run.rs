//! The dry run: for every row of docs/RULES.md's tables, the dry run's decision equals what
//! the real sign-in then does, and the dry run writes nothing.

use serde_json::{json, Value};
use ssogate::address::Email;
use ssogate::connectors::Connector;
use ssogate::connectors::ExternalProfile;
use ssogate::provisioning::{provision_sign_in, AuditContext, ProvisionError};
use ssogate::store::connectors::{self, ConnectorRecord};
use ssogate::store::organizations::{self as orgs, OrganizationSpec};
use ssogate::store::users;

use crate::support::api_key;
use crate::support::{spawn_app, Db, TestApp};

async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut c = app.store.read().await.expect("conn");
    let mut out = Vec::new();
    for table in [
        "users",
        "identities",
        "organization_memberships",
        "organization_role_grants",
        "audit_events",
        "sessions",
    ] {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *c)
            .await
            .expect("count");
        out.push(n);
    }
    out
}

async fn connector(
    app: &TestApp,
    id: &str,
    kind: &str,
    create: bool,
    domains: &[&str],
) -> ConnectorRecord {
    let mut config = json!({ "create_accounts": create, "role_mappings": [
        { "id": "eng", "value": "engineering", "organization": "Acme", "role": "developer", "mode": "sync" }
    ] });
    if kind == "social" {
        config["social"] = json!({ "provider": id });
    }
    let rec = ConnectorRecord {
        id: id.into(),
        kind: kind.into(),
        display_name: id.into(),
        enabled: true,
        config,
        secrets: None,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        created_at: 0,
        updated_at: 0,
    };
    let mut c = app.store.write().await.expect("conn");
    connectors::upsert(&mut c, &rec).await.expect("connector");
    rec
}

fn profile(subject: &str, email: Option<&str>, verified: bool) -> ExternalProfile {
    ExternalProfile {
        subject: subject.into(),
        email: email.map(str::to_string),
        email_verified: verified,
        given_name: Some("Dry".into()),
        family_name: Some("Run".into()),
        groups: vec!["engineering".into()],
        ..Default::default()
    }
}

/// Dry run, check nothing changed, then the real sign-in; the decisions must match.
async fn same_decision(
    app: &TestApp,
    key: &str,
    rec: &ConnectorRecord,
    p: &ExternalProfile,
) -> Value {
    let before = snapshot(app).await;
    let r = app
        .client
        .post(app.url("/api/v1/signin/dry-run"))
        .bearer_auth(key)
        .json(&json!({ "connector": rec.id, "profile": p }))
        .send()
        .await
        .expect("dry run");
    assert_eq!(r.status(), 200);
    let dry: Value = r.json().await.expect("json");
    assert_eq!(snapshot(app).await, before, "the dry run wrote nothing");
    let connector = Connector::from_record(rec.clone()).expect("connector");
    let real = match provision_sign_in(&app.store, &connector, p, &AuditContext::default()).await {
        Ok(p) => serde_json::to_value(&p.decision).expect("json"),
        Err(ProvisionError::Refused(_, d)) => serde_json::to_value(&*d).expect("json"),
        Err(e) => panic!("sign-in failed: {e}"),
    };
    assert_eq!(dry["decision"], real, "dry run and real sign-in agree");
    dry
}

#[tokio::test]
async fn dry_run_matches_every_table_row_and_writes_nothing() {
    let app = spawn_app(Db::Sqlite).await;
    let key = api_key(&app).await;
    let sso = connector(&app, "sso", "saml", true, &["acme.test"]).await;
    let closed = connector(&app, "closed", "oidc", false, &["acme.test"]).await;
    let email = connector(&app, "email", "email", true, &[]).await;
    let social = connector(&app, "oauth2", "social", true, &[]).await;
    let github = connector(&app, "github", "social", true, &[]).await;
    {
        let mut c = app.store.write().await.expect("conn");
        let member = orgs::upsert_role(&mut c, "member", "").await.expect("role");
        orgs::upsert_role(&mut c, "developer", "")
            .await
            .expect("role");
        orgs::upsert(
            &mut c,
            &OrganizationSpec {
                name: "Acme".into(),
                jit_connectors: vec!["sso".into(), "closed".into()],
                default_roles: vec![member.id.clone()],
                ..Default::default()
            },
        )
        .await
        .expect("org");
        orgs::upsert(
            &mut c,
            &OrganizationSpec {
                name: "Initech".into(),
                jit_email_domains: vec!["initech.test".into()],
                default_roles: vec![member.id],
                ..Default::default()
            },
        )
        .await
        .expect("org");
    }
    let result = |v: &Value| {
        v["decision"]["outcome"]["result"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // SSO row 3: nobody, creation allowed → create + JIT join (+ the mapping's grant).
    let v = same_decision(
        &app,
        &key,
        &sso,
        &profile("s-new", Some("new@acme.test"), true),
    )
    .await;
    assert_eq!(result(&v), "create");
    assert_eq!(v["decision"]["joins"][0]["organization_name"], "Acme");
    assert_eq!(v["decision"]["mapping_grants"][0]["rule"], "eng");
    // SSO row 1: the identity is linked → sign in.
    let v = same_decision(
        &app,
        &key,
        &sso,
        &profile("s-new", Some("new@acme.test"), true),
    )
    .await;
    assert_eq!(result(&v), "sign_in");
    // SSO rows 2 and 5: an existing account with the same verified email, first SSO sign-in.
    {
        let mut c = app.store.write().await.expect("conn");
        users::insert(
            &mut c,
            &users::Profile {
                email: Some(Email::parse("old@acme.test").expect("e")),
                email_verified: true,
                ..Default::default()
            },
        )
        .await
        .expect("user");
    }
    let v = same_decision(
        &app,
        &key,
        &sso,
        &profile("s-old", Some("old@acme.test"), true),
    )
    .await;
    assert_eq!(result(&v), "link");
    assert_eq!(v["decision"]["joins"][0]["rule"]["rule"], "sso_jit");
    // SSO row 6: the same email from this connector for another subject (the address
    // was re-issued to someone new) → refused, naming the account.
    let v = same_decision(
        &app,
        &key,
        &sso,
        &profile("s-new-hire", Some("old@acme.test"), true),
    )
    .await;
    assert_eq!(result(&v), "refuse");
    assert_eq!(v["refused"]["code"], "subject_changed_for_email");
    assert!(v["decision"]["outcome"]["user_id"].is_string());
    // SSO row 4: nobody, creation not allowed → refused.
    let v = same_decision(
        &app,
        &key,
        &closed,
        &profile("c-1", Some("nobody@acme.test"), true),
    )
    .await;
    assert_eq!(result(&v), "refuse");
    assert_eq!(v["refused"]["code"], "account_not_provisioned");
    // Unclaimed domain with an existing account → refused (no takeover).
    {
        let mut c = app.store.write().await.expect("conn");
        users::insert(
            &mut c,
            &users::Profile {
                email: Some(Email::parse("ceo@globex.test").expect("e")),
                email_verified: true,
                ..Default::default()
            },
        )
        .await
        .expect("user");
    }
    let v = same_decision(
        &app,
        &key,
        &sso,
        &profile("s-evil", Some("ceo@globex.test"), true),
    )
    .await;
    assert_eq!(v["refused"]["code"], "email_exists_link_not_allowed");

    // Email-domain rows.
    let v = same_decision(
        &app,
        &key,
        &email,
        &profile("new@initech.test", Some("new@initech.test"), true),
    )
    .await;
    assert_eq!(result(&v), "create");
    assert_eq!(
        v["decision"]["joins"][0]["rule"]["rule"],
        "email_domain_jit"
    );
    let v = same_decision(
        &app,
        &key,
        &github,
        &profile("gh-7", Some("dev@initech.test"), true),
    )
    .await;
    assert_eq!(result(&v), "create");
    assert_eq!(
        v["decision"]["joins"][0]["rule"]["rule"], "email_domain_jit",
        "GitHub's verified email is trusted"
    );
    let v = same_decision(
        &app,
        &key,
        &social,
        &profile("o-1", Some("x@initech.test"), true),
    )
    .await;
    assert_eq!(
        v["decision"]["joins"],
        json!([]),
        "a generic provider's flag is not trusted"
    );
    let v = same_decision(
        &app,
        &key,
        &github,
        &profile("gh-1", Some("other@initech.test"), false),
    )
    .await;
    assert_eq!(result(&v), "create");
    assert_eq!(
        v["decision"]["joins"],
        json!([]),
        "unverified: no organization"
    );
    let v = same_decision(
        &app,
        &key,
        &email,
        &profile("old@acme.test", Some("old@acme.test"), true),
    )
    .await;
    assert_eq!(
        v["refused"]["code"], "email_domain_requires_sso",
        "acme.test belongs to the SSO connector"
    );
    let v = same_decision(
        &app,
        &key,
        &email,
        &profile("new@initech.test#2", Some("new@initech.test"), true),
    )
    .await;
    assert_eq!(result(&v), "link", "existing user: normal sign-in");
    assert_eq!(v["decision"]["joins"], json!([]), "nothing provisioned");
}
