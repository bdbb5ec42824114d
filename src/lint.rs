//! The configuration linter: settings that are valid but will not do what the
//! administrator expects, or are risky. Each warning has a stable code, the objects
//! involved and the fix. Served at `GET /api/v1/lint` and printed by `ssogate apply`
//! (`--strict` refuses to apply with warnings).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use openssl::x509::X509;
use serde::Serialize;

use crate::address::domain_matches;
use crate::connectors::saml::metadata::asn1_to_unix;
use crate::connectors::{trust_anchor, Connector};
use crate::store::connectors::{self as connector_store, ConnectorRecord};
use crate::store::organizations::{self as orgs, Organization};
use crate::store::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintObject {
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintWarning {
    pub code: &'static str,
    pub objects: Vec<LintObject>,
    pub message: String,
    pub fix: String,
}

/// Mail providers anyone can get an address at: never a JIT or claimed domain.
pub const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "hey.com",
    "fastmail.com",
    "tutanota.com",
    "seznam.cz",
    "orange.fr",
    "free.fr",
    "libero.it",
];

/// Certificates expiring within this many days are flagged.
pub const CERT_WARNING_DAYS: i64 = 30;

fn connector(id: &str) -> LintObject {
    LintObject {
        kind: "connector",
        id: id.to_string(),
    }
}

fn organization(o: &Organization) -> LintObject {
    LintObject {
        kind: "organization",
        id: o.name.clone(),
    }
}

/// Do two domain patterns (exact or `*.x`) cover a common address?
fn overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix("*."), b.strip_prefix("*.")) {
        (None, None) => a == b,
        (Some(_), None) => domain_matches(a, b),
        (None, Some(_)) => domain_matches(b, a),
        (Some(sa), Some(sb)) => sa == sb || domain_matches(a, sb) || domain_matches(b, sa),
    }
}

fn is_public(domain: &str) -> bool {
    let d = domain.trim_start_matches("*.");
    PUBLIC_MAIL_DOMAINS.contains(&d)
}

struct Parsed<'a> {
    rec: &'a ConnectorRecord,
    /// None: the row does not parse (its domains are still checked).
    connector: Option<Connector>,
}

