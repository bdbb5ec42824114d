//! The store conformance suite (after Dex's storage/conformance): every test runs against
//! SQLite and PostgreSQL, each on a fresh database.

use std::collections::HashSet;

use serde_json::json;
use ssogate::address::Email;
use ssogate::store::audit::{self, AuditFilter, NewAuditEvent};
use ssogate::store::connectors::{self, ConnectorRecord};
use ssogate::store::organizations::{self as orgs, GrantSource, OrganizationSpec, RoleGrant};
use ssogate::store::pending_logins::{self, PendingLogin, Taken};
use ssogate::store::sessions::{self, DbSessionStore};
use ssogate::store::signing_keys::{self, SigningKey};
use ssogate::store::users::{self, Profile};
use ssogate::store::{api_keys, identities, now_ms, saml_replay, StoreError};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::support::{fresh_store, Db, TestStore};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(crate::support::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(crate::support::Db::Postgres).await })*
        }
    };
}

conformance!(
    users_round_trip,
    user_emails_are_unique,
    identities_are_unique_per_connector_and_subject,
    connectors_round_trip_and_claim_domains,
    a_connector_changed_since_it_was_read_is_detected,
    a_background_write_changes_only_its_fields_and_never_recreates_a_connector,
    organizations_and_jit_lookups,
    role_grants_keep_their_source,
    audit_events_filter_and_paginate_newest_first,
    sessions_store,
    saving_an_ended_session_never_brings_it_back,
    pending_logins_are_single_use_bound_expiring_and_capped,
    pending_logins_are_capped_per_client_before_the_global_cap,
    saml_assertion_ids_are_accepted_once,
    api_keys_are_hashed_and_revocable,
    signing_keys_publication_window,
    a_rolled_back_transaction_leaves_nothing,
    concurrent_writers_never_fail,
);

fn email(s: &str) -> Email {
    Email::parse(s).expect("valid email")
}

fn profile(e: &str) -> Profile {
    Profile {
        email: Some(email(e)),
        email_verified: true,
        given_name: Some("Alice".into()),
        family_name: Some("Anders".into()),
        name: Some("Alice Anders".into()),
        picture: None,
        custom_attributes: json!({"department": "R&D"}),
    }
}

async fn saml_connector(s: &TestStore, id: &str, domains: &[&str]) -> ConnectorRecord {
    let rec = ConnectorRecord {
        id: id.into(),
        kind: "saml".into(),
        display_name: format!("{id} SSO"),
        enabled: true,
        config: json!({"create_accounts": true}),
        secrets: Some("v1:sealed".into()),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        created_at: 0,
        updated_at: 0,
    };
    let mut c = s.store.write().await.expect("conn");
    connectors::upsert(&mut c, &rec)
        .await
        .expect("upsert connector");
    rec
}

async fn users_round_trip(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let u = users::insert(&mut c, &profile("Alice@Acme.Test"))
        .await
        .expect("insert");
    assert_eq!(u.email.as_deref(), Some("alice@acme.test"));
    assert!(u.email_verified && !u.suspended);
    assert_eq!(u.custom_attributes, json!({"department": "R&D"}));
    assert_eq!(
        users::get(&mut c, &u.id).await.expect("get"),
        Some(u.clone())
    );
    assert_eq!(
        users::find_by_email(&mut c, &email("ALICE@acme.test"))
            .await
            .expect("find")
            .map(|u| u.id),
        Some(u.id.clone())
    );
    assert_eq!(
        users::find_by_email(&mut c, &email("bob@acme.test"))
            .await
            .expect("find"),
        None
    );

    let mut p = profile("alice@acme.test");
    p.family_name = Some("Andersson".into());
    let updated = users::update_profile(&mut c, &u.id, &p)
        .await
        .expect("update");
    assert_eq!(updated.family_name.as_deref(), Some("Andersson"));
    assert!(updated.updated_at >= u.updated_at);

    users::set_suspended(&mut c, &u.id, true)
        .await
        .expect("suspend");
    assert!(
        users::get(&mut c, &u.id)
            .await
            .expect("get")
            .expect("user")
            .suspended
    );
    assert!(matches!(
        users::set_suspended(&mut c, "nope", true).await,
        Err(StoreError::NotFound(_))
    ));
    users::record_sign_in(&mut c, &u.id, 42)
        .await
        .expect("sign-in");
    assert_eq!(
        users::get(&mut c, &u.id)
            .await
            .expect("get")
            .expect("user")
            .last_sign_in_at,
        Some(42)
    );

    // A user without email is fine, and several may exist.
    let none = Profile {
        email: None,
        ..Default::default()
    };
    users::insert(&mut c, &none).await.expect("no email 1");
    users::insert(&mut c, &none).await.expect("no email 2");
    assert_eq!(users::count(&mut c).await.expect("count"), 3);
}

