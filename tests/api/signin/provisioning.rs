//! The provisioning layer on both databases: one transaction per sign-in, race-safe,
//! nothing half-written.

use std::collections::HashSet;

use serde_json::json;
use ssogate::connectors::Connector;
use ssogate::connectors::ExternalProfile;
use ssogate::provisioning::{
    connector_facts, provision_sign_in, write_decision, AuditContext, ProvisionError,
};
use ssogate::signin::{Decision, Join, JoinRule, Outcome, ProfileFields, RefuseReason};
use ssogate::store::audit::{self, AuditFilter};
use ssogate::store::connectors::{self, ConnectorRecord};
use ssogate::store::organizations::{self as orgs, GrantSource, OrganizationSpec};
use ssogate::store::{identities, users, Store};

use crate::support::{fresh_store, Db};

both!(
    concurrent_first_sign_ins_make_one_user,
    a_failure_mid_transaction_leaves_nothing,
    a_refusal_writes_nothing,
    jit_join_of_an_existing_member_adds_only_missing_grants,
    every_sign_in_sync_changes_and_audits,
);

async fn setup(store: &Store, create_accounts: bool, sync: &str) -> Connector {
    let rec = ConnectorRecord {
        id: "acme".into(),
        kind: "oidc".into(),
        display_name: "Acme".into(),
        enabled: true,
        config: json!({ "create_accounts": create_accounts, "profile_sync": sync }),
        secrets: None,
        domains: vec!["acme.test".into()],
        created_at: 0,
        updated_at: 0,
    };
    let mut c = store.write().await.expect("conn");
    connectors::upsert(&mut c, &rec).await.expect("connector");
    let member = orgs::upsert_role(&mut c, "member", "").await.expect("role");
    let dev = orgs::upsert_role(&mut c, "developer", "")
        .await
        .expect("role");
    orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "Acme".into(),
            jit_connectors: vec!["acme".into()],
            default_roles: vec![member.id, dev.id],
            ..Default::default()
        },
    )
    .await
    .expect("org");
    Connector::from_record(rec).expect("connector")
}

fn alice() -> ExternalProfile {
    ExternalProfile {
        connector: "acme".into(),
        subject: "sub-alice".into(),
        email: Some("alice@acme.test".into()),
        email_verified: true,
        given_name: Some("Alice".into()),
        family_name: Some("Anders".into()),
        groups: vec!["engineering".into()],
        ..Default::default()
    }
}

