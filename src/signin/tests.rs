//! Every row of docs/RULES.md's rule tables, and every rule of decide.rs, as a table test.

use super::decide::{EmailChange, JoinRule};
use super::*;
use crate::connectors::settings::{MappingMode, ProfileSync};
use crate::connectors::{ConnectorKind, ExternalProfile};
use crate::store::organizations::GrantSource;

fn connector(kind: ConnectorKind) -> ConnectorFacts {
    ConnectorFacts {
        id: "acme-sso".into(),
        kind,
        create_accounts: true,
        profile_sync: ProfileSync::FirstSignIn,
        claimed_domains: if kind.is_enterprise() {
            vec!["acme.test".into()]
        } else {
            vec![]
        },
        trusts_verified_email: kind == ConnectorKind::Social,
        mappings: vec![],
    }
}

fn profile(email: Option<&str>, verified: bool) -> ExternalProfile {
    ExternalProfile {
        connector: "acme-sso".into(),
        subject: "G-42".into(),
        email: email.map(str::to_string),
        email_verified: verified,
        given_name: Some("Alice".into()),
        family_name: Some("Anders".into()),
        name: Some("Alice Anders".into()),
        ..Default::default()
    }
}

fn user(id: &str, email: &str) -> UserFacts {
    UserFacts {
        id: id.into(),
        suspended: false,
        email: Some(email.into()),
        email_verified: true,
        profile: ProfileFields {
            given_name: Some("Al".into()),
            family_name: Some("Old".into()),
            name: None,
            picture: None,
        },
        grants: vec![],
        memberships: vec![],
        connector_subjects: vec![],
    }
}

fn grant(
    org: &str,
    role: &str,
    source: GrantSource,
    connector: Option<&str>,
    rule: Option<&str>,
) -> GrantFact {
    GrantFact {
        organization_id: org.into(),
        role_id: role.into(),
        source,
        connector_id: connector.map(str::to_string),
        mapping_rule: rule.map(str::to_string),
    }
}

fn org(id: &str, roles: &[&str]) -> OrgFacts {
    OrgFacts {
        id: id.into(),
        name: format!("Org {id}"),
        default_roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn facts() -> Facts {
    Facts {
        linked_user: None,
        user_with_email: None,
        sso_jit_orgs: vec![],
        email_domain_jit_orgs: vec![],
        domain_claimed_by: vec![],
    }
}

fn joined(d: &Decision) -> Vec<(String, Vec<String>, GrantSource)> {
    d.joins
        .iter()
        .map(|j| (j.organization_id.clone(), j.grant_roles.clone(), j.source))
        .collect()
}

// ---- Enterprise SSO table ----

#[test]
fn sso_row1_linked_identity_signs_in_without_sync_by_default() {
    let c = connector(ConnectorKind::Saml);
    let f = Facts {
        linked_user: Some(user("u1", "alice@acme.test")),
        sso_jit_orgs: vec![org("o1", &["member"])],
        ..facts()
    };
    let d = decide(&c, &profile(Some("alice@acme.test"), true), &f);
    assert_eq!(
        d.outcome,
        Outcome::SignIn {
            user_id: "u1".into()
        }
    );
    assert!(
        d.profile_changes.is_empty(),
        "first-sign-in sync changes nothing later"
    );
    assert!(
        d.joins.is_empty(),
        "a linked identity is not a first SSO sign-in: no JIT"
    );
}

#[test]
fn sso_row1_linked_identity_syncs_on_every_sign_in() {
    let mut c = connector(ConnectorKind::Oidc);
    c.profile_sync = ProfileSync::EverySignIn;
    let f = Facts {
        linked_user: Some(user("u1", "alice@acme.test")),
        ..facts()
    };
    let d = decide(&c, &profile(Some("alice@acme.test"), true), &f);
    assert_eq!(
        d.outcome,
        Outcome::SignIn {
            user_id: "u1".into()
        }
    );
    let fields: Vec<_> = d
        .profile_changes
        .iter()
        .map(|c| (c.field, c.old.clone(), c.new.clone()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("given_name", Some("Al".into()), Some("Alice".into())),
            ("family_name", Some("Old".into()), Some("Anders".into())),
            ("name", None, Some("Alice Anders".into())),
        ]
    );
}

#[test]
fn sso_row2_verified_email_in_claimed_domain_links_and_joins() {
    let c = connector(ConnectorKind::Saml);
    let f = Facts {
        user_with_email: Some(user("u1", "alice@acme.test")),
        sso_jit_orgs: vec![org("o1", &["member", "dev"])],
        ..facts()
    };
    let d = decide(&c, &profile(Some("Alice@ACME.test"), true), &f);
    assert_eq!(
        d.outcome,
        Outcome::Link {
            user_id: "u1".into()
        }
    );
    assert_eq!(
        joined(&d),
        vec![(
            "o1".into(),
            vec!["member".into(), "dev".into()],
            GrantSource::JitSso
        )]
    );
    assert_eq!(
        d.joins[0].rule,
        JoinRule::SsoJit {
            connector: "acme-sso".into()
        }
    );
    assert!(d.joins[0].new_membership);
    // First sign-in of an existing account fills only empty fields.
    let fields: Vec<_> = d.profile_changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, vec!["name"]);
}

#[test]
fn sso_row3_nobody_and_creation_allowed_creates_and_joins() {
    let c = connector(ConnectorKind::Oidc);
    let f = Facts {
        sso_jit_orgs: vec![org("o1", &["member"]), org("o2", &[])],
        email_domain_jit_orgs: vec![org("o3", &["x"])],
        ..facts()
    };
    let d = decide(&c, &profile(Some("alice@acme.test"), true), &f);
    assert_eq!(d.outcome, Outcome::Create);
    assert_eq!(d.new_user_email.as_deref(), Some("alice@acme.test"));
    assert_eq!(d.new_user_profile.given_name.as_deref(), Some("Alice"));
    assert_eq!(
        joined(&d),
        vec![
            ("o1".into(), vec!["member".into()], GrantSource::JitSso),
            ("o2".into(), vec![], GrantSource::JitSso)
        ],
        "SSO JIT organizations (zero or more default roles); never email-domain JIT for SSO"
    );
}

#[test]
fn sso_row4_nobody_and_creation_not_allowed_is_refused() {
    let mut c = connector(ConnectorKind::Saml);
    c.create_accounts = false;
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            sso_jit_orgs: vec![org("o1", &["m"])],
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::AccountNotProvisioned));
    assert_eq!(
        RefuseReason::AccountNotProvisioned.code(),
        "account_not_provisioned"
    );
    assert!(d.joins.is_empty() && d.new_user_email.is_none());
}

