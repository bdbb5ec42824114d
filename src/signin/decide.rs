//! The rules. Choices this page makes where docs/RULES.md leaves room (a careful identity
//! engineer's reading, written down here):
//!
//! - Only a *trusted* email becomes an account's primary email. An untrusted one (not
//!   verified, or from an IdP not trusted for its domain) stays in the identity's raw
//!   profile: storing it, even flagged unverified, would squat the address and block its
//!   real owner (who could then neither sign up nor link).
//! - Linking needs a trusted email *and* an existing account whose email is verified (an
//!   unverified local address could have been registered by someone else beforehand).
//! - First sign-in of an existing account through a connector fills only the account's
//!   empty profile fields; `every_sign_in` sync overwrites (the IdP is then the source of
//!   truth). A value the IdP does not send never erases a stored one.
//! - A social or email sign-in never links into, or signs up with, an email whose domain
//!   an enterprise SSO connector claims: that person belongs to the SSO connector.
//! - JIT grants are rows per source: a JIT join adds the (organization, role, source,
//!   connector) rows that are missing and nothing else.

use serde::Serialize;

use crate::address::{domain_matches, Email};
use crate::connectors::settings::ProfileSync;
use crate::connectors::{ConnectorKind, ExternalProfile};
use crate::store::organizations::GrantSource;

