//! Group → organization-role mapping, end to end with Keycloak: the user's group is
//! added and removed through Keycloak's admin API between sign-ins.

use serde_json::json;
use ssogate::address::Email;
use ssogate::store::audit::{self, AuditFilter};
use ssogate::store::organizations::{self as orgs, GrantSource, RoleGrant};
use ssogate::store::users;

use crate::signin::keycloak::{setup_keycloak, Setup};
use crate::support::keycloak::{sign_in, unique, KeycloakAdmin};
use crate::support::{new_client, spawn_app, Db, TestApp};

/// (role name, source, mapping rule) of the user's grants in Acme.
async fn grants(app: &TestApp, email: &str) -> Vec<(String, String, Option<String>)> {
    let mut c = app.store.read().await.expect("conn");
    let u = users::find_by_email(&mut c, &Email::parse(email).expect("e"))
        .await
        .expect("q")
        .expect("user");
    let roles = orgs::list_roles(&mut c).await.expect("roles");
    let mut v: Vec<_> = orgs::grants_of(&mut c, &u.id)
        .await
        .expect("grants")
        .into_iter()
        .map(|g| {
            let name = roles
                .iter()
                .find(|r| r.id == g.role_id)
                .map(|r| r.name.clone())
                .unwrap_or_default();
            (name, g.source.as_str().to_string(), g.mapping_rule)
        })
        .collect();
    v.sort();
    v
}

async fn grant_via_api(app: &TestApp, email: &str, role: &str) {
    let mut c = app.store.write().await.expect("conn");
    let u = users::find_by_email(&mut c, &Email::parse(email).expect("e"))
        .await
        .expect("q")
        .expect("user");
    let org = orgs::get_by_name(&mut c, "Acme")
        .await
        .expect("q")
        .expect("org");
    let role = orgs::role_by_name(&mut c, role)
        .await
        .expect("q")
        .expect("role");
    orgs::grant_role(
        &mut c,
        &RoleGrant {
            organization_id: org.id,
            user_id: u.id,
            role_id: role.id,
            source: GrantSource::Api,
            connector_id: None,
            mapping_rule: None,
        },
    )
    .await
    .expect("grant");
}

fn rules(mode: &str) -> serde_json::Value {
    json!([
        { "id": "eng-dev", "value": "engineering", "organization": "Acme", "role": "developer", "mode": mode },
        { "id": "sales-re", "pattern": "sal.*", "organization": "Acme", "role": "sales", "mode": mode }
    ])
}

async fn sync_mode_revokes_exactly_its_own_grant(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("map");
    let email = format!("{name}@acme.test");
    let kc_id = kc
        .create_user(&name, &email, "Map", "Ped", &["engineering", "sales"])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(
        &app,
        &Setup {
            role_mappings: Some(rules("sync")),
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
    let m = |r: &str, rule: Option<&str>| {
        (
            r.to_string(),
            "mapping".to_string(),
            rule.map(str::to_string),
        )
    };
    let jit = ("member".to_string(), "jit-sso".to_string(), None);
    assert_eq!(
        grants(&app, &email).await,
        vec![
            m("developer", Some("eng-dev")),
            jit.clone(),
            m("sales", Some("sales-re"))
        ]
    );

    // An administrator also grants `developer` through the API.
    grant_via_api(&app, &email, "developer").await;
    kc.remove_from_group(&kc_id, "engineering").await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    assert_eq!(
        grants(&app, &email).await,
        vec![
            ("developer".to_string(), "api".to_string(), None),
            jit.clone(),
            m("sales", Some("sales-re"))
        ],
        "only the mapping's own grant is revoked; the API grant of the same role stays"
    );
    let mut c = app.store.read().await.expect("conn");
    let revoked = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("role.revoked".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].data["mapping"], "eng-dev");
    drop(c);

    // Back in the group: granted again, naming the rule.
    kc.add_to_group(&kc_id, "engineering").await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    assert!(grants(&app, &email)
        .await
        .contains(&m("developer", Some("eng-dev"))));
}

async fn grant_mode_never_revokes(connector: &str) {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("grant");
    let email = format!("{name}@acme.test");
    let kc_id = kc
        .create_user(&name, &email, "Gra", "Nt", &["engineering"])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(
        &app,
        &Setup {
            role_mappings: Some(rules("grant")),
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
    kc.remove_from_group(&kc_id, "engineering").await;
    assert_eq!(
        sign_in(&app, &new_client(), connector, &name)
            .await
            .status(),
        303
    );
    assert!(grants(&app, &email).await.contains(&(
        "developer".to_string(),
        "mapping".to_string(),
        Some("eng-dev".to_string())
    )));
}

mod oidc {
    #[tokio::test]
    async fn sync_mode_revokes_exactly_its_own_grant() {
        super::sync_mode_revokes_exactly_its_own_grant("kc-oidc").await
    }
    #[tokio::test]
    async fn grant_mode_never_revokes() {
        super::grant_mode_never_revokes("kc-oidc").await
    }
}

mod saml {
    #[tokio::test]
    async fn sync_mode_revokes_exactly_its_own_grant() {
        super::sync_mode_revokes_exactly_its_own_grant("kc-saml").await
    }
    #[tokio::test]
    async fn grant_mode_never_revokes() {
        super::grant_mode_never_revokes("kc-saml").await
    }
}