async fn user_emails_are_unique(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let a = users::insert(&mut c, &profile("alice@acme.test"))
        .await
        .expect("first");
    let err = users::insert(&mut c, &profile("ALICE@ACME.TEST"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Changing another user's email to a taken one is a conflict too.
    let b = users::insert(&mut c, &profile("bob@acme.test"))
        .await
        .expect("bob");
    let err = users::update_profile(&mut c, &b.id, &profile("alice@acme.test"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        users::get(&mut c, &a.id)
            .await
            .expect("get")
            .expect("a")
            .email
            .as_deref(),
        Some("alice@acme.test")
    );
}

async fn identities_are_unique_per_connector_and_subject(db: Db) {
    let s = fresh_store(db).await;
    saml_connector(&s, "acme", &[]).await;
    saml_connector(&s, "globex", &[]).await;
    let mut c = s.store.write().await.expect("conn");
    let a = users::insert(&mut c, &profile("alice@acme.test"))
        .await
        .expect("a");
    let b = users::insert(&mut c, &profile("bob@acme.test"))
        .await
        .expect("b");
    let raw = json!({"email": "alice@acme.test"});
    let id = identities::link(&mut c, &a.id, "acme", "G-123", &raw)
        .await
        .expect("link");
    assert_eq!(id.raw_profile, raw);
    let err = identities::link(&mut c, &b.id, "acme", "G-123", &raw)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The same subject at another connector is another identity.
    identities::link(&mut c, &b.id, "globex", "G-123", &raw)
        .await
        .expect("other connector");
    assert_eq!(
        identities::find(&mut c, "acme", "G-123")
            .await
            .expect("find")
            .map(|i| i.user_id),
        Some(a.id.clone())
    );
    assert_eq!(
        identities::find(&mut c, "acme", "g-123")
            .await
            .expect("find"),
        None,
        "subjects are case-sensitive"
    );
    assert!(
        identities::record_sign_in(&mut c, "acme", "G-123", &json!({"v": 2}))
            .await
            .expect("touch")
    );
    assert!(
        !identities::record_sign_in(&mut c, "acme", "g-123", &json!({"v": 3}))
            .await
            .expect("touch"),
        "no identity: nothing recorded"
    );
    let list = identities::list_for_user(&mut c, &a.id)
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].raw_profile, json!({"v": 2}));
    assert!(list[0].last_sign_in_at.is_some());
}

/// `unchanged_since`: a change prepared from an earlier read is written only when nothing
/// wrote the connector meanwhile.
async fn a_connector_changed_since_it_was_read_is_detected(db: Db) {
    let s = fresh_store(db).await;
    saml_connector(&s, "acme", &["acme.test"]).await;
    let read = |id: &'static str| {
        let store = s.store.clone();
        async move {
            let mut c = store.read().await.expect("conn");
            connectors::get(&mut c, id).await.expect("get")
        }
    };
    let seen = read("acme").await.expect("exists");
    let unchanged = |id: &'static str, seen: Option<ConnectorRecord>| {
        let store = s.store.clone();
        async move {
            let mut tx = store.begin().await.expect("tx");
            let r = connectors::unchanged_since(&mut tx, id, seen.as_ref())
                .await
                .expect("check");
            tx.rollback().await.expect("rollback");
            r
        }
    };
    assert!(unchanged("acme", Some(seen.clone())).await);
    assert!(unchanged("nobody", None).await, "still absent");
    assert!(!unchanged("acme", None).await, "created meanwhile");
    // Another write of the same connector (new sealed secrets) meanwhile.
    let mut other = seen.clone();
    other.secrets = Some("v1:sealed-again".into());
    {
        let mut c = s.store.write().await.expect("conn");
        connectors::upsert(&mut c, &other).await.expect("upsert");
    }
    assert!(!unchanged("acme", Some(seen.clone())).await);
    let fresh = read("acme").await.expect("exists");
    assert!(unchanged("acme", Some(fresh.clone())).await);
    // A write in the same millisecond that changed only the domains (same sealed secrets,
    // same config): updated_at alone cannot tell, the domains can.
    let mut other = fresh.clone();
    other.domains = vec!["other.test".into()];
    {
        let mut c = s.store.write().await.expect("conn");
        connectors::upsert(&mut c, &other).await.expect("upsert");
        sqlx::query("UPDATE connectors SET updated_at = $1 WHERE id = $2")
            .bind(fresh.updated_at)
            .bind("acme")
            .execute(&mut *c)
            .await
            .expect("same millisecond");
    }
    assert!(
        !unchanged("acme", Some(fresh.clone())).await,
        "domains changed"
    );
    let fresh = read("acme").await.expect("exists");
    assert!(unchanged("acme", Some(fresh.clone())).await);
    // Deleted meanwhile.
    {
        let mut c = s.store.write().await.expect("conn");
        assert!(connectors::delete(&mut c, "acme").await.expect("delete"));
    }
    assert!(!unchanged("acme", Some(fresh)).await);
}