#[test]
fn sso_row5_first_sso_sign_in_of_an_existing_member_adds_only_missing_grants() {
    let c = connector(ConnectorKind::Saml);
    let mut u = user("u1", "alice@acme.test");
    u.memberships = vec!["o1".into()];
    u.grants = vec![
        grant("o1", "member", GrantSource::JitSso, Some("acme-sso"), None),
        grant("o1", "dev", GrantSource::Api, None, None),
    ];
    let f = Facts {
        user_with_email: Some(u),
        sso_jit_orgs: vec![org("o1", &["member", "dev"]), org("o2", &["member"])],
        ..facts()
    };
    let d = decide(&c, &profile(Some("alice@acme.test"), true), &f);
    assert_eq!(
        d.outcome,
        Outcome::Link {
            user_id: "u1".into()
        }
    );
    assert_eq!(
        joined(&d),
        vec![
            ("o1".into(), vec!["dev".into()], GrantSource::JitSso),
            ("o2".into(), vec!["member".into()], GrantSource::JitSso)
        ]
    );
    assert!(!d.joins[0].new_membership && d.joins[1].new_membership);
}

#[test]
fn sso_row6_an_account_linked_to_this_connector_under_another_subject_is_refused() {
    // The IdP re-issued alice@ to a new person (subject G-42); the account was made for
    // the previous holder (subject G-1) through this very connector.
    let c = connector(ConnectorKind::Saml);
    let mut u = user("u1", "alice@acme.test");
    u.connector_subjects = vec!["G-1".into()];
    u.memberships = vec!["o1".into()];
    let f = Facts {
        user_with_email: Some(u.clone()),
        sso_jit_orgs: vec![org("o1", &["member"])],
        ..facts()
    };
    let d = decide(&c, &profile(Some("alice@acme.test"), true), &f);
    assert_eq!(
        d.outcome,
        Outcome::Refuse {
            reason: RefuseReason::SubjectChangedForEmail,
            user_id: Some("u1".into())
        },
        "refused, naming the account for the administrator"
    );
    assert_eq!(
        RefuseReason::SubjectChangedForEmail.code(),
        "subject_changed_for_email"
    );
    assert!(RefuseReason::SubjectChangedForEmail
        .message()
        .contains("administrator"));
    assert!(
        d.joins.is_empty() && d.profile_changes.is_empty() && d.mapping_grants.is_empty(),
        "nothing provisioned"
    );
    assert!(
        d.trace.iter().any(|t| t.contains("G-1")),
        "the trace names the subject the account is linked under: {:?}",
        d.trace
    );
    // The same for every kind of connector that can link (a social login whose verified
    // email moved to another account at the provider).
    let d = decide(
        &connector(ConnectorKind::Social),
        &profile(Some("alice@example.org"), true),
        &Facts {
            user_with_email: Some(user_linked("u1", "alice@example.org", "G-1")),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::SubjectChangedForEmail));
    // Not the email connector: its one-time code proves control of the address itself.
    let d = decide(
        &connector(ConnectorKind::Email),
        &profile(Some("alice@example.org"), true),
        &Facts {
            user_with_email: Some(user_linked("u1", "alice@example.org", "G-1")),
            ..facts()
        },
    );
    assert_eq!(
        d.outcome,
        Outcome::Link {
            user_id: "u1".into()
        }
    );
    // The account's own subject at this connector still signs in (the linked row wins).
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            linked_user: Some(u.clone()),
            user_with_email: Some(u),
            ..facts()
        },
    );
    assert_eq!(
        d.outcome,
        Outcome::SignIn {
            user_id: "u1".into()
        }
    );
    // An account without an identity of this connector links as before (row 2).
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            user_with_email: Some(user("u1", "alice@acme.test")),
            ..facts()
        },
    );
    assert_eq!(
        d.outcome,
        Outcome::Link {
            user_id: "u1".into()
        }
    );
}