pub fn lint(
    connectors: &[ConnectorRecord],
    organizations: &[Organization],
    now_unix_secs: i64,
) -> Vec<LintWarning> {
    let mut out = Vec::new();
    let parsed: Vec<Parsed> = connectors
        .iter()
        .map(|rec| Parsed {
            rec,
            connector: Connector::from_record(rec.clone()).ok(),
        })
        .collect();
    let routed: Vec<&Parsed> = parsed
        .iter()
        .filter(|p| {
            p.connector
                .as_ref()
                .is_some_and(|c| c.enabled && c.kind.is_enterprise() && c.settings.route_domains)
        })
        .collect();

    // Email-domain JIT that can never fire: the domain is routed to SSO at /login.
    for o in organizations {
        for d in &o.jit_email_domains {
            for p in &routed {
                if p.rec.domains.iter().any(|cd| overlap(cd, d)) {
                    out.push(LintWarning {
                        code: "jit_domain_routed_to_sso",
                        objects: vec![organization(o), connector(&p.rec.id)],
                        message: format!(
                            "{d} is a JIT email domain of {} and a routed domain of SSO connector {}: people with such emails are sent to SSO, so email-domain JIT never fires for them",
                            o.name, p.rec.id
                        ),
                        fix: format!(
                            "enable SSO JIT for connector {} in organization {} (jit_connectors) and remove {d} from its jit_email_domains, or turn off route_domains on {}",
                            p.rec.id, o.name, p.rec.id
                        ),
                    });
                }
            }
        }
    }

    // Two connectors claiming the same domain.
    for (i, a) in parsed.iter().enumerate() {
        for b in parsed.iter().skip(i + 1) {
            for da in &a.rec.domains {
                if let Some(db) = b.rec.domains.iter().find(|db| overlap(da, db)) {
                    out.push(LintWarning {
                        code: "domain_claimed_by_two_connectors",
                        objects: vec![connector(&a.rec.id), connector(&b.rec.id)],
                        message: format!("connectors {} ({da}) and {} ({db}) claim the same email domain: both are trusted for it and routing picks one", a.rec.id, b.rec.id),
                        fix: format!("keep {da} on one connector only"),
                    });
                }
            }
        }
    }

    // Two organizations with the same JIT email domain.
    for (i, a) in organizations.iter().enumerate() {
        for b in organizations.iter().skip(i + 1) {
            for da in &a.jit_email_domains {
                if let Some(db) = b.jit_email_domains.iter().find(|db| overlap(da, db)) {
                    out.push(LintWarning {
                        code: "jit_domain_in_two_organizations",
                        objects: vec![organization(a), organization(b)],
                        message: format!("organizations {} ({da}) and {} ({db}) share a JIT email domain: new users join both", a.name, b.name),
                        fix: "keep the domain in the one organization those users belong to (or confirm both are intended)".into(),
                    });
                }
            }
        }
    }

    // Public mail domains.
    for o in organizations {
        for d in o.jit_email_domains.iter().filter(|d| is_public(d)) {
            out.push(LintWarning {
                code: "public_mail_domain",
                objects: vec![organization(o)],
                message: format!("{d} is a public mail provider: anyone can get an address there and join {} by JIT", o.name),
                fix: format!("remove {d} from the JIT email domains of {}; invite those users instead", o.name),
            });
        }
    }
    for p in &parsed {
        for d in p.rec.domains.iter().filter(|d| is_public(d)) {
            out.push(LintWarning {
                code: "public_mail_domain",
                objects: vec![connector(&p.rec.id)],
                message: format!("connector {} claims {d}, a public mail provider: its IdP would be trusted for every {d} account", p.rec.id),
                fix: format!("remove {d} from the domains of {}", p.rec.id),
            });
        }
    }

    for p in &parsed {
        let Some(settings) = p.connector.as_ref().map(|c| &c.settings) else {
            continue;
        };
        // Plain-http trust anchors (see crate::connectors::trust_anchor).
        let anchors = settings
            .saml
            .iter()
            .filter_map(|s| s.idp_metadata_url.as_deref())
            .chain(settings.oidc.iter().map(|o| o.issuer.as_str()));
        for url in anchors.filter(|u| trust_anchor::is_insecure(u)) {
            out.push(if settings.allow_insecure_http {
                LintWarning {
                    code: "insecure_http_allowed",
                    objects: vec![connector(&p.rec.id)],
                    message: format!("connector {} fetches its IdP's signing keys over plain http ({url}) because allow_insecure_http = true: anyone on the network path can swap them and forge sign-ins", p.rec.id),
                    fix: format!("use the https address of the IdP and remove allow_insecure_http from {}", p.rec.id),
                }
            } else {
                // A row saved before plain http was refused: its metadata is no longer
                // refreshed, its OIDC sign-ins are refused.
                LintWarning {
                    code: trust_anchor::CODE,
                    objects: vec![connector(&p.rec.id)],
                    message: format!("connector {} names a plain-http IdP address ({url}), which is refused: its IdP metadata is not refreshed and OIDC sign-ins through it fail", p.rec.id),
                    fix: format!("use the https address of the IdP on {} (or set allow_insecure_http = true, knowing the risk)", p.rec.id),
                }
            });
        }
        if let Some(saml) = &settings.saml {
            let email_attr = saml.attributes.email.as_str();
            let subject_is_email = saml
                .attributes
                .subject
                .as_deref()
                .is_some_and(|s| s == email_attr || looks_like_email_attribute(s))
                || (saml.attributes.subject.is_none()
                    && nameid_formats_only_email(&saml.idp_metadata_xml));
            if subject_is_email {
                out.push(LintWarning {
                    code: "saml_subject_is_email",
                    objects: vec![connector(&p.rec.id)],
                    message: format!("connector {} identifies people by email: a renamed address breaks the link to their account", p.rec.id),
                    fix: "use a persistent NameID (or a stable attribute such as an employee id) as the subject".into(),
                });
            }
            for cert in &saml.idp_signing_certificates {
                let not_after = B64
                    .decode(cert)
                    .ok()
                    .and_then(|der| X509::from_der(&der).ok())
                    .map(|x| asn1_to_unix(x.not_after()));
                if let Some(t) = not_after {
                    if t < now_unix_secs + CERT_WARNING_DAYS * 86_400 {
                        let days = (t - now_unix_secs) / 86_400;
                        out.push(LintWarning {
                            code: "saml_certificate_expiring",
                            objects: vec![connector(&p.rec.id)],
                            message: if t <= now_unix_secs {
                                format!("an IdP signing certificate of connector {} has expired", p.rec.id)
                            } else {
                                format!("an IdP signing certificate of connector {} expires in {days} days", p.rec.id)
                            },
                            fix: "ask the IdP for its next certificate and add it to the metadata (or refresh metadata from its URL)".into(),
                        });
                    }
                }
            }
            if saml.allow_idp_initiated {
                out.push(LintWarning {
                    code: "idp_initiated_enabled",
                    objects: vec![connector(&p.rec.id)],
                    message: format!("connector {} accepts IdP-initiated (unsolicited) sign-ins, which cannot be bound to a browser and are open to login CSRF", p.rec.id),
                    fix: format!("turn off allow_idp_initiated on {} and start sign-ins from ssogate (SP-initiated)", p.rec.id),
                });
            }
        }
        if let Some(social) = &settings.social {
            let untrusted_provider = !crate::connectors::settings::TRUSTED_EMAIL_PROVIDERS
                .contains(&social.provider.as_str());
            let jit_orgs: Vec<&Organization> = organizations
                .iter()
                .filter(|o| !o.jit_email_domains.is_empty())
                .collect();
            if social.trust_email_verified && untrusted_provider && !jit_orgs.is_empty() {
                let mut objects = vec![connector(&p.rec.id)];
                objects.extend(jit_orgs.iter().map(|o| organization(o)));
                out.push(LintWarning {
                    code: "social_unverified_email_jit",
                    objects,
                    message: format!(
                        "social connector {} ({}) is trusted for its email-verified flag although the provider is not known to verify emails, and organizations use email-domain JIT: anyone claiming an address there could join them",
                        p.rec.id, social.provider
                    ),
                    fix: format!("turn off trust_email_verified on {} (only google and github are trusted)", p.rec.id),
                });
            }
        }
        if let Some(oidc) = &settings.oidc {
            if oidc
                .claims
                .subject
                .as_deref()
                .is_some_and(|s| s == oidc.claims.email || looks_like_email_attribute(s))
            {
                out.push(LintWarning {
                    code: "oidc_subject_is_email",
                    objects: vec![connector(&p.rec.id)],
                    message: format!("connector {} identifies people by email: a renamed address breaks the link to their account", p.rec.id),
                    fix: "use the `sub` claim as the subject".into(),
                });
            }
        }
    }
    out
}

fn looks_like_email_attribute(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "email"
        || n == "mail"
        || n.ends_with("/emailaddress")
        || n == "emailaddress"
        || n == "urn:oid:0.9.2342.19200300.100.1.3"
}

/// The IdP says it only issues email-address NameIDs.
fn nameid_formats_only_email(xml: &str) -> bool {
    let formats: Vec<&str> = xml
        .split("NameIDFormat>")
        .skip(1)
        .step_by(2)
        .filter_map(|s| s.split('<').next())
        .map(str::trim)
        .collect();
    !formats.is_empty() && formats.iter().all(|f| f.ends_with(":emailAddress"))
}

/// Lints what the store holds (inside a transaction, to vet a change before commit).
pub async fn lint_store(conn: &mut AnyConnection) -> Result<Vec<LintWarning>, StoreError> {
    let connectors = connector_store::list(conn).await?;
    let organizations = orgs::list(conn).await?;
    Ok(lint(
        &connectors,
        &organizations,
        chrono::Utc::now().timestamp(),
    ))
}
