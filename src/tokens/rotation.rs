//! The key rotation schedule. Every decision is a pure function of the key windows, the
//! policy and the time ([`plan`]), so it is tested with an injected clock; [`ensure`]
//! applies it to the database in one transaction.
//!
//! The rules:
//! - A key is published (`publish_at`) at least [`Policy::publish_lead_ms`] (the JWKS
//!   cache lifetime plus the reload interval) before it signs (`sign_from`), so a relying
//!   party whose cached key set predates the key has refreshed it by the time it sees a
//!   token signed with it. Only the very first key signs at once: no one can have a
//!   cached key set yet.
//! - When the next key starts signing, the previous one stops (`retire_at`) and stays
//!   published until every token it signed has expired (`remove_at`, see
//!   [`Policy::keep_after_retire_ms`]).
//! - Automatically every `rotation_period`, or on `ssogate keys rotate`.
//! - Two instances rotating at the same moment (PostgreSQL, concurrent transactions) may
//!   both add a key. Both are published long enough before they sign; the one that signs
//!   later wins, and the other is retired like any superseded key (`superseded`), so it
//!   leaves the JWKS once its tokens expired instead of lingering.

use super::keys;
use super::{Policy, TokenError};
use crate::secrets::MasterKey;
use crate::store::signing_keys::{self, SigningKey};
use crate::store::Store;

/// The windows of one key (all unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWindow {
    pub kid: String,
    pub publish_at: i64,
    pub sign_from: i64,
    pub retire_at: Option<i64>,
    pub remove_at: Option<i64>,
}

impl KeyWindow {
    fn signs_at(&self, now: i64) -> bool {
        self.sign_from <= now && self.retire_at.is_none_or(|r| r > now)
    }
}

impl From<&SigningKey> for KeyWindow {
    fn from(k: &SigningKey) -> Self {
        KeyWindow {
            kid: k.kid.clone(),
            publish_at: k.publish_at,
            sign_from: k.sign_from,
            retire_at: k.retire_at,
            remove_at: k.remove_at,
        }
    }
}

/// What the schedule asks for at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Create a key with these windows: (publish_at, sign_from).
    pub create: Option<(i64, i64)>,
    /// Stop a key from signing at `retire_at` and unpublish it at `remove_at`.
    pub retire: Option<(String, i64, i64)>,
    /// A key already waiting to sign (an explicit rotation then does nothing).
    pub pending: Option<(String, i64)>,
    /// Keys that signed before the current one and were never retired: retired as of
    /// the current key's start (kid, retire_at, remove_at).
    pub superseded: Vec<(String, i64, i64)>,
}

/// Decides what to do at `now`. `force` is an explicit rotation.
pub fn plan(keys: &[KeyWindow], now: i64, policy: &Policy, force: bool) -> Plan {
    let current = keys
        .iter()
        .filter(|k| k.signs_at(now))
        .max_by_key(|k| (k.sign_from, k.publish_at));
    let pending = keys
        .iter()
        .filter(|k| k.sign_from > now && k.retire_at.is_none_or(|r| r > k.sign_from))
        .max_by_key(|k| k.sign_from);
    let mut out = Plan {
        pending: pending.map(|p| (p.kid.clone(), p.sign_from)),
        ..Plan::default()
    };
    let Some(current) = current else {
        // Nothing can sign now (the first start, or every key was retired by hand):
        // a key that signs at once is the only way to keep issuing tokens.
        out.create = Some((now, now));
        return out;
    };
    out.superseded = keys
        .iter()
        .filter(|k| k.kid != current.kid && k.retire_at.is_none() && k.sign_from <= now)
        .map(|k| {
            let at = current.sign_from.max(k.sign_from);
            (k.kid.clone(), at, at + policy.keep_after_retire_ms())
        })
        .collect();
    if let Some(p) = pending {
        if current.retire_at.is_none() {
            out.retire = Some((
                current.kid.clone(),
                p.sign_from,
                p.sign_from + policy.keep_after_retire_ms(),
            ));
        }
        return out;
    }
    let lead = policy.publish_lead_ms();
    let due = force
        || (policy.rotation_period_ms > 0
            && now >= current.sign_from + policy.rotation_period_ms - lead);
    if due {
        let sign_from = if force {
            now + lead
        } else {
            (now + lead).max(current.sign_from + policy.rotation_period_ms)
        };
        out.create = Some((now, sign_from));
        // A key retired by hand earlier than that keeps its own, earlier, dates.
        if current.retire_at.is_none_or(|r| r > sign_from) {
            out.retire = Some((
                current.kid.clone(),
                sign_from,
                sign_from + policy.keep_after_retire_ms(),
            ));
        }
    }
    out
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The key created: kid, publish_at, sign_from.
    pub created: Option<(String, i64, i64)>,
    /// The key retired: kid, retire_at, remove_at.
    pub retired: Option<(String, i64, i64)>,
    /// A key that was already waiting to sign when nothing was created.
    pub pending: Option<(String, i64)>,
    /// Superseded keys retired (kid, retire_at, remove_at).
    pub superseded: Vec<(String, i64, i64)>,
}