fn user_linked(id: &str, email: &str, subject: &str) -> UserFacts {
    UserFacts {
        connector_subjects: vec![subject.into()],
        ..user(id, email)
    }
}

#[test]
fn sso_creation_with_creation_off_still_links_existing_accounts() {
    let mut c = connector(ConnectorKind::Saml);
    c.create_accounts = false;
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            user_with_email: Some(user("u1", "alice@acme.test")),
            ..facts()
        },
    );
    assert_eq!(
        d.outcome,
        Outcome::Link {
            user_id: "u1".into()
        }
    );
}

// ---- Rules beyond the tables ----

#[test]
fn an_unverified_email_never_links() {
    let c = connector(ConnectorKind::Oidc);
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), false),
        &Facts {
            user_with_email: Some(user("u1", "alice@acme.test")),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::EmailExistsCannotLink));
}

#[test]
fn a_verified_email_in_an_unclaimed_domain_never_links() {
    // One tenant's IdP asserting another tenant's address must not take over the account.
    let c = connector(ConnectorKind::Saml);
    let d = decide(
        &c,
        &profile(Some("ceo@globex.test"), true),
        &Facts {
            user_with_email: Some(user("u9", "ceo@globex.test")),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::EmailExistsCannotLink));
    assert_eq!(
        RefuseReason::EmailExistsCannotLink.code(),
        "email_exists_link_not_allowed"
    );
}

#[test]
fn claimed_wildcard_domains_are_trusted_for_subdomains_only() {
    let mut c = connector(ConnectorKind::Saml);
    c.claimed_domains = vec!["*.acme.test".into()];
    let f = Facts {
        user_with_email: Some(user("u1", "alice@eu.acme.test")),
        ..facts()
    };
    assert_eq!(
        decide(&c, &profile(Some("alice@eu.acme.test"), true), &f).outcome,
        Outcome::Link {
            user_id: "u1".into()
        }
    );
    let f = Facts {
        user_with_email: Some(user("u1", "alice@acme.test")),
        ..facts()
    };
    assert_eq!(
        decide(&c, &profile(Some("alice@acme.test"), true), &f).refused(),
        Some(RefuseReason::EmailExistsCannotLink)
    );
}

#[test]
fn an_existing_account_with_an_unverified_email_is_not_linked() {
    let c = connector(ConnectorKind::Saml);
    let mut u = user("u1", "alice@acme.test");
    u.email_verified = false;
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            user_with_email: Some(u),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::EmailTakenUnverified));
}