async fn connectors_round_trip_and_claim_domains(db: Db) {
    let s = fresh_store(db).await;
    let rec = saml_connector(&s, "acme", &["acme.test", "*.acme.test"]).await;
    saml_connector(&s, "globex", &["globex.test"]).await;
    let mut c = s.store.write().await.expect("conn");
    let got = connectors::get(&mut c, "acme")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.display_name, rec.display_name);
    assert_eq!(got.config, rec.config);
    assert_eq!(got.secrets.as_deref(), Some("v1:sealed"));
    assert_eq!(
        got.domains,
        vec!["*.acme.test".to_string(), "acme.test".to_string()]
    );

    let claim = |d: &'static str| {
        let store = s.store.clone();
        async move {
            let mut c = store.read().await.expect("conn");
            connectors::claiming_domain(&mut c, d).await.expect("claim")
        }
    };
    assert_eq!(
        claim("acme.test").await,
        vec![("acme".into(), "acme.test".into())]
    );
    assert_eq!(
        claim("eu.acme.test").await,
        vec![("acme".into(), "*.acme.test".into())]
    );
    assert_eq!(
        claim("a.eu.acme.test").await,
        vec![("acme".into(), "*.acme.test".into())]
    );
    assert!(claim("evilacme.test").await.is_empty());
    assert!(claim("acme.test.evil").await.is_empty());
    assert_eq!(
        claim("globex.test").await,
        vec![("globex".into(), "globex.test".into())]
    );

    // Upsert replaces fields and domains.
    let mut changed = rec.clone();
    changed.display_name = "Acme".into();
    changed.domains = vec!["acme.example".into()];
    changed.enabled = false;
    assert!(!connectors::upsert(&mut c, &changed).await.expect("update"));
    let got = connectors::get(&mut c, "acme")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((got.display_name.as_str(), got.enabled), ("Acme", false));
    assert_eq!(got.domains, vec!["acme.example".to_string()]);
    assert!(claim("acme.test").await.is_empty());
    assert_eq!(connectors::list(&mut c).await.expect("list").len(), 2);
    assert!(connectors::delete(&mut c, "acme").await.expect("delete"));
    assert!(connectors::get(&mut c, "acme")
        .await
        .expect("get")
        .is_none());
}

async fn organizations_and_jit_lookups(db: Db) {
    let s = fresh_store(db).await;
    saml_connector(&s, "acme", &["acme.test"]).await;
    let mut c = s.store.write().await.expect("conn");
    let member = orgs::upsert_role(&mut c, "member", "").await.expect("role");
    let admin = orgs::upsert_role(&mut c, "admin", "admins")
        .await
        .expect("role");
    let again = orgs::upsert_role(&mut c, "member", "changed")
        .await
        .expect("role again");
    assert_eq!(again.id, member.id, "roles are identified by name");
    assert_eq!(orgs::list_roles(&mut c).await.expect("roles").len(), 2);

    let acme = orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "Acme".into(),
            description: "".into(),
            jit_email_domains: vec!["acme.test".into()],
            jit_connectors: vec!["acme".into()],
            default_roles: vec![member.id.clone(), admin.id.clone()],
        },
    )
    .await
    .expect("acme");
    orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "Acme Labs".into(),
            jit_email_domains: vec!["*.acme.test".into(), "acme.test".into()],
            ..Default::default()
        },
    )
    .await
    .expect("labs");
    let mut expected_roles = vec![member.id.clone(), admin.id.clone()];
    expected_roles.sort();
    assert_eq!(acme.default_roles, expected_roles);
    assert_eq!(acme.jit_connectors, vec!["acme".to_string()]);

    let names = |v: Vec<orgs::Organization>| v.into_iter().map(|o| o.name).collect::<Vec<_>>();
    assert_eq!(
        names(orgs::with_jit_connector(&mut c, "acme").await.expect("q")),
        vec!["Acme"]
    );
    assert_eq!(
        names(
            orgs::with_jit_email_domain(&mut c, "acme.test")
                .await
                .expect("q")
        ),
        vec!["Acme", "Acme Labs"]
    );
    assert_eq!(
        names(
            orgs::with_jit_email_domain(&mut c, "eu.acme.test")
                .await
                .expect("q")
        ),
        vec!["Acme Labs"]
    );
    assert!(orgs::with_jit_email_domain(&mut c, "globex.test")
        .await
        .expect("q")
        .is_empty());

    // Re-applying replaces the JIT settings, keeps the id.
    let acme2 = orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "Acme".into(),
            ..Default::default()
        },
    )
    .await
    .expect("again");
    assert_eq!(acme2.id, acme.id);
    assert!(acme2.jit_connectors.is_empty() && acme2.default_roles.is_empty());
    assert!(orgs::with_jit_connector(&mut c, "acme")
        .await
        .expect("q")
        .is_empty());
    assert_eq!(
        orgs::get_by_name(&mut c, "Acme")
            .await
            .expect("q")
            .map(|o| o.id),
        Some(acme.id.clone())
    );

    // A JIT connector that does not exist is refused.
    let err = orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "X".into(),
            jit_connectors: vec!["nope".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn role_grants_keep_their_source(db: Db) {
    let s = fresh_store(db).await;
    saml_connector(&s, "acme", &[]).await;
    let mut c = s.store.write().await.expect("conn");
    let role = orgs::upsert_role(&mut c, "developer", "")
        .await
        .expect("role");
    let org = orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "Acme".into(),
            ..Default::default()
        },
    )
    .await
    .expect("org");
    let u = users::insert(&mut c, &profile("alice@acme.test"))
        .await
        .expect("user");
    let grant = |source, connector: Option<&str>, rule: Option<&str>| RoleGrant {
        organization_id: org.id.clone(),
        user_id: u.id.clone(),
        role_id: role.id.clone(),
        source,
        connector_id: connector.map(str::to_string),
        mapping_rule: rule.map(str::to_string),
    };
    // A grant needs a membership.
    assert!(
        orgs::grant_role(&mut c, &grant(GrantSource::Api, None, None))
            .await
            .is_err()
    );
    assert!(orgs::ensure_membership(&mut c, &org.id, &u.id)
        .await
        .expect("join"));
    assert!(!orgs::ensure_membership(&mut c, &org.id, &u.id)
        .await
        .expect("join again"));
    assert!(orgs::is_member(&mut c, &org.id, &u.id)
        .await
        .expect("member"));

    let api = grant(GrantSource::Api, None, None);
    let jit = grant(GrantSource::JitSso, Some("acme"), None);
    let mapped = grant(GrantSource::Mapping, Some("acme"), Some("eng->developer"));
    for g in [&api, &jit, &mapped] {
        assert!(orgs::grant_role(&mut c, g).await.expect("grant"));
        assert!(
            !orgs::grant_role(&mut c, g).await.expect("grant twice"),
            "a repeated grant adds nothing"
        );
    }
    let all: HashSet<RoleGrant> = orgs::grants_of(&mut c, &u.id)
        .await
        .expect("grants")
        .into_iter()
        .collect();
    assert_eq!(
        all,
        HashSet::from([api.clone(), jit.clone(), mapped.clone()])
    );

    // Revoking the mapping's grant leaves the API and JIT grants of the same role.
    assert!(orgs::revoke_grant(&mut c, &mapped).await.expect("revoke"));
    assert!(!orgs::revoke_grant(&mut c, &mapped)
        .await
        .expect("revoke again"));
    let other_rule = grant(GrantSource::Mapping, Some("acme"), Some("other"));
    assert!(!orgs::revoke_grant(&mut c, &other_rule)
        .await
        .expect("other rule"));
    let left: HashSet<RoleGrant> = orgs::grants_of(&mut c, &u.id)
        .await
        .expect("grants")
        .into_iter()
        .collect();
    assert_eq!(left, HashSet::from([api, jit]));

    // Leaving the organization removes its grants.
    assert!(orgs::remove_membership(&mut c, &org.id, &u.id)
        .await
        .expect("leave"));
    assert!(orgs::grants_of(&mut c, &u.id)
        .await
        .expect("grants")
        .is_empty());
    assert!(orgs::memberships_of(&mut c, &u.id)
        .await
        .expect("m")
        .is_empty());
}