/// Applies the schedule at `now` in one transaction (`force`: rotate now).
pub async fn ensure(
    store: &Store,
    master_key: &MasterKey,
    policy: &Policy,
    now: i64,
    force: bool,
) -> Result<Applied, TokenError> {
    let mut tx = store.begin().await?;
    let rows = signing_keys::list(&mut tx).await?;
    let windows: Vec<KeyWindow> = rows.iter().map(KeyWindow::from).collect();
    let p = plan(&windows, now, policy, force);
    let mut applied = Applied::default();
    if let Some((publish_at, sign_from)) = p.create {
        let key = keys::generate(policy.algorithm, master_key, now, publish_at, sign_from)?;
        signing_keys::insert(&mut tx, &key).await?;
        applied.created = Some((key.kid, publish_at, sign_from));
    } else {
        applied.pending = p.pending;
    }
    if let Some((kid, retire_at, remove_at)) = p.retire {
        signing_keys::schedule_retirement(&mut tx, &kid, retire_at, remove_at).await?;
        applied.retired = Some((kid, retire_at, remove_at));
    }
    for (kid, retire_at, remove_at) in &p.superseded {
        signing_keys::schedule_retirement(&mut tx, kid, *retire_at, *remove_at).await?;
    }
    applied.superseded = p.superseded;
    if applied.created.is_some() || applied.retired.is_some() || !applied.superseded.is_empty() {
        tx.commit().await.map_err(crate::store::StoreError::from)?;
    } else {
        tx.rollback()
            .await
            .map_err(crate::store::StoreError::from)?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn policy() -> Policy {
        Policy {
            algorithm: Algorithm::EdDSA,
            token_lifetime_ms: 5 * MIN,
            jwks_max_age_ms: HOUR,
            rotation_period_ms: 30 * DAY,
        }
    }

    /// Applies plans to an in-memory key list, as `ensure` does to the table.
    struct Sim {
        keys: Vec<KeyWindow>,
        n: usize,
    }

    impl Sim {
        fn tick(&mut self, now: i64, force: bool) -> Plan {
            let p = plan(&self.keys, now, &policy(), force);
            if let Some((publish_at, sign_from)) = p.create {
                self.n += 1;
                self.keys.push(KeyWindow {
                    kid: format!("k{}", self.n),
                    publish_at,
                    sign_from,
                    retire_at: None,
                    remove_at: None,
                });
            }
            for (kid, retire_at, remove_at) in p.retire.iter().chain(&p.superseded) {
                if let Some(k) = self.keys.iter_mut().find(|k| &k.kid == kid) {
                    k.retire_at = Some(*retire_at);
                    k.remove_at = Some(*remove_at);
                }
            }
            p
        }

        fn signer(&self, now: i64) -> Option<&KeyWindow> {
            self.keys
                .iter()
                .filter(|k| k.signs_at(now))
                .max_by_key(|k| (k.sign_from, k.publish_at))
        }

        fn published(&self, kid: &str, now: i64) -> bool {
            self.keys
                .iter()
                .any(|k| k.kid == kid && k.publish_at <= now && k.remove_at.is_none_or(|r| r > now))
        }
    }

    #[test]
    fn the_first_key_signs_at_once() {
        let mut sim = Sim { keys: vec![], n: 0 };
        let p = sim.tick(1_000, false);
        assert_eq!(p.create, Some((1_000, 1_000)));
        assert_eq!(sim.signer(1_000).map(|k| k.kid.as_str()), Some("k1"));
        // Nothing more to do until the rotation is due.
        assert_eq!(sim.tick(2_000, false), Plan::default());
    }

    #[test]
    fn a_rotation_publishes_before_signing_and_keeps_the_old_key_until_its_tokens_expired() {
        let p = policy();
        let t0 = 1_700_000_000_000;
        let mut sim = Sim { keys: vec![], n: 0 };
        sim.tick(t0, false);
        let rotate_at = t0 + 3 * DAY;
        let plan1 = sim.tick(rotate_at, true);
        let (publish_at, sign_from) = plan1.create.expect("a new key");
        assert_eq!(publish_at, rotate_at);
        assert!(sign_from - publish_at >= p.jwks_max_age_ms);
        assert_eq!(
            plan1.retire,
            Some(("k1".into(), sign_from, sign_from + p.keep_after_retire_ms()))
        );
        // Until sign_from the old key signs; the new one is already published.
        assert_eq!(
            sim.signer(sign_from - 1).map(|k| k.kid.as_str()),
            Some("k1")
        );
        assert!(sim.published("k2", rotate_at));
        assert_eq!(sim.signer(sign_from).map(|k| k.kid.as_str()), Some("k2"));
        // A token signed by k1 at the last moment is still verifiable until it expires.
        let last_k1_token_expires = sign_from - 1 + p.token_lifetime_ms;
        assert!(sim.published("k1", last_k1_token_expires));
        assert!(!sim.published("k1", sign_from + p.keep_after_retire_ms()));
        // A second explicit rotation while k2 waits does nothing.
        let again = sim.tick(rotate_at + MIN, true);
        assert_eq!(again.create, None);
        assert_eq!(again.pending, Some(("k2".into(), sign_from)));
    }

    /// A year on a fake clock, ticking every 7 minutes with a forced rotation now and
    /// then: at every tick exactly the invariants of the module doc hold.
    #[test]
    fn a_year_of_scheduled_and_forced_rotations_keeps_the_invariants() {
        let p = policy();
        let t0 = 1_700_000_000_000;
        let mut sim = Sim { keys: vec![], n: 0 };
        // kid -> (first, last) time it was seen signing
        let mut signed: std::collections::HashMap<String, (i64, i64)> = Default::default();
        let step = 7 * MIN;
        let mut now = t0;
        while now < t0 + 365 * DAY {
            let force = (now - t0) % (41 * DAY) < step && now > t0;
            sim.tick(now, force);
            let signer = sim.signer(now).expect("always a signing key").clone();
            let e = signed.entry(signer.kid.clone()).or_insert((now, now));
            e.1 = now;
            if signer.kid != "k1" {
                assert!(
                    now - signer.publish_at >= p.jwks_max_age_ms,
                    "{} signs {} ms after publication",
                    signer.kid,
                    now - signer.publish_at
                );
            }
            for (kid, (_, last)) in &signed {
                if now < last + p.token_lifetime_ms {
                    assert!(
                        sim.published(kid, now),
                        "{kid}'s tokens are live but it is unpublished"
                    );
                }
            }
            now += step;
        }
        assert!(
            sim.n >= 12,
            "scheduled + forced rotations happened: {}",
            sim.n
        );
        // Old keys do leave the JWKS.
        let published_now = sim
            .keys
            .iter()
            .filter(|k| sim.published(&k.kid, now))
            .count();
        assert!(published_now <= 2, "{published_now}");
    }

    /// Two instances rotated at once: both keys were added, and k1 was retired twice
    /// (the last write wins). The loser is retired too once the winner signs.
    #[test]
    fn a_key_added_by_a_concurrent_rotation_does_not_linger() {
        let p = policy();
        let t = 1_700_000_000_000;
        let lead = p.publish_lead_ms();
        let mut sim = Sim {
            keys: vec![
                KeyWindow {
                    kid: "k1".into(),
                    publish_at: t - 10 * DAY,
                    sign_from: t - 10 * DAY,
                    retire_at: Some(t + lead + 1000),
                    remove_at: Some(t + lead + 1000 + p.keep_after_retire_ms()),
                },
                KeyWindow {
                    kid: "a".into(),
                    publish_at: t,
                    sign_from: t + lead,
                    retire_at: None,
                    remove_at: None,
                },
                KeyWindow {
                    kid: "b".into(),
                    publish_at: t,
                    sign_from: t + lead + 1000,
                    retire_at: None,
                    remove_at: None,
                },
            ],
            n: 0,
        };
        let now = t + lead + 2000;
        let plan = sim.tick(now, false);
        assert_eq!(sim.signer(now).map(|k| k.kid.as_str()), Some("b"));
        assert_eq!(plan.superseded.len(), 1);
        assert_eq!(plan.superseded[0].0, "a");
        let gone = t + lead + 1000 + p.keep_after_retire_ms();
        assert!(sim.published("a", gone - 1), "its tokens are still live");
        assert!(!sim.published("a", gone));
    }

    #[test]
    fn no_automatic_rotation_when_the_period_is_zero() {
        let mut p = policy();
        p.rotation_period_ms = 0;
        let keys = vec![KeyWindow {
            kid: "k1".into(),
            publish_at: 0,
            sign_from: 0,
            retire_at: None,
            remove_at: None,
        }];
        assert_eq!(plan(&keys, 10 * 365 * DAY, &p, false), Plan::default());
        assert!(plan(&keys, 10 * 365 * DAY, &p, true).create.is_some());
    }
}