#[test]
fn suspended_users_are_refused_whether_linked_or_matched_by_email() {
    let c = connector(ConnectorKind::Saml);
    let mut u = user("u1", "alice@acme.test");
    u.suspended = true;
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            linked_user: Some(u.clone()),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::UserSuspended));
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), true),
        &Facts {
            user_with_email: Some(u),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::UserSuspended));
}

#[test]
fn an_untrusted_email_is_not_stored_on_a_new_account() {
    let c = connector(ConnectorKind::Saml);
    let d = decide(&c, &profile(Some("someone@globex.test"), true), &facts());
    assert_eq!(d.outcome, Outcome::Create);
    assert_eq!(d.new_user_email, None);
    let d = decide(&c, &profile(Some("bob@acme.test"), false), &facts());
    assert_eq!(d.new_user_email, None);
}

#[test]
fn synced_email_passes_the_trust_rule_and_never_takes_another_users_address() {
    let mut c = connector(ConnectorKind::Oidc);
    c.profile_sync = ProfileSync::EverySignIn;
    let me = user("u1", "alice@acme.test");
    // Trusted new address: changed, verified.
    let d = decide(
        &c,
        &profile(Some("alice.anders@acme.test"), true),
        &Facts {
            linked_user: Some(me.clone()),
            ..facts()
        },
    );
    assert_eq!(
        d.email_change,
        Some(EmailChange {
            old: Some("alice@acme.test".into()),
            new: "alice.anders@acme.test".into(),
            verified: true
        })
    );
    // Untrusted (unclaimed domain): kept, conflict audited.
    let d = decide(
        &c,
        &profile(Some("alice@globex.test"), true),
        &Facts {
            linked_user: Some(me.clone()),
            ..facts()
        },
    );
    assert_eq!(d.email_change, None);
    assert_eq!(d.conflicts[0].reason, "email_not_trusted");
    // Another user's address: kept, conflict audited — not an error page.
    let d = decide(
        &c,
        &profile(Some("bob@acme.test"), true),
        &Facts {
            linked_user: Some(me.clone()),
            user_with_email: Some(user("u2", "bob@acme.test")),
            ..facts()
        },
    );
    assert_eq!(
        d.outcome,
        Outcome::SignIn {
            user_id: "u1".into()
        }
    );
    assert_eq!(d.email_change, None);
    assert_eq!(d.conflicts[0].reason, "email_in_use");
    // A value the IdP does not send never erases a stored one.
    let mut p = profile(None, false);
    p.given_name = None;
    let d = decide(
        &c,
        &p,
        &Facts {
            linked_user: Some(me),
            ..facts()
        },
    );
    assert!(d.profile_changes.iter().all(|ch| ch.field != "given_name"));
    assert_eq!(d.email_change, None);
}

#[test]
fn a_profile_without_subject_is_refused() {
    let mut p = profile(Some("alice@acme.test"), true);
    p.subject = "  ".into();
    assert_eq!(
        decide(&connector(ConnectorKind::Saml), &p, &facts()).refused(),
        Some(RefuseReason::SubjectMissing)
    );
}

// ---- Email-domain JIT table ----

#[test]
fn email_row1_code_verified_sign_up_joins_every_matching_organization() {
    let c = connector(ConnectorKind::Email);
    let f = Facts {
        email_domain_jit_orgs: vec![org("o1", &["member"]), org("o2", &["viewer", "member"])],
        ..facts()
    };
    let d = decide(&c, &profile(Some("new@acme.test"), true), &f);
    assert_eq!(d.outcome, Outcome::Create);
    assert_eq!(d.new_user_email.as_deref(), Some("new@acme.test"));
    assert_eq!(
        joined(&d),
        vec![
            (
                "o1".into(),
                vec!["member".into()],
                GrantSource::JitEmailDomain
            ),
            (
                "o2".into(),
                vec!["viewer".into(), "member".into()],
                GrantSource::JitEmailDomain
            )
        ]
    );
    assert_eq!(
        d.joins[0].rule,
        JoinRule::EmailDomainJit {
            domain: "acme.test".into()
        }
    );
}