async fn audit_events_filter_and_paginate_newest_first(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let t0 = now_ms();
    for i in 0..25 {
        audit::record(
            &mut c,
            &NewAuditEvent {
                kind: if i % 5 == 0 {
                    "signin.refused".into()
                } else {
                    "user.signed_in".into()
                },
                user_id: Some(if i % 2 == 0 {
                    "u-even".into()
                } else {
                    "u-odd".into()
                }),
                organization_id: (i % 3 == 0).then(|| "org-1".to_string()),
                reason: (i % 5 == 0).then(|| "saml_audience_mismatch".to_string()),
                data: json!({"i": i}),
                ..Default::default()
            },
        )
        .await
        .expect("record");
    }
    let page1 = audit::query(
        &mut c,
        &AuditFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("q");
    let is: Vec<i64> = page1
        .iter()
        .map(|e| e.data["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(is, (15..25).rev().collect::<Vec<_>>(), "newest first");
    let last = page1.last().expect("last");
    let page2 = audit::query(
        &mut c,
        &AuditFilter {
            limit: 10,
            before: Some((last.occurred_at, last.id.clone())),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    let is2: Vec<i64> = page2
        .iter()
        .map(|e| e.data["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(
        is2,
        (5..15).rev().collect::<Vec<_>>(),
        "the next page continues without gaps or repeats"
    );

    let refused = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(refused.len(), 5);
    assert!(refused
        .iter()
        .all(|e| e.reason.as_deref() == Some("saml_audience_mismatch")));
    let even_org = audit::query(
        &mut c,
        &AuditFilter {
            user_id: Some("u-even".into()),
            organization_id: Some("org-1".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    let is3: HashSet<i64> = even_org
        .iter()
        .map(|e| e.data["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(is3, HashSet::from([0, 6, 12, 18, 24]));
    let none = audit::query(
        &mut c,
        &AuditFilter {
            since: Some(now_ms() + 60_000),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert!(none.is_empty());
    let all = audit::query(
        &mut c,
        &AuditFilter {
            since: Some(t0),
            until: Some(now_ms() + 1),
            limit: 500,
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(all.len(), 25);
    assert_eq!(audit::count(&mut c).await.expect("count"), 25);
}

async fn sessions_store(db: Db) {
    let s = fresh_store(db).await;
    let store = DbSessionStore::new(s.store.clone());
    let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let mut rec = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: in_an_hour,
    };
    rec.data
        .insert(sessions::USER_ID_KEY.into(), json!("user-1"));
    rec.data.insert("connector".into(), json!("acme"));
    store.create(&mut rec).await.expect("create");
    let loaded = store.load(&rec.id).await.expect("load").expect("exists");
    assert_eq!(loaded.data, rec.data);

    rec.data.insert("connector".into(), json!("globex"));
    store.save(&rec).await.expect("save");
    assert_eq!(
        store
            .load(&rec.id)
            .await
            .expect("load")
            .expect("exists")
            .data["connector"],
        json!("globex")
    );

    let mut expired = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    expired
        .data
        .insert(sessions::USER_ID_KEY.into(), json!("user-1"));
    store.create(&mut expired).await.expect("create expired");
    assert!(
        store.load(&expired.id).await.expect("load").is_none(),
        "an expired session does not load"
    );

    let mut c = s.store.write().await.expect("conn");
    assert_eq!(
        sessions::count_for_user(&mut c, "user-1")
            .await
            .expect("count"),
        1
    );
    assert_eq!(sessions::delete_expired(&mut c).await.expect("purge"), 1);
    drop(c);

    let mut other = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: in_an_hour,
    };
    other
        .data
        .insert(sessions::USER_ID_KEY.into(), json!("user-2"));
    store.create(&mut other).await.expect("create other");
    let mut c = s.store.write().await.expect("conn");
    assert_eq!(
        sessions::delete_for_user(&mut c, "user-1")
            .await
            .expect("end sessions"),
        1
    );
    drop(c);
    assert!(store.load(&rec.id).await.expect("load").is_none());
    assert!(
        store.load(&other.id).await.expect("load").is_some(),
        "other users keep their sessions"
    );
    store.delete(&other.id).await.expect("delete");
    assert!(store.load(&other.id).await.expect("load").is_none());
}

/// One client cannot fill the global cap: its own cap stops it first, and everyone else
/// can still start sign-ins. Expired rows do not count.
async fn pending_logins_are_capped_per_client_before_the_global_cap(db: Db) {
    let s = fresh_store(db).await;
    let now = now_ms();
    let p = |id: String, client: &str, expires_at: i64| PendingLogin {
        id,
        connector_id: "acme".into(),
        browser_binding: "b".into(),
        client_key: client.into(),
        data: json!({}),
        created_at: now,
        expires_at,
    };
    let mut c = s.store.write().await.expect("conn");
    pending_logins::create(&mut c, &p("old".into(), "flood", now - 1), 100, 3)
        .await
        .expect("expired rows do not count");
    for i in 0..3 {
        pending_logins::create(&mut c, &p(format!("f{i}"), "flood", now + 60_000), 100, 3)
            .await
            .expect("within the client's cap");
    }
    assert!(matches!(
        pending_logins::create(&mut c, &p("f3".into(), "flood", now + 60_000), 100, 3).await,
        Err(StoreError::ClientCapacity)
    ));
    pending_logins::create(&mut c, &p("o1".into(), "other", now + 60_000), 100, 3)
        .await
        .expect("another client is not affected");
    // The global cap still holds across clients.
    assert!(matches!(
        pending_logins::create(&mut c, &p("o2".into(), "third", now + 60_000), 4, 3).await,
        Err(StoreError::Capacity)
    ));
}

async fn pending_logins_are_single_use_bound_expiring_and_capped(db: Db) {
    let s = fresh_store(db).await;
    let now = now_ms();
    let p = |id: &str, binding: &str, expires_at: i64| PendingLogin {
        id: id.into(),
        connector_id: "acme".into(),
        browser_binding: binding.into(),
        client_key: "203.0.113.9".into(),
        data: json!({"return_to": "/app", "request_id": format!("_{id}")}),
        created_at: now,
        expires_at,
    };
    let mut c = s.store.write().await.expect("conn");
    pending_logins::create(&mut c, &p("a", "browser-1", now + 60_000), 3, 10)
        .await
        .expect("a");
    pending_logins::create(&mut c, &p("b", "browser-1", now + 60_000), 3, 10)
        .await
        .expect("b");
    pending_logins::create(&mut c, &p("old", "browser-1", now - 1), 3, 10)
        .await
        .expect("old");
    // The cap counts unexpired rows only: "old" does not count.
    pending_logins::create(&mut c, &p("c", "browser-2", now + 60_000), 3, 10)
        .await
        .expect("c");
    assert!(matches!(
        pending_logins::create(&mut c, &p("d", "browser-2", now + 60_000), 3, 10).await,
        Err(StoreError::Capacity)
    ));
    // The clean-up task removes the expired one, and only it.
    assert_eq!(
        pending_logins::purge_expired(&mut c, now_ms())
            .await
            .expect("purge"),
        1
    );

    assert_eq!(
        pending_logins::take(&mut c, "a", "browser-2")
            .await
            .expect("take"),
        Taken::OtherBrowser
    );
    match pending_logins::take(&mut c, "a", "browser-1")
        .await
        .expect("take")
    {
        Taken::Ok(got) => assert_eq!(got.data["return_to"], "/app"),
        other => panic!("expected the pending login, got {other:?}"),
    }
    assert_eq!(
        pending_logins::take(&mut c, "a", "browser-1")
            .await
            .expect("take"),
        Taken::Unknown,
        "single use"
    );
    assert_eq!(
        pending_logins::take(&mut c, "never", "browser-1")
            .await
            .expect("take"),
        Taken::Unknown
    );
    drop(c);

    // Expired but not yet purged.
    let mut c = s.store.write().await.expect("conn");
    sqlx::query("UPDATE pending_logins SET expires_at = $1 WHERE id = 'b'")
        .bind(now - 1)
        .execute(&mut *c)
        .await
        .expect("age");
    assert_eq!(
        pending_logins::take(&mut c, "b", "browser-1")
            .await
            .expect("take"),
        Taken::Expired
    );
    drop(c);

    // Concurrent takes of one pending login: exactly one wins.
    let mut c = s.store.write().await.expect("conn");
    pending_logins::create(&mut c, &p("race", "browser-3", now + 60_000), 100, 100)
        .await
        .expect("race");
    drop(c);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = store.write().await.expect("conn");
            matches!(
                pending_logins::take(&mut c, "race", "browser-3")
                    .await
                    .expect("take"),
                Taken::Ok(_)
            )
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn saml_assertion_ids_are_accepted_once(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let later = now_ms() + 300_000;
    assert!(saml_replay::remember(&mut c, "https://idp", "_a1", later)
        .await
        .expect("first"));
    assert!(!saml_replay::remember(&mut c, "https://idp", "_a1", later)
        .await
        .expect("replay"));
    assert!(
        saml_replay::remember(&mut c, "https://other-idp", "_a1", later)
            .await
            .expect("other idp")
    );
    // After expiry the ID is forgotten (the assertion itself is then refused as expired).
    sqlx::query("UPDATE saml_assertion_ids SET expires_at = 1")
        .execute(&mut *c)
        .await
        .expect("age");
    assert!(saml_replay::remember(&mut c, "https://idp", "_a1", later)
        .await
        .expect("after expiry"));
    assert!(!saml_replay::remember(&mut c, "https://idp", "_a1", later)
        .await
        .expect("taken over, live again"));
    // The clean-up task deletes expired entries, and only those.
    sqlx::query(
        "UPDATE saml_assertion_ids SET expires_at = 1 WHERE idp_entity_id = 'https://other-idp'",
    )
    .execute(&mut *c)
    .await
    .expect("age");
    assert_eq!(
        saml_replay::purge_expired(&mut c, now_ms())
            .await
            .expect("purge"),
        1
    );
    assert!(!saml_replay::remember(&mut c, "https://idp", "_a1", later)
        .await
        .expect("still live"));
}

async fn api_keys_are_hashed_and_revocable(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let (key, plaintext) = api_keys::create(&mut c, "ci").await.expect("create");
    assert!(plaintext.starts_with(&format!("sgk_{}_", key.prefix)));
    let (stored,): (String,) = sqlx::query_as("SELECT key_hash FROM api_keys WHERE id = $1")
        .bind(&key.id)
        .fetch_one(&mut *c)
        .await
        .expect("row");
    assert_ne!(stored, plaintext);
    assert_eq!(stored, api_keys::hash_key(&plaintext));
    assert_eq!(
        api_keys::verify(&mut c, &plaintext)
            .await
            .expect("verify")
            .map(|k| k.id),
        Some(key.id.clone())
    );
    let mut wrong = plaintext.clone();
    wrong.pop();
    wrong.push('x');
    assert!(api_keys::verify(&mut c, &wrong)
        .await
        .expect("verify")
        .is_none());
    assert!(api_keys::verify(&mut c, "")
        .await
        .expect("verify")
        .is_none());
    api_keys::record_use(&mut c, &key.id).await.expect("use");
    assert!(api_keys::list(&mut c).await.expect("list")[0]
        .last_used_at
        .is_some());
    assert!(api_keys::revoke(&mut c, &key.id).await.expect("revoke"));
    assert!(api_keys::verify(&mut c, &plaintext)
        .await
        .expect("verify")
        .is_none());
}

async fn signing_keys_publication_window(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let now = now_ms();
    let key = |kid: &str, publish_at: i64| SigningKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_key: "v1:sealed".into(),
        public_jwk: json!({"kid": kid}).to_string(),
        created_at: now,
        publish_at,
        sign_from: publish_at + 1000,
        retire_at: None,
        remove_at: None,
    };
    signing_keys::insert(&mut c, &key("old", now - 10_000))
        .await
        .expect("old");
    signing_keys::insert(&mut c, &key("next", now + 10_000))
        .await
        .expect("next");
    assert!(
        signing_keys::insert(&mut c, &key("old", now))
            .await
            .is_err(),
        "kids are unique"
    );
    let kids = |v: Vec<SigningKey>| v.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(
        kids(signing_keys::published(&mut c, now).await.expect("q")),
        vec!["old"]
    );
    assert_eq!(
        kids(
            signing_keys::published(&mut c, now + 20_000)
                .await
                .expect("q")
        ),
        vec!["old", "next"]
    );
    signing_keys::schedule_retirement(&mut c, "old", now + 15_000, now + 30_000)
        .await
        .expect("retire");
    assert_eq!(
        kids(
            signing_keys::published(&mut c, now + 30_000)
                .await
                .expect("q")
        ),
        vec!["next"]
    );
    assert_eq!(
        signing_keys::delete_removed(&mut c, now + 30_000)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        kids(signing_keys::list(&mut c).await.expect("q")),
        vec!["next"]
    );
}

async fn a_rolled_back_transaction_leaves_nothing(db: Db) {
    let s = fresh_store(db).await;
    saml_connector(&s, "acme", &[]).await;
    {
        let mut tx = s.store.begin().await.expect("begin");
        let u = users::insert(&mut tx, &profile("alice@acme.test"))
            .await
            .expect("user");
        identities::link(&mut tx, &u.id, "acme", "s-1", &json!({}))
            .await
            .expect("identity");
        audit::record(
            &mut tx,
            &NewAuditEvent {
                kind: "user.created".into(),
                ..Default::default()
            },
        )
        .await
        .expect("audit");
        tx.rollback().await.expect("rollback");
    }
    {
        // Dropped without commit: rolled back too.
        let mut tx = s.store.begin().await.expect("begin");
        users::insert(&mut tx, &profile("bob@acme.test"))
            .await
            .expect("user");
    }
    let mut c = s.store.read().await.expect("conn");
    assert_eq!(users::count(&mut c).await.expect("count"), 0);
    assert_eq!(audit::count(&mut c).await.expect("count"), 0);
    assert!(identities::find(&mut c, "acme", "s-1")
        .await
        .expect("find")
        .is_none());
}

/// Many concurrent write transactions (each reading, then writing): none fails with
/// "database is locked" on SQLite, none is lost.
async fn concurrent_writers_never_fail(db: Db) {
    let s = fresh_store(db).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            let e = Email::parse(&format!("user{i}@acme.test")).expect("email");
            if users::find_by_email(&mut tx, &e).await?.is_none() {
                users::insert(
                    &mut tx,
                    &Profile {
                        email: Some(e),
                        ..Default::default()
                    },
                )
                .await?;
            }
            audit::record(
                &mut tx,
                &NewAuditEvent {
                    kind: "user.created".into(),
                    ..Default::default()
                },
            )
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }));
        // Readers at the same time.
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = store.read().await?;
            users::count(&mut c).await?;
            Ok(())
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("no write or read fails");
    }
    let mut c = s.store.read().await.expect("conn");
    assert_eq!(users::count(&mut c).await.expect("count"), 100);
    assert_eq!(audit::count(&mut c).await.expect("count"), 100);
}

/// The IdP metadata refresh's write ([`connectors::update_config_fields`]): what an
/// administrator changed while the job held its copy stands.
async fn a_background_write_changes_only_its_fields_and_never_recreates_a_connector(db: Db) {
    let s = fresh_store(db).await;
    let rec = ConnectorRecord {
        id: "acme".into(),
        kind: "saml".into(),
        display_name: "Acme SSO".into(),
        enabled: true,
        config: json!({
            "create_accounts": true,
            "saml": {
                "idp_metadata_url": "https://idp.acme.test/metadata",
                "idp_metadata_xml": "<v1/>",
                "idp_signing_certificates": ["cert-1"],
                "sp_certificate_pem": "sp-1",
            },
        }),
        secrets: Some("v1:sealed".into()),
        domains: vec!["acme.test".into()],
        created_at: 0,
        updated_at: 0,
    };
    {
        let mut c = s.store.write().await.expect("conn");
        connectors::upsert(&mut c, &rec).await.expect("upsert");
    }
    let get = |id: &'static str| {
        let store = s.store.clone();
        async move {
            let mut c = store.read().await.expect("conn");
            connectors::get(&mut c, id).await.expect("get")
        }
    };
    let seen = get("acme").await.expect("exists");
    let expect_of = |seen: &ConnectorRecord| -> Vec<(&'static str, Option<serde_json::Value>)> {
        [
            "/saml/idp_metadata_url",
            "/saml/idp_metadata_xml",
            "/saml/idp_signing_certificates",
        ]
        .into_iter()
        .map(|p| (p, seen.config.pointer(p).cloned()))
        .collect()
    };
    let write = |expect: Vec<(&'static str, Option<serde_json::Value>)>| {
        let store = s.store.clone();
        async move {
            let expect: Vec<(&str, Option<&serde_json::Value>)> =
                expect.iter().map(|(p, v)| (*p, v.as_ref())).collect();
            let set = [
                ("/saml/idp_metadata_xml", json!("<v2/>")),
                (
                    "/saml/idp_signing_certificates",
                    json!(["cert-1", "cert-2"]),
                ),
            ];
            let mut tx = store.begin().await.expect("tx");
            let done = connectors::update_config_fields(&mut tx, "acme", &expect, &set)
                .await
                .expect("update");
            tx.commit().await.expect("commit");
            done
        }
    };

    // Meanwhile an administrator disables the connector, changes its domains, adds a role
    // mapping and rotates its SP key (new certificate, new sealed secrets).
    let mut admin = seen.clone();
    admin.enabled = false;
    admin.domains = vec!["acme.test".into(), "acme.example".into()];
    admin.config["role_mappings"] =
        json!([{"id": "r1", "value": "eng", "organization": "Acme", "role": "member"}]);
    admin.config["saml"]["sp_certificate_pem"] = json!("sp-2");
    admin.secrets = Some("v1:sealed-after-rotation".into());
    {
        let mut c = s.store.write().await.expect("conn");
        connectors::upsert(&mut c, &admin)
            .await
            .expect("admin change");
    }
    assert!(
        write(expect_of(&seen)).await,
        "the fields it owns did not change: written"
    );
    let after = get("acme").await.expect("still there");
    assert!(!after.enabled, "stays disabled");
    assert_eq!(
        after.domains,
        vec!["acme.example".to_string(), "acme.test".to_string()]
    );
    assert_eq!(after.secrets.as_deref(), Some("v1:sealed-after-rotation"));
    assert_eq!(after.config["role_mappings"], admin.config["role_mappings"]);
    assert_eq!(after.config["saml"]["sp_certificate_pem"], json!("sp-2"));
    assert_eq!(after.config["saml"]["idp_metadata_xml"], json!("<v2/>"));
    assert_eq!(
        after.config["saml"]["idp_signing_certificates"],
        json!(["cert-1", "cert-2"])
    );

    // A field it owns (or depends on) changed since it read them: nothing is written.
    let stale = expect_of(&seen);
    let mut moved = after.clone();
    moved.config["saml"]["idp_metadata_url"] = json!("https://idp2.acme.test/metadata");
    {
        let mut c = s.store.write().await.expect("conn");
        connectors::upsert(&mut c, &moved)
            .await
            .expect("admin change");
    }
    let before_skip = get("acme").await.expect("exists");
    assert!(!write(stale).await, "changed since read: skipped");
    assert_eq!(
        get("acme").await,
        Some(before_skip.clone()),
        "nothing written"
    );
    // A pointer to set that does not exist: skipped too (nothing half-written).
    {
        let expect: Vec<(&str, Option<&serde_json::Value>)> = Vec::new();
        let mut tx = s.store.begin().await.expect("tx");
        assert!(!connectors::update_config_fields(
            &mut tx,
            "acme",
            &expect,
            &[
                ("/saml/idp_metadata_xml", json!("<v3/>")),
                ("/nowhere/x", json!(1))
            ],
        )
        .await
        .expect("update"));
        tx.rollback().await.expect("rollback");
    }
    assert_eq!(get("acme").await, Some(before_skip.clone()));

    // Deleted meanwhile: stays deleted.
    let fresh = expect_of(&before_skip);
    {
        let mut c = s.store.write().await.expect("conn");
        assert!(connectors::delete(&mut c, "acme").await.expect("delete"));
    }
    assert!(!write(fresh).await, "a deleted connector is not written");
    assert_eq!(get("acme").await, None, "and not re-created");
}

/// tower-sessions calls `save` for a session it loaded earlier in the request. A session
/// ended in between (logout, suspension, idle expiry) must not be written back.
async fn saving_an_ended_session_never_brings_it_back(db: Db) {
    let s = fresh_store(db).await;
    let store = DbSessionStore::new(s.store.clone());
    let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let new_record = |user: &str| {
        let mut r = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: in_an_hour,
        };
        r.data.insert(sessions::USER_ID_KEY.into(), json!(user));
        r
    };
    let count = |user: &'static str| {
        let store = s.store.clone();
        async move {
            let mut c = store.read().await.expect("conn");
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
                .bind(user)
                .fetch_one(&mut *c)
                .await
                .expect("count");
            n
        }
    };

    // Logout: a request loaded the session, logout deleted it, the request saves.
    let mut rec = new_record("user-1");
    store.create(&mut rec).await.expect("create");
    let mut loaded = store.load(&rec.id).await.expect("load").expect("live");
    store.delete(&rec.id).await.expect("logout");
    loaded.data.insert("seen_at".into(), json!(now_ms()));
    store.save(&loaded).await.expect("save is not an error");
    assert!(
        store.load(&rec.id).await.expect("load").is_none(),
        "logged out stays logged out"
    );
    assert_eq!(count("user-1").await, 0, "no row at all, live or not");

    // Suspension ends every session of the user; an in-flight save does not revive one.
    let mut a = new_record("user-2");
    let mut b = new_record("user-2");
    store.create(&mut a).await.expect("create");
    store.create(&mut b).await.expect("create");
    let loaded_a = store.load(&a.id).await.expect("load").expect("live");
    {
        let mut c = s.store.write().await.expect("conn");
        assert_eq!(
            sessions::delete_for_user(&mut c, "user-2")
                .await
                .expect("suspend"),
            2
        );
    }
    store.save(&loaded_a).await.expect("save");
    assert_eq!(
        count("user-2").await,
        0,
        "suspension ended them all, for good"
    );

    // An expired session is not moved forward by a late save.
    let mut idle = new_record("user-3");
    idle.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store.create(&mut idle).await.expect("create");
    idle.expiry_date = in_an_hour;
    store.save(&idle).await.expect("save");
    assert!(
        store.load(&idle.id).await.expect("load").is_none(),
        "not revived"
    );

    // `save` never inserts a session it was not given by `create`.
    let never = new_record("user-4");
    store.save(&never).await.expect("save");
    assert_eq!(count("user-4").await, 0);

    // A live session still saves.
    let mut live = new_record("user-5");
    store.create(&mut live).await.expect("create");
    live.data.insert("connector".into(), json!("acme"));
    store.save(&live).await.expect("save");
    assert_eq!(
        store
            .load(&live.id)
            .await
            .expect("load")
            .expect("live")
            .data["connector"],
        json!("acme")
    );
}
