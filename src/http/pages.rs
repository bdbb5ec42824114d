//! Pages for people: home, the sign-in page (connector buttons and home-realm discovery
//! by email domain), who am I, sign out.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use crate::address::Email;
use crate::app::AppState;
use crate::connectors::{self, ConnectorKind};
use crate::error::AppError;
use crate::flow::return_to;
use crate::http::RequestId;
use crate::session;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::{connectors as connector_store, identities, organizations as orgs, users};

fn html(t: impl Template) -> Result<Response, AppError> {
    Ok(Html(t.render().map_err(AppError::internal)?).into_response())
}

fn see_other(target: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(target) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home;

pub async fn home() -> Result<Response, AppError> {
    html(Home)
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    pub return_to: Option<String>,
    pub error: Option<String>,
}

struct ConnectorButton {
    href: String,
    label: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    buttons: Vec<ConnectorButton>,
    return_to: String,
    message: Option<String>,
}

fn start_href(id: &str, return_to: Option<&str>) -> String {
    match return_to {
        Some(r) => format!(
            "/login/{id}?return_to={}",
            url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
        ),
        None => format!("/login/{id}"),
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    rid: RequestId,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let return_to = return_to::accept(&state, &rid, q.return_to.as_deref(), None).await?;
    let mut conn = state.store.read().await?;
    let buttons = connectors::load_all(&mut conn)
        .await?
        .into_iter()
        .filter(|c| c.enabled && c.kind != ConnectorKind::Email)
        .map(|c| ConnectorButton {
            href: start_href(&c.id, return_to.as_deref()),
            label: c.display_name,
        })
        .collect();
    let message = match q.error.as_deref() {
        Some("no_sso") => Some(
            "No single sign-on is set up for that email domain. Choose a sign-in method below."
                .to_string(),
        ),
        Some("bad_email") => Some("That does not look like an email address.".to_string()),
        _ => None,
    };
    html(LoginPage {
        buttons,
        return_to: return_to.unwrap_or_default(),
        message,
    })
}

#[derive(Debug, Deserialize)]
pub struct DiscoverForm {
    pub email: String,
    #[serde(default)]
    pub return_to: String,
}

/// Home-realm discovery: an email in a domain an enterprise connector claims (with
/// `route_domains` on) is sent to that IdP.
pub async fn login_discover(
    State(state): State<AppState>,
    rid: RequestId,
    Form(f): Form<DiscoverForm>,
) -> Result<Response, AppError> {
    let return_to = return_to::accept(&state, &rid, Some(&f.return_to), None).await?;
    let back = |err: &str| {
        let mut target = format!("/login?error={err}");
        if let Some(r) = &return_to {
            target.push_str("&return_to=");
            target.extend(url::form_urlencoded::byte_serialize(r.as_bytes()));
        }
        see_other(&target)
    };
    let Ok(email) = Email::parse(&f.email) else {
        return Ok(back("bad_email"));
    };
    let mut conn = state.store.read().await?;
    for (connector_id, _) in connector_store::claiming_domain(&mut conn, email.domain()).await? {
        let Some(Ok(c)) = connectors::load(&mut conn, &connector_id).await? else {
            continue;
        };
        if c.enabled && c.settings.route_domains && c.kind.is_enterprise() {
            return Ok(see_other(&start_href(&c.id, return_to.as_deref())));
        }
    }
    Ok(back("no_sso"))
}

struct MembershipView {
    organization: String,
    roles: String,
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    user: users::User,
    /// [`users::User::display_name`]: the name the apps are sent too.
    name: String,
    connectors: String,
    memberships: Vec<MembershipView>,
}

pub async fn me(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    let Some(who) = session::current(&state, &session).await else {
        return Ok(see_other("/login?return_to=%2Fme"));
    };
    let mut conn = state.store.read().await?;
    let Some(user) = users::get(&mut conn, &who.user_id)
        .await?
        .filter(|u| !u.suspended)
    else {
        drop(conn);
        let _ = session::end(&session).await;
        return Ok(see_other("/login"));
    };
    let connectors = identities::list_for_user(&mut conn, &user.id)
        .await?
        .into_iter()
        .map(|i| i.connector_id)
        .collect::<Vec<_>>()
        .join(", ");
    let roles = orgs::list_roles(&mut conn).await?;
    let grants = orgs::grants_of(&mut conn, &user.id).await?;
    let mut memberships = Vec::new();
    for org_id in orgs::memberships_of(&mut conn, &user.id).await? {
        let Some(org) = orgs::get(&mut conn, &org_id).await? else {
            continue;
        };
        let mut names: Vec<String> = grants
            .iter()
            .filter(|g| g.organization_id == org_id)
            .filter_map(|g| {
                roles
                    .iter()
                    .find(|r| r.id == g.role_id)
                    .map(|r| r.name.clone())
            })
            .collect();
        names.sort();
        names.dedup();
        memberships.push(MembershipView {
            organization: org.name,
            roles: names.join(", "),
        });
    }
    memberships.sort_by(|a, b| a.organization.cmp(&b.organization));
    html(MePage {
        name: user.display_name().unwrap_or_default(),
        user,
        connectors,
        memberships,
    })
}

pub async fn logout(
    State(state): State<AppState>,
    rid: RequestId,
    session: Session,
) -> Result<Response, AppError> {
    if let Some(who) = session::current(&state, &session).await {
        let mut conn = state.store.write().await?;
        audit::record(
            &mut conn,
            &NewAuditEvent {
                kind: "signout".into(),
                request_id: Some(rid.0.clone()),
                actor: Some(format!("user:{}", who.user_id)),
                user_id: Some(who.user_id.clone()),
                data: json!({}),
                ..Default::default()
            },
        )
        .await?;
    }
    let id = session.id();
    session::end(&session).await.map_err(AppError::internal)?;
    // After the row is gone: a forward-auth read racing this cannot cache it again.
    if let Some(id) = id {
        state.gateway.forget_session(&id.to_string());
    }
    Ok(see_other("/login"))
}