#[test]
fn email_row2_social_sign_up_with_verified_email_joins() {
    let c = connector(ConnectorKind::Social);
    let d = decide(
        &c,
        &profile(Some("new@acme.test"), true),
        &Facts {
            email_domain_jit_orgs: vec![org("o1", &["member"])],
            ..facts()
        },
    );
    assert_eq!(d.outcome, Outcome::Create);
    assert_eq!(
        joined(&d),
        vec![(
            "o1".into(),
            vec!["member".into()],
            GrantSource::JitEmailDomain
        )]
    );
}

#[test]
fn email_row3_social_sign_up_with_unverified_or_no_email_joins_nothing() {
    let c = connector(ConnectorKind::Social);
    let f = Facts {
        email_domain_jit_orgs: vec![org("o1", &["member"])],
        ..facts()
    };
    for p in [profile(Some("new@acme.test"), false), profile(None, false)] {
        let d = decide(&c, &p, &f);
        assert_eq!(d.outcome, Outcome::Create);
        assert!(d.joins.is_empty());
        assert_eq!(d.new_user_email, None);
    }
    // A provider not on the allow-list: its verified flag is not trusted.
    let mut untrusted = connector(ConnectorKind::Social);
    untrusted.trusts_verified_email = false;
    let d = decide(&untrusted, &profile(Some("new@acme.test"), true), &f);
    assert!(d.joins.is_empty() && d.new_user_email.is_none());
}

#[test]
fn email_row4_existing_user_signs_in_with_nothing_provisioned() {
    for kind in [ConnectorKind::Social, ConnectorKind::Email] {
        let c = connector(kind);
        let f = Facts {
            user_with_email: Some(user("u1", "old@acme.test")),
            email_domain_jit_orgs: vec![org("o1", &["member"])],
            ..facts()
        };
        let d = decide(&c, &profile(Some("old@acme.test"), true), &f);
        assert_eq!(
            d.outcome,
            Outcome::Link {
                user_id: "u1".into()
            },
            "{kind:?}"
        );
        assert!(
            d.joins.is_empty(),
            "{kind:?}: email-domain JIT is for new users only"
        );
    }
}

#[test]
fn email_row5_enterprise_sso_is_never_email_domain_jit() {
    let c = connector(ConnectorKind::Saml);
    let d = decide(
        &c,
        &profile(Some("new@acme.test"), true),
        &Facts {
            email_domain_jit_orgs: vec![org("o3", &["member"])],
            ..facts()
        },
    );
    assert_eq!(d.outcome, Outcome::Create);
    assert!(d.joins.is_empty());
}

#[test]
fn social_and_email_stay_out_of_domains_an_sso_connector_claims() {
    for kind in [ConnectorKind::Social, ConnectorKind::Email] {
        let c = connector(kind);
        let f = Facts {
            domain_claimed_by: vec!["acme-sso".into()],
            user_with_email: Some(user("u1", "alice@acme.test")),
            ..facts()
        };
        let d = decide(&c, &profile(Some("alice@acme.test"), true), &f);
        assert_eq!(
            d.refused(),
            Some(RefuseReason::EmailDomainRequiresSso),
            "{kind:?}"
        );
    }
}

#[test]
fn social_unverified_email_of_an_existing_account_is_refused_not_duplicated() {
    let c = connector(ConnectorKind::Social);
    let d = decide(
        &c,
        &profile(Some("alice@acme.test"), false),
        &Facts {
            user_with_email: Some(user("u1", "alice@acme.test")),
            ..facts()
        },
    );
    assert_eq!(d.refused(), Some(RefuseReason::EmailExistsCannotLink));
}

#[test]
fn every_decision_carries_its_trace() {
    let d = decide(
        &connector(ConnectorKind::Saml),
        &profile(Some("alice@acme.test"), true),
        &Facts {
            sso_jit_orgs: vec![org("o1", &[])],
            ..facts()
        },
    );
    assert!(
        d.trace.iter().any(|t| t.contains("create")),
        "{:?}",
        d.trace
    );
    assert!(
        d.trace.iter().any(|t| t.contains("SSO JIT")),
        "{:?}",
        d.trace
    );
}

// ---- Role mapping ----

fn mapping(
    rule: &str,
    value: Option<&str>,
    pattern: Option<&str>,
    mode: MappingMode,
) -> ResolvedMapping {
    ResolvedMapping {
        rule: rule.into(),
        claim: "groups".into(),
        value: value.map(str::to_string),
        pattern: pattern.map(str::to_string),
        organization_id: "o1".into(),
        organization_name: "Org o1".into(),
        role_id: "developer".into(),
        role_name: "developer".into(),
        mode,
    }
}