use super::facts::{ConnectorFacts, Facts, OrgFacts, UserFacts};
use super::mapping::{evaluate_mappings, MappedGrant, MappedRevoke};
use super::sync::{diff_fields, FieldChange, ProfileFields, SyncConflict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefuseReason {
    /// No identity, no account, and this connector may not create accounts.
    AccountNotProvisioned,
    /// An account has this email, but this sign-in may not link to it.
    EmailExistsCannotLink,
    /// An account has this email unverified: linking to it could hand it to a squatter.
    EmailTakenUnverified,
    UserSuspended,
    /// Social/email sign-in with an email in a domain an enterprise connector claims.
    EmailDomainRequiresSso,
    SubjectMissing,
    /// The account with this email already holds an identity of THIS connector under
    /// another subject: the IdP now gives the address to someone else (a re-issued
    /// `first.last@`), and linking would hand the new person the old one's account.
    SubjectChangedForEmail,
}

impl RefuseReason {
    pub fn code(self) -> &'static str {
        match self {
            RefuseReason::AccountNotProvisioned => "account_not_provisioned",
            RefuseReason::EmailExistsCannotLink => "email_exists_link_not_allowed",
            RefuseReason::EmailTakenUnverified => "email_taken_unverified",
            RefuseReason::UserSuspended => "user_suspended",
            RefuseReason::EmailDomainRequiresSso => "email_domain_requires_sso",
            RefuseReason::SubjectMissing => "subject_missing",
            RefuseReason::SubjectChangedForEmail => "subject_changed_for_email",
        }
    }

    /// What the person is told.
    pub fn message(self) -> &'static str {
        match self {
            RefuseReason::AccountNotProvisioned => {
                "No account is provisioned for you here. Ask your administrator to give you access."
            }
            RefuseReason::EmailExistsCannotLink => {
                "An account with this email already exists. Sign in with that account first, then link this sign-in method to it."
            }
            RefuseReason::EmailTakenUnverified => {
                "An account with this email exists but its email is not verified, so this sign-in cannot be attached to it. Ask your administrator."
            }
            RefuseReason::UserSuspended => "Your account is suspended. Ask your administrator.",
            RefuseReason::EmailDomainRequiresSso => {
                "Your organization signs in with its own single sign-on. Please use it instead."
            }
            RefuseReason::SubjectMissing => "The identity provider did not say who you are.",
            RefuseReason::SubjectChangedForEmail => {
                "An account with this email belongs to another person at your identity provider, so this sign-in cannot be attached to it. Contact your administrator: they can move the account to you if it is yours."
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The identity is linked already: sign in as that user.
    SignIn { user_id: String },
    /// Link the identity to this existing user, then sign in.
    Link { user_id: String },
    /// Create a user and the identity, then sign in.
    Create,
    Refuse {
        reason: RefuseReason,
        /// The existing account the refusal protects, when there is one the
        /// administrator must look at (audited as the refusal's user).
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum JoinRule {
    /// The organization enabled JIT for this enterprise SSO connector.
    SsoJit { connector: String },
    /// The organization's JIT email domains contain the new user's verified email domain.
    EmailDomainJit { domain: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Join {
    pub organization_id: String,
    pub organization_name: String,
    pub rule: JoinRule,
    /// False when the user is a member already (only missing grants are added).
    pub new_membership: bool,
    /// Role ids to grant (rows that do not exist yet).
    pub grant_roles: Vec<String>,
    pub source: GrantSource,
    pub connector_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailChange {
    pub old: Option<String>,
    pub new: String,
    pub verified: bool,
}

/// The engine's answer, with every provisioning step and the rules behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// Create: the new account's email (trusted only) and profile.
    pub new_user_email: Option<String>,
    pub new_user_profile: ProfileFields,
    /// Sign in / link: profile fields to change.
    pub profile_changes: Vec<FieldChange>,
    pub email_change: Option<EmailChange>,
    /// Offered values that were not applied, and why (audited, never an error page).
    pub conflicts: Vec<SyncConflict>,
    pub joins: Vec<Join>,
    /// Role mapping: grants to add and (sync mode) grants of the rule to revoke.
    pub mapping_grants: Vec<MappedGrant>,
    pub mapping_revokes: Vec<MappedRevoke>,
    /// The rules applied, in order (dry runs and audit events show it).
    pub trace: Vec<String>,
}

impl Decision {
    fn new(outcome: Outcome) -> Self {
        Decision {
            outcome,
            new_user_email: None,
            new_user_profile: ProfileFields::default(),
            profile_changes: Vec::new(),
            email_change: None,
            conflicts: Vec::new(),
            joins: Vec::new(),
            mapping_grants: Vec::new(),
            mapping_revokes: Vec::new(),
            trace: Vec::new(),
        }
    }

    fn refuse(reason: RefuseReason, trace: Vec<String>) -> Self {
        let mut d = Decision::new(Outcome::Refuse {
            reason,
            user_id: None,
        });
        d.trace = trace;
        d
    }

    /// A refusal that protects the existing account `user_id`.
    fn refuse_for(reason: RefuseReason, user_id: &str, trace: Vec<String>) -> Self {
        let mut d = Decision::new(Outcome::Refuse {
            reason,
            user_id: Some(user_id.to_string()),
        });
        d.trace = trace;
        d
    }

    pub fn refused(&self) -> Option<RefuseReason> {
        match self.outcome {
            Outcome::Refuse { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// The profile's email, normalized; None when absent or not a valid address.
pub fn profile_email(profile: &ExternalProfile) -> Option<Email> {
    profile.email.as_deref().and_then(|e| Email::parse(e).ok())
}

fn incoming_fields(p: &ExternalProfile) -> ProfileFields {
    ProfileFields {
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        name: p.name.clone(),
        picture: p.picture.clone(),
    }
}

/// Is this email trusted from this connector (docs/RULES.md's first security rule)?
fn email_trusted(c: &ConnectorFacts, email: &Email, asserted_verified: bool) -> bool {
    if !asserted_verified {
        return false;
    }
    match c.kind {
        ConnectorKind::Saml | ConnectorKind::Oidc => c
            .claimed_domains
            .iter()
            .any(|d| domain_matches(d, email.domain())),
        ConnectorKind::Social => c.trusts_verified_email,
        // The email connector verified the address with a one-time code.
        ConnectorKind::Email => true,
    }
}

fn plan_joins(
    c: &ConnectorFacts,
    orgs: &[OrgFacts],
    user: Option<&UserFacts>,
    rule: impl Fn(&OrgFacts) -> JoinRule,
    source: GrantSource,
) -> Vec<Join> {
    let mut joins = Vec::new();
    for org in orgs {
        let new_membership = user.is_none_or(|u| !u.memberships.contains(&org.id));
        let grant_roles: Vec<String> = org
            .default_roles
            .iter()
            .filter(|role| {
                user.is_none_or(|u| {
                    !u.grants.iter().any(|g| {
                        g.organization_id == org.id
                            && &g.role_id == *role
                            && g.source == source
                            && g.connector_id.as_deref() == Some(c.id.as_str())
                    })
                })
            })
            .cloned()
            .collect();
        if !new_membership && grant_roles.is_empty() {
            continue;
        }
        joins.push(Join {
            organization_id: org.id.clone(),
            organization_name: org.name.clone(),
            rule: rule(org),
            new_membership,
            grant_roles,
            source,
            connector_id: c.id.clone(),
        });
    }
    joins
}

/// Email sync for an existing account (every-sign-in mode).
fn plan_email_sync(
    d: &mut Decision,
    user: &UserFacts,
    email: Option<&Email>,
    trusted: bool,
    facts: &Facts,
) {
    let Some(email) = email else { return };
    let same = user.email.as_deref() == Some(email.as_str());
    if same && (user.email_verified || !trusted) {
        return;
    }
    if !trusted {
        d.conflicts.push(SyncConflict {
            field: "email",
            kept: user.email.clone(),
            offered: Some(email.to_string()),
            reason: "email_not_trusted",
        });
        return;
    }
    if let Some(other) = &facts.user_with_email {
        if other.id != user.id {
            d.conflicts.push(SyncConflict {
                field: "email",
                kept: user.email.clone(),
                offered: Some(email.to_string()),
                reason: "email_in_use",
            });
            return;
        }
    }
    d.email_change = Some(EmailChange {
        old: user.email.clone(),
        new: email.to_string(),
        verified: true,
    });
}

/// The decision for one sign-in: the account rules, then role mapping (every sign-in).
pub fn decide(c: &ConnectorFacts, profile: &ExternalProfile, facts: &Facts) -> Decision {
    let mut d = decide_account(c, profile, facts);
    let user = match &d.outcome {
        Outcome::Refuse { .. } => return d,
        Outcome::Create => None,
        Outcome::SignIn { .. } => facts.linked_user.as_ref(),
        Outcome::Link { .. } => facts.user_with_email.as_ref(),
    };
    let joining: Vec<String> = d.joins.iter().map(|j| j.organization_id.clone()).collect();
    let (grants, revokes, trace) = evaluate_mappings(c, profile, user, &joining);
    d.mapping_grants = grants;
    d.mapping_revokes = revokes;
    d.trace.extend(trace);
    d
}

fn decide_account(c: &ConnectorFacts, profile: &ExternalProfile, facts: &Facts) -> Decision {
    let mut trace: Vec<String> = Vec::new();
    if profile.subject.trim().is_empty() {
        return Decision::refuse(
            RefuseReason::SubjectMissing,
            vec!["the profile has no subject".into()],
        );
    }
    let email = profile_email(profile);
    let trusted = email
        .as_ref()
        .is_some_and(|e| email_trusted(c, e, profile.email_verified));
    match (&email, trusted) {
        (Some(e), true) => trace.push(format!("email {e} is trusted from connector {}", c.id)),
        (Some(e), false) => trace.push(format!("email {e} is not trusted from connector {}", c.id)),
        (None, _) => trace.push("no usable email in the profile".into()),
    }
    let incoming = incoming_fields(profile);
    let enterprise = c.kind.is_enterprise();

    // 1. The identity is linked already: sign in.
    if let Some(user) = &facts.linked_user {
        if user.suspended {
            trace.push("the linked account is suspended".into());
            return Decision::refuse(RefuseReason::UserSuspended, trace);
        }
        trace.push(format!("identity ({}, subject) is linked: sign in", c.id));
        let mut d = Decision::new(Outcome::SignIn {
            user_id: user.id.clone(),
        });
        if c.profile_sync == ProfileSync::EverySignIn {
            trace.push("profile sync on every sign-in".into());
            d.profile_changes = diff_fields(&user.profile, &incoming, true);
            plan_email_sync(&mut d, user, email.as_ref(), trusted, facts);
        }
        d.trace = trace;
        return d;
    }

    // Social and email sign-ins stay out of domains an enterprise connector claims.
    if !enterprise && email.is_some() && !facts.domain_claimed_by.is_empty() {
        trace.push(format!(
            "the email domain is claimed by enterprise connector(s) {}",
            facts.domain_claimed_by.join(", ")
        ));
        return Decision::refuse(RefuseReason::EmailDomainRequiresSso, trace);
    }

    // 2. An account has this email.
    if let Some(user) = &facts.user_with_email {
        if user.suspended {
            trace.push("the account with this email is suspended".into());
            return Decision::refuse(RefuseReason::UserSuspended, trace);
        }
        if !trusted {
            trace.push("an account has this email, and this sign-in may not link to it".into());
            return Decision::refuse(RefuseReason::EmailExistsCannotLink, trace);
        }
        if !user.email_verified {
            trace.push("an account has this email unverified: no link".into());
            return Decision::refuse(RefuseReason::EmailTakenUnverified, trace);
        }
        // This connector already vouched for the account under another subject, and the
        // (connector, subject) at hand is not linked: the IdP now asserts the address
        // for a different person (a departed employee's `first.last@` given to a new
        // hire). Linking would hand the newcomer the old account, its roles and data.
        // Only an administrator can tell a re-created IdP user from a new person.
        // Not for the email connector: there the one-time code just proved control of the
        // address, which is all that connector ever vouches for.
        let others: Vec<&str> = user
            .connector_subjects
            .iter()
            .filter(|s| **s != profile.subject)
            .map(String::as_str)
            .collect();
        if c.kind != ConnectorKind::Email && !others.is_empty() {
            trace.push(format!(
                "the account with this email is linked to connector {} under another subject ({}): no link",
                c.id,
                others.join(", ")
            ));
            return Decision::refuse_for(RefuseReason::SubjectChangedForEmail, &user.id, trace);
        }
        trace.push("the trusted email matches an account's verified email: link".into());
        let mut d = Decision::new(Outcome::Link {
            user_id: user.id.clone(),
        });
        d.profile_changes = diff_fields(
            &user.profile,
            &incoming,
            c.profile_sync == ProfileSync::EverySignIn,
        );
        if enterprise {
            // The first SSO sign-in of an existing account counts for SSO JIT.
            d.joins = plan_joins(
                c,
                &facts.sso_jit_orgs,
                Some(user),
                |_| JoinRule::SsoJit {
                    connector: c.id.clone(),
                },
                GrantSource::JitSso,
            );
            for j in &d.joins {
                trace.push(format!(
                    "SSO JIT: join {} (first sign-in through {})",
                    j.organization_name, c.id
                ));
            }
        } else {
            trace.push("existing account: email-domain JIT does not apply".into());
        }
        d.trace = trace;
        return d;
    }

    // 3. Nobody: create, if this connector may.
    if !c.create_accounts {
        trace.push(format!(
            "no account, and connector {} does not create accounts",
            c.id
        ));
        return Decision::refuse(RefuseReason::AccountNotProvisioned, trace);
    }
    trace.push("no account: create one".into());
    let mut d = Decision::new(Outcome::Create);
    d.new_user_email = if trusted {
        email.as_ref().map(|e| e.to_string())
    } else {
        None
    };
    if email.is_some() && !trusted {
        trace.push("the untrusted email is not stored as the account's email".into());
    }
    d.new_user_profile = ProfileFields {
        given_name: incoming.given_name.clone().filter(|s| !s.trim().is_empty()),
        family_name: incoming
            .family_name
            .clone()
            .filter(|s| !s.trim().is_empty()),
        name: incoming.name.clone().filter(|s| !s.trim().is_empty()),
        picture: incoming.picture.clone().filter(|s| !s.trim().is_empty()),
    };
    if enterprise {
        d.joins = plan_joins(
            c,
            &facts.sso_jit_orgs,
            None,
            |_| JoinRule::SsoJit {
                connector: c.id.clone(),
            },
            GrantSource::JitSso,
        );
        for j in &d.joins {
            trace.push(format!("SSO JIT: join {}", j.organization_name));
        }
    } else if let (Some(e), true) = (&email, trusted) {
        let domain = e.domain().to_string();
        d.joins = plan_joins(
            c,
            &facts.email_domain_jit_orgs,
            None,
            |_| JoinRule::EmailDomainJit {
                domain: domain.clone(),
            },
            GrantSource::JitEmailDomain,
        );
        for j in &d.joins {
            trace.push(format!(
                "email-domain JIT: join {} ({domain})",
                j.organization_name
            ));
        }
    } else {
        trace.push("no verified email: no email-domain JIT".into());
    }
    d.trace = trace;
    d
}
