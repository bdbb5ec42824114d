//! For scripts/bench-forward-auth.sh only: creates a user in organization "Bench" and a
//! signed-in session for them in the given database (as a completed sign-in would) and
//! prints the session id. It writes the database directly; no route of ssogate does this.
//!
//!     cargo run --release --example bench_session -- sqlite:///tmp/x/ssogate.db

use std::time::Duration;

use anyhow::Context;
use ssogate::address::Email;
use ssogate::store::organizations::{self as orgs, GrantSource, OrganizationSpec, RoleGrant};
use ssogate::store::sessions::DbSessionStore;
use ssogate::store::users::{self, Profile};
use ssogate::store::{now_ms, Store};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .context("usage: bench_session DATABASE_URL")?;
    let store = Store::connect(&url, 2, Duration::from_secs(5)).await?;
    store.migrate().await?;
    let mut tx = store.begin().await?;
    let user = users::insert(
        &mut tx,
        &Profile {
            email: Some(Email::parse(&format!("bench-{}@bench.test", now_ms()))?),
            email_verified: true,
            name: Some("Bench User".into()),
            ..Default::default()
        },
    )
    .await?;
    let org = orgs::upsert(
        &mut tx,
        &OrganizationSpec {
            name: "Bench".into(),
            ..Default::default()
        },
    )
    .await?;
    let role = orgs::upsert_role(&mut tx, "member", "").await?;
    orgs::ensure_membership(&mut tx, &org.id, &user.id).await?;
    orgs::grant_role(
        &mut tx,
        &RoleGrant {
            organization_id: org.id,
            user_id: user.id.clone(),
            role_id: role.id,
            source: GrantSource::Api,
            connector_id: None,
            mapping_rule: None,
        },
    )
    .await?;
    tx.commit().await?;
    let day = 86_400;
    let mut record = Record {
        id: Id::default(),
        data: ssogate::session::record_data(&user.id, "bench", now_ms(), now_ms() + day * 1000),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::seconds(day),
    };
    DbSessionStore::new(store.clone())
        .create(&mut record)
        .await?;
    println!("{}", record.id);
    Ok(())
}