fn with_groups(groups: &[&str]) -> ExternalProfile {
    let mut p = profile(Some("alice@acme.test"), true);
    p.groups = groups.iter().map(|g| g.to_string()).collect();
    p
}

#[test]
fn mapping_grants_on_a_match_and_records_the_rule() {
    let mut c = connector(ConnectorKind::Saml);
    c.mappings = vec![mapping(
        "eng",
        Some("engineering"),
        None,
        MappingMode::Grant,
    )];
    let d = decide(&c, &with_groups(&["sales", "engineering"]), &facts());
    assert_eq!(d.outcome, Outcome::Create);
    assert_eq!(d.mapping_grants.len(), 1);
    assert_eq!(
        (
            d.mapping_grants[0].rule.as_str(),
            d.mapping_grants[0].matched.as_str()
        ),
        ("eng", "engineering")
    );
    assert!(d.mapping_grants[0].new_membership);
    let d = decide(&c, &with_groups(&["sales"]), &facts());
    assert!(d.mapping_grants.is_empty());
}

#[test]
fn mapping_patterns_match_whole_values() {
    let mut c = connector(ConnectorKind::Oidc);
    c.mappings = vec![mapping("eng", None, Some("eng-.*"), MappingMode::Grant)];
    assert_eq!(
        decide(&c, &with_groups(&["eng-backend"]), &facts())
            .mapping_grants
            .len(),
        1
    );
    assert!(
        decide(&c, &with_groups(&["xeng-backend"]), &facts())
            .mapping_grants
            .is_empty(),
        "anchored at the start"
    );
    assert!(decide(&c, &with_groups(&["eng"]), &facts())
        .mapping_grants
        .is_empty());
}

#[test]
fn sync_mapping_revokes_only_its_own_grant() {
    let mut c = connector(ConnectorKind::Saml);
    c.mappings = vec![mapping("eng", Some("engineering"), None, MappingMode::Sync)];
    let mut u = user("u1", "alice@acme.test");
    u.memberships = vec!["o1".into()];
    u.grants = vec![
        grant(
            "o1",
            "developer",
            GrantSource::Mapping,
            Some("acme-sso"),
            Some("eng"),
        ),
        grant("o1", "developer", GrantSource::Api, None, None),
        grant(
            "o1",
            "developer",
            GrantSource::Mapping,
            Some("acme-sso"),
            Some("other-rule"),
        ),
    ];
    let d = decide(
        &c,
        &with_groups(&[]),
        &Facts {
            linked_user: Some(u.clone()),
            ..facts()
        },
    );
    assert_eq!(
        d.outcome,
        Outcome::SignIn {
            user_id: "u1".into()
        }
    );
    assert_eq!(d.mapping_revokes.len(), 1);
    assert_eq!(d.mapping_revokes[0].rule, "eng");
    // Still asserted: nothing to do.
    let d = decide(
        &c,
        &with_groups(&["engineering"]),
        &Facts {
            linked_user: Some(u),
            ..facts()
        },
    );
    assert!(d.mapping_grants.is_empty() && d.mapping_revokes.is_empty());
}

#[test]
fn grant_mapping_never_revokes() {
    let mut c = connector(ConnectorKind::Saml);
    c.mappings = vec![mapping(
        "eng",
        Some("engineering"),
        None,
        MappingMode::Grant,
    )];
    let mut u = user("u1", "alice@acme.test");
    u.grants = vec![grant(
        "o1",
        "developer",
        GrantSource::Mapping,
        Some("acme-sso"),
        Some("eng"),
    )];
    let d = decide(
        &c,
        &with_groups(&[]),
        &Facts {
            linked_user: Some(u),
            ..facts()
        },
    );
    assert!(d.mapping_revokes.is_empty());
    assert!(d.trace.iter().any(|t| t.contains("never revokes")));
}

#[test]
fn refused_sign_ins_map_nothing() {
    let mut c = connector(ConnectorKind::Saml);
    c.create_accounts = false;
    c.mappings = vec![mapping(
        "eng",
        Some("engineering"),
        None,
        MappingMode::Grant,
    )];
    let d = decide(&c, &with_groups(&["engineering"]), &facts());
    assert_eq!(d.refused(), Some(RefuseReason::AccountNotProvisioned));
    assert!(d.mapping_grants.is_empty());
}
