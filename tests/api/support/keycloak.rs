//! Driving the real Keycloak: its login form (like a person with a browser, over HTTP
//! with a cookie jar) and its admin REST API (test users of their own per test, so tests
//! run in parallel).

use regex::Regex;
use reqwest::header::LOCATION;
use serde_json::{json, Value};

use crate::support::{keycloak_realm, keycloak_url, new_client, TestApp};

pub const PASSWORD: &str = "password";

pub fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
}

pub fn attr(tag: &str, name: &str) -> Option<String> {
    let re = Regex::new(&format!(r#"\s{name}="([^"]*)""#)).expect("regex");
    re.captures(tag).map(|c| html_unescape(&c[1]))
}

/// The value of the hidden input `name` in `html`.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let re = Regex::new(r#"<input[^>]*>"#).expect("regex");
    let found = re
        .find_iter(html)
        .map(|m| m.as_str())
        .find(|t| attr(t, "name").as_deref() == Some(name))
        .and_then(|t| attr(t, "value"));
    found
}

/// The opening tag of the form matching `pattern` (e.g. `id="kc-form-login"`).
pub fn form_tag<'a>(html: &'a str, pattern: &str) -> Option<&'a str> {
    let re = Regex::new(r#"<form[^>]*>"#).expect("regex");
    let found = re
        .find_iter(html)
        .map(|m| m.as_str())
        .find(|t| t.contains(pattern));
    found
}

fn location(r: &reqwest::Response) -> String {
    let loc = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(!loc.is_empty(), "expected a redirect, got {}", r.status());
    loc
}

/// Signs in at ssogate through `connector` as Keycloak user `username` and returns
/// ssogate's answer to the IdP's response (the callback or the ACS), not followed.
/// Uses `app.client` (its cookie jar is the "browser").
pub async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    connector: &str,
    username: &str,
) -> reqwest::Response {
    sign_in_with(
        app,
        client,
        &format!("/login/{connector}"),
        username,
        PASSWORD,
    )
    .await
}

pub async fn sign_in_with(
    app: &TestApp,
    client: &reqwest::Client,
    start_path: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let answer = idp_login(app, client, start_path, username, password).await;
    follow_idp_answer(client, answer).await
}

/// Starts a sign-in at ssogate and logs in at Keycloak; returns Keycloak's answer (a
/// redirect to the OIDC callback, or the SAML auto-post page), not yet delivered.
pub async fn idp_login(
    app: &TestApp,
    client: &reqwest::Client,
    start_path: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let r = client.get(app.url(start_path)).send().await.expect("start");
    assert_eq!(
        r.status(),
        303,
        "ssogate starts the sign-in with a redirect: {}",
        r.text().await.unwrap_or_default()
    );
    let idp_url = location(&r);
    assert!(
        idp_url.starts_with(&keycloak_url()),
        "sent to Keycloak: {idp_url}"
    );
    submit_login(client, &idp_url, username, password).await
}

/// Opens a Keycloak login page (e.g. an authorization or SAML SSO URL), fills in
/// `#kc-form-login` and returns Keycloak's answer, not followed.
pub async fn submit_login(
    client: &reqwest::Client,
    idp_url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let r = client
        .get(idp_url)
        .send()
        .await
        .expect("keycloak login page");
    let status = r.status();
    let html = r.text().await.expect("html");
    let form = form_tag(&html, r#"id="kc-form-login""#)
        .unwrap_or_else(|| panic!("no kc-form-login (HTTP {status}): {html}"));
    let action = attr(form, "action").expect("form action");
    client
        .post(&action)
        .form(&[
            ("username", username),
            ("password", password),
            ("credentialId", ""),
        ])
        .send()
        .await
        .expect("post credentials")
}

/// The `Location` of a redirect.
pub fn redirect_target(r: &reqwest::Response) -> String {
    location(r)
}

/// Keycloak's answer to a successful login: a redirect (OIDC) or an auto-posting form
/// (SAML POST binding). Delivers it to ssogate like the browser would.
pub async fn follow_idp_answer(
    client: &reqwest::Client,
    r: reqwest::Response,
) -> reqwest::Response {
    if r.status().is_redirection() {
        let to = location(&r);
        return client.get(&to).send().await.expect("callback");
    }
    assert_eq!(
        r.status(),
        200,
        "Keycloak answered the login with {}",
        r.status()
    );
    let html = r.text().await.expect("html");
    let form = form_tag(&html, r#"name="saml-post-binding""#).unwrap_or_else(|| {
        panic!("expected the SAML POST form (a required action page means a bad test user): {html}")
    });
    let action = attr(form, "action").expect("acs");
    let saml_response = hidden_input(&html, "SAMLResponse").expect("SAMLResponse");
    let mut fields = vec![("SAMLResponse", saml_response)];
    if let Some(rs) = hidden_input(&html, "RelayState") {
        fields.push(("RelayState", rs));
    }
    client
        .post(&action)
        .form(&fields)
        .send()
        .await
        .expect("post to the ACS")
}

// ---- admin REST API ----

pub struct KeycloakAdmin {
    http: reqwest::Client,
    token: String,
    base: String,
}