async fn counts(store: &Store) -> (i64, usize, usize, i64) {
    let mut c = store.read().await.expect("conn");
    let n_users = users::count(&mut c).await.expect("users");
    let (n_identities,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM identities")
        .fetch_one(&mut *c)
        .await
        .expect("q");
    let (n_grants,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organization_role_grants")
        .fetch_one(&mut *c)
        .await
        .expect("q");
    let n_audit = audit::count(&mut c).await.expect("audit");
    (n_users, n_identities as usize, n_grants as usize, n_audit)
}

async fn concurrent_first_sign_ins_make_one_user(db: Db) {
    let s = fresh_store(db).await;
    let rec = setup(&s.store, true, "first_sign_in").await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let store = s.store.clone();
        let rec = rec.clone();
        tasks.push(tokio::spawn(async move {
            provision_sign_in(&store, &rec, &alice(), &AuditContext::default()).await
        }));
    }
    let mut user_ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let p = t
            .await
            .expect("join")
            .expect("every concurrent sign-in succeeds");
        if p.decision.outcome == Outcome::Create {
            created += 1;
        }
        user_ids.insert(p.user_id);
    }
    assert_eq!(created, 1, "exactly one sign-in created the account");
    assert_eq!(user_ids.len(), 1, "all 200 signed in as the same user");
    let (n_users, n_identities, n_grants, _) = counts(&s.store).await;
    assert_eq!(
        (n_users, n_identities, n_grants),
        (1, 1, 2),
        "one user, one identity, one grant set"
    );
    let mut c = s.store.read().await.expect("conn");
    let created_events = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("user.created".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(created_events.len(), 1);
    let succeeded = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("signin.succeeded".into()),
            limit: 500,
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(succeeded.len(), 200);
}

async fn a_failure_mid_transaction_leaves_nothing(db: Db) {
    let s = fresh_store(db).await;
    let rec = setup(&s.store, true, "first_sign_in").await;
    let cfacts = connector_facts(&rec);
    let before = counts(&s.store).await;
    // A decision whose last step fails (the organization does not exist): the user,
    // identity and audit rows written before it must all disappear.
    let decision = Decision {
        outcome: Outcome::Create,
        new_user_email: Some("alice@acme.test".into()),
        new_user_profile: ProfileFields {
            given_name: Some("Alice".into()),
            ..Default::default()
        },
        profile_changes: vec![],
        email_change: None,
        conflicts: vec![],
        joins: vec![Join {
            organization_id: "no-such-org".into(),
            organization_name: "Ghost".into(),
            rule: JoinRule::SsoJit {
                connector: "acme".into(),
            },
            new_membership: true,
            grant_roles: vec!["no-such-role".into()],
            source: GrantSource::JitSso,
            connector_id: "acme".into(),
        }],
        mapping_grants: vec![],
        mapping_revokes: vec![],
        trace: vec![],
    };
    let mut tx = s.store.begin().await.expect("begin");
    let err = write_decision(
        &mut tx,
        &cfacts,
        &alice(),
        &decision,
        &AuditContext::default(),
    )
    .await;
    assert!(err.is_err(), "the injected failure fails the apply");
    drop(tx); // not committed: rolled back
    assert_eq!(counts(&s.store).await, before, "nothing half-written");
    // And the real sign-in still works afterwards.
    provision_sign_in(&s.store, &rec, &alice(), &AuditContext::default())
        .await
        .expect("sign-in");
    assert_eq!(counts(&s.store).await.0, 1);
}

async fn a_refusal_writes_nothing(db: Db) {
    let s = fresh_store(db).await;
    let rec = setup(&s.store, false, "first_sign_in").await;
    let before = counts(&s.store).await;
    match provision_sign_in(&s.store, &rec, &alice(), &AuditContext::default()).await {
        Err(ProvisionError::Refused(reason, _)) => {
            assert_eq!(reason, RefuseReason::AccountNotProvisioned)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(counts(&s.store).await, before);
}

async fn jit_join_of_an_existing_member_adds_only_missing_grants(db: Db) {
    let s = fresh_store(db).await;
    let rec = setup(&s.store, true, "first_sign_in").await;
    let mut c = s.store.write().await.expect("conn");
    let user = users::insert(
        &mut c,
        &users::Profile {
            email: Some(ssogate::address::Email::parse("alice@acme.test").expect("e")),
            email_verified: true,
            ..Default::default()
        },
    )
    .await
    .expect("user");
    let org = orgs::get_by_name(&mut c, "Acme")
        .await
        .expect("q")
        .expect("org");
    let member = orgs::role_by_name(&mut c, "member")
        .await
        .expect("q")
        .expect("role");
    orgs::ensure_membership(&mut c, &org.id, &user.id)
        .await
        .expect("member");
    orgs::grant_role(
        &mut c,
        &orgs::RoleGrant {
            organization_id: org.id.clone(),
            user_id: user.id.clone(),
            role_id: member.id.clone(),
            source: GrantSource::JitSso,
            connector_id: Some("acme".into()),
            mapping_rule: None,
        },
    )
    .await
    .expect("grant");
    drop(c);
    let p = provision_sign_in(&s.store, &rec, &alice(), &AuditContext::default())
        .await
        .expect("link");
    assert_eq!(
        p.decision.outcome,
        Outcome::Link {
            user_id: user.id.clone()
        }
    );
    assert_eq!(p.decision.joins.len(), 1);
    assert!(!p.decision.joins[0].new_membership);
    assert_eq!(
        p.decision.joins[0].grant_roles.len(),
        1,
        "only the missing role"
    );
    let mut c = s.store.read().await.expect("conn");
    assert_eq!(
        orgs::grants_of(&mut c, &user.id)
            .await
            .expect("grants")
            .len(),
        2
    );
    let joined = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("organization.joined".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert!(joined.is_empty(), "already a member: no join event");
    let granted = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("role.granted".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].data["source"], "jit-sso");
    assert!(identities::find(&mut c, "acme", "sub-alice")
        .await
        .expect("q")
        .is_some());
}

async fn every_sign_in_sync_changes_and_audits(db: Db) {
    let s = fresh_store(db).await;
    let rec = setup(&s.store, true, "every_sign_in").await;
    let first = provision_sign_in(&s.store, &rec, &alice(), &AuditContext::default())
        .await
        .expect("create");
    let mut renamed = alice();
    renamed.family_name = Some("Andersson".into());
    let p = provision_sign_in(&s.store, &rec, &renamed, &AuditContext::default())
        .await
        .expect("sign in");
    assert_eq!(p.user_id, first.user_id);
    let mut c = s.store.read().await.expect("conn");
    let u = users::get(&mut c, &p.user_id)
        .await
        .expect("q")
        .expect("user");
    assert_eq!(u.family_name.as_deref(), Some("Andersson"));
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
    assert_eq!(
        synced[0].data["changes"][0],
        json!({"field": "family_name", "old": "Anders", "new": "Andersson"})
    );
}
