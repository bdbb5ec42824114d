//! Store conformance for the downstream tables (both databases): apps and their child
//! rows, what a user may enter with, and session activity.

use ssogate::store::apps::{self, AppSpec};
use ssogate::store::organizations::{self as orgs, GrantSource, OrganizationSpec, RoleGrant};
use ssogate::store::sessions::{self, DbSessionStore};
use ssogate::store::users::{self, Profile};
use ssogate::store::{now_ms, StoreError};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::support::{fresh_store, Db};

both!(
    apps_round_trip_and_hosts_are_unique,
    deleting_a_listed_organization_closes_the_app,
    user_access_lists_each_role_once,
    session_activity_moves_expiry_forward_only,
);

fn spec(name: &str, host: &str) -> AppSpec {
    AppSpec {
        name: name.into(),
        audience: format!("urn:{name}"),
        origins: vec![format!("https://{host}")],
        hosts: vec![host.into()],
        headers: vec!["user".into()],
        unauthenticated: "status".into(),
        ..Default::default()
    }
}

async fn apps_round_trip_and_hosts_are_unique(db: Db) {
    let s = fresh_store(db).await;
    let mut tx = s.store.begin().await.expect("tx");
    let (a, created) = apps::upsert(&mut tx, &spec("wiki", "wiki.test"))
        .await
        .expect("insert");
    assert!(created);
    assert_eq!(a.hosts, vec!["wiki.test".to_string()]);
    let mut changed = spec("wiki", "wiki2.test");
    changed.unauthenticated = "redirect".into();
    let (b, created) = apps::upsert(&mut tx, &changed).await.expect("update");
    assert!(!created);
    assert_eq!(b.id, a.id);
    assert_eq!(b.origins, vec!["https://wiki2.test".to_string()]);
    assert_eq!(b.unauthenticated, "redirect");
    tx.commit().await.expect("commit");

    // Each refused write in its own transaction (as the API and apply run it), which
    // then rolls back: nothing of the refused app stays.
    let refused = |sp: AppSpec| {
        let store = s.store.clone();
        async move {
            let mut tx = store.begin().await.expect("tx");
            let err = apps::upsert(&mut tx, &sp).await.expect_err("refused");
            tx.rollback().await.expect("rollback");
            err
        }
    };
    let err = refused(spec("other", "wiki2.test")).await;
    assert!(matches!(err, StoreError::Conflict(_)), "host taken: {err}");
    let mut same_audience = spec("third", "third.test");
    same_audience.audience = "urn:wiki".into();
    assert!(matches!(
        refused(same_audience).await,
        StoreError::Conflict(_)
    ));
    let mut bad_org = spec("fourth", "fourth.test");
    bad_org.organization_ids = vec!["no-such-org".into()];
    assert!(matches!(refused(bad_org).await, StoreError::NotFound(_)));
    let mut c = s.store.write().await.expect("conn");
    assert_eq!(apps::list(&mut c).await.expect("list").len(), 1);
    assert!(apps::delete_by_name(&mut c, "wiki").await.expect("delete"));
    assert!(apps::get_by_name(&mut c, "wiki")
        .await
        .expect("get")
        .is_none());
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM app_hosts")
        .fetch_one(&mut *c)
        .await
        .expect("q");
    assert_eq!(n, 0, "child rows go with the app");
}

async fn deleting_a_listed_organization_closes_the_app(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let org = orgs::upsert(
        &mut c,
        &OrganizationSpec {
            name: "Acme".into(),
            ..Default::default()
        },
    )
    .await
    .expect("org");
    let mut sp = spec("wiki", "wiki.test");
    sp.org_restricted = true;
    sp.organization_ids = vec![org.id.clone()];
    apps::upsert(&mut c, &sp).await.expect("app");
    orgs::delete(&mut c, &org.id).await.expect("delete org");
    let app = apps::get_by_name(&mut c, "wiki")
        .await
        .expect("get")
        .expect("still there");
    assert!(app.organization_ids.is_empty());
    assert!(
        app.org_restricted,
        "restricted to nobody, not opened to everybody"
    );
}

async fn user_access_lists_each_role_once(db: Db) {
    let s = fresh_store(db).await;
    let mut c = s.store.write().await.expect("conn");
    let u = users::insert(&mut c, &Profile::default())
        .await
        .expect("user");
    let admin = orgs::upsert_role(&mut c, "admin", "").await.expect("role");
    let member = orgs::upsert_role(&mut c, "member", "").await.expect("role");
    for name in ["Beta", "Alpha", "Empty"] {
        let o = orgs::upsert(
            &mut c,
            &OrganizationSpec {
                name: name.into(),
                ..Default::default()
            },
        )
        .await
        .expect("org");
        orgs::ensure_membership(&mut c, &o.id, &u.id)
            .await
            .expect("member");
        if name == "Empty" {
            continue;
        }
        for (role, source) in [
            (&admin, GrantSource::Api),
            (&admin, GrantSource::JitSso),
            (&member, GrantSource::Api),
        ] {
            orgs::grant_role(
                &mut c,
                &RoleGrant {
                    organization_id: o.id.clone(),
                    user_id: u.id.clone(),
                    role_id: role.id.clone(),
                    source,
                    connector_id: None,
                    mapping_rule: None,
                },
            )
            .await
            .expect("grant");
        }
    }
    let access = apps::user_access(&mut c, &u.id).await.expect("access");
    let names: Vec<_> = access
        .iter()
        .map(|m| m.organization_name.as_str())
        .collect();
    assert_eq!(names, ["Alpha", "Beta", "Empty"]);
    let roles: Vec<_> = access[0].roles.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        roles,
        ["admin", "member"],
        "a role granted twice is listed once"
    );
    assert!(access[2].roles.is_empty());
}

async fn session_activity_moves_expiry_forward_only(db: Db) {
    let s = fresh_store(db).await;
    let now = now_ms();
    let mut r = Record {
        id: Id::default(),
        data: ssogate::session::record_data("u1", "test", now, now + 3_600_000),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(24),
    };
    // Saved with an idle timeout of a minute: the column says one minute, not 24 h.
    DbSessionStore::new(s.store.clone())
        .with_idle_timeout_ms(60_000)
        .create(&mut r)
        .await
        .expect("create");
    let id = r.id.to_string();
    let mut c = s.store.write().await.expect("conn");
    let live = sessions::get_live(&mut c, &id, now)
        .await
        .expect("get")
        .expect("live");
    assert!(live.expiry_date <= now_ms() + 60_000 && live.expiry_date > now);
    assert!(sessions::touch(&mut c, &id, now + 120_000, now)
        .await
        .expect("touch"));
    assert!(
        !sessions::touch(&mut c, &id, now + 90_000, now)
            .await
            .expect("touch"),
        "never back"
    );
    let live = sessions::get_live(&mut c, &id, now)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(live.expiry_date, now + 120_000);
    // Past its expiry a session is gone and cannot be revived.
    let later = now + 130_000;
    assert!(sessions::get_live(&mut c, &id, later)
        .await
        .expect("get")
        .is_none());
    assert!(!sessions::touch(&mut c, &id, later + 60_000, later)
        .await
        .expect("touch"));
}