impl KeycloakAdmin {
    pub async fn connect() -> KeycloakAdmin {
        let http = new_client();
        let r = http
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                keycloak_url()
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", "admin"),
                ("password", "admin"),
            ])
            .send()
            .await
            .expect("admin token");
        assert_eq!(r.status(), 200, "Keycloak admin login");
        let v: Value = r.json().await.expect("json");
        let token = v["access_token"].as_str().expect("token").to_string();
        KeycloakAdmin {
            http,
            token,
            base: format!("{}/admin/realms/{}", keycloak_url(), keycloak_realm()),
        }
    }

    /// A fresh user of this test's own (unique username), verified email, password
    /// `password`, in `groups`. Returns its id.
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        first: &str,
        last: &str,
        groups: &[&str],
    ) -> String {
        let body = json!({
            "username": username, "email": email, "firstName": first, "lastName": last,
            "enabled": true, "emailVerified": true,
            "credentials": [{ "type": "password", "value": PASSWORD, "temporary": false }],
            "groups": groups,
        });
        let r = self
            .http
            .post(format!("{}/users", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("create user");
        assert_eq!(
            r.status(),
            201,
            "create user {username}: {}",
            r.text().await.unwrap_or_default()
        );
        self.user_id(username).await
    }

    pub async fn user_id(&self, username: &str) -> String {
        let r = self
            .http
            .get(format!(
                "{}/users?username={username}&exact=true",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get");
        let v: Value = r.json().await.expect("json");
        v[0]["id"].as_str().expect("user id").to_string()
    }

    /// Changes one field by GET, edit, PUT of the whole representation (a partial PUT
    /// clears names and email).
    pub async fn set_user_field(&self, id: &str, field: &str, value: &str) {
        let url = format!("{}/users/{id}", self.base);
        let mut rep: Value = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        rep[field] = json!(value);
        let r = self
            .http
            .put(&url)
            .bearer_auth(&self.token)
            .json(&rep)
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 204, "update user");
    }

    async fn group_id(&self, name: &str) -> String {
        let v: Value = self
            .http
            .get(format!("{}/groups?search={name}&exact=true", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("groups")
            .json()
            .await
            .expect("json");
        v.as_array()
            .and_then(|a| a.iter().find(|g| g["name"] == name))
            .and_then(|g| g["id"].as_str())
            .expect("group")
            .to_string()
    }

    pub async fn add_to_group(&self, user_id: &str, group: &str) {
        let gid = self.group_id(group).await;
        let r = self
            .http
            .put(format!("{}/users/{user_id}/groups/{gid}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 204);
    }

    pub async fn remove_from_group(&self, user_id: &str, group: &str) {
        let gid = self.group_id(group).await;
        let r = self
            .http
            .delete(format!("{}/users/{user_id}/groups/{gid}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 204);
    }
}

impl KeycloakAdmin {
    /// A copy of the realm's client `template` under `client_id` (a client of this test's
    /// own, so changing it does not disturb the tests sharing the realm); returns its
    /// internal id. Remove it with [`KeycloakAdmin::delete_client`].
    pub async fn copy_client(&self, template: &str, client_id: &str) -> String {
        let mut rep = self.client_by_client_id(template).await;
        let obj = rep.as_object_mut().expect("client representation");
        obj.remove("id");
        obj.insert("clientId".into(), json!(client_id));
        if let Some(mappers) = obj.get_mut("protocolMappers").and_then(Value::as_array_mut) {
            for m in mappers {
                if let Some(m) = m.as_object_mut() {
                    m.remove("id");
                }
            }
        }
        let r = self
            .http
            .post(format!("{}/clients", self.base))
            .bearer_auth(&self.token)
            .json(&rep)
            .send()
            .await
            .expect("create client");
        assert_eq!(
            r.status(),
            201,
            "create client {client_id}: {}",
            r.text().await.unwrap_or_default()
        );
        self.client_by_client_id(client_id).await["id"]
            .as_str()
            .expect("client id")
            .to_string()
    }

    async fn client_by_client_id(&self, client_id: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/clients", self.base))
            .query(&[("clientId", client_id)])
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("find client");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("json");
        v.as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_else(|| panic!("no client {client_id}"))
    }

    /// Sets one attribute of the client with internal id `id` (e.g.
    /// `saml.signing.certificate`, the certificate Keycloak checks AuthnRequests with).
    pub async fn set_client_attribute(&self, id: &str, name: &str, value: &str) {
        let url = format!("{}/clients/{id}", self.base);
        let r = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get client");
        assert_eq!(r.status(), 200);
        let mut rep: Value = r.json().await.expect("json");
        rep["attributes"][name] = json!(value);
        let r = self
            .http
            .put(&url)
            .bearer_auth(&self.token)
            .json(&rep)
            .send()
            .await
            .expect("update client");
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    }

    pub async fn delete_client(&self, id: &str) {
        let r = self
            .http
            .delete(format!("{}/clients/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("delete client");
        assert_eq!(r.status(), 204);
    }
}

/// A unique name for a per-test Keycloak user.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}
