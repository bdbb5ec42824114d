//! IdP metadata configured by URL is refetched: a key rollover (a second signing
//! certificate) is picked up and audited; a failing fetch keeps the last good metadata.

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use serde_json::json;
use ssogate::connectors::settings::ConnectorSettings;
use ssogate::maintenance::refresh_saml_metadata;
use ssogate::store::audit::{self, AuditFilter};
use ssogate::store::{api_keys, connectors};

use crate::helpers::{spawn_app, Db};

fn cert_b64(name: &str) -> String {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/fixtures/saml/{name}.crt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("cert");
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn metadata(certs: &[String]) -> String {
    let kds: String = certs
        .iter()
        .map(|c| format!(r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#))
        .collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.acme.test">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kds}
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

#[tokio::test]
async fn a_key_rollover_is_picked_up_and_a_failure_keeps_the_last_good_metadata() {
    let served = Arc::new(Mutex::new(Some(metadata(&[cert_b64("idp")]))));
    let s2 = served.clone();
    let idp = Router::new().route(
        "/metadata",
        get(move || {
            let s = s2.clone();
            async move {
                match s.lock().map(|g| g.clone()) {
                    Ok(Some(xml)) => (axum::http::StatusCode::OK, xml),
                    _ => (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let idp_url = format!("http://{}/metadata", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, idp).await;
    });

    let app = spawn_app(Db::Sqlite).await;
    let key = {
        let mut c = app.store.write().await.expect("conn");
        api_keys::create(&mut c, "t").await.expect("key").1
    };
    let r = app
        .client
        .put(app.url("/api/v1/connectors/acme"))
        .bearer_auth(&key)
        .json(&json!({ "kind": "saml", "domains": ["acme.test"], "saml": { "idp_metadata_url": idp_url } }))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    let certs = |app: &crate::helpers::TestApp| {
        let store = app.store.clone();
        async move {
            let mut c = store.read().await.expect("conn");
            let rec = connectors::get(&mut c, "acme")
                .await
                .expect("q")
                .expect("connector");
            serde_json::from_value::<ConnectorSettings>(rec.config)
                .expect("settings")
                .saml
                .expect("saml")
                .idp_signing_certificates
        }
    };
    assert_eq!(certs(&app).await, vec![cert_b64("idp")]);

    // Unchanged metadata: nothing written.
    let report = refresh_saml_metadata(&app.state).await.expect("refresh");
    assert_eq!(report.unchanged, vec!["acme".to_string()]);

    // Rollover: the IdP publishes its next certificate beside the current one.
    *served.lock().expect("lock") = Some(metadata(&[cert_b64("idp"), cert_b64("attacker")]));
    let report = refresh_saml_metadata(&app.state).await.expect("refresh");
    assert_eq!(report.updated, vec!["acme".to_string()]);
    assert_eq!(
        certs(&app).await,
        vec![cert_b64("idp"), cert_b64("attacker")]
    );
    let mut c = app.store.read().await.expect("conn");
    let ev = audit::query(
        &mut c,
        &AuditFilter {
            kind: Some("connector.metadata_refreshed".into()),
            ..Default::default()
        },
    )
    .await
    .expect("q");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].data["after"]["certificates"], 2);
    drop(c);

    // The IdP is down: the last good metadata stays.
    *served.lock().expect("lock") = None;
    let report = refresh_saml_metadata(&app.state).await.expect("refresh");
    assert_eq!(report.failed, vec!["acme".to_string()]);
    assert_eq!(certs(&app).await.len(), 2);

    // Metadata that lost its certificates is refused too (never saved).
    *served.lock().expect("lock") = Some(metadata(&[]));
    let report = refresh_saml_metadata(&app.state).await.expect("refresh");
    assert_eq!(report.failed, vec!["acme".to_string()]);
    assert_eq!(certs(&app).await.len(), 2);
}
