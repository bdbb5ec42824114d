//! IdP metadata configured by URL is refetched: a key rollover (a second signing
//! certificate) is picked up and audited; a failing fetch keeps the last good metadata;
//! what an administrator changes while the refresh fetches stands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use serde_json::json;
use ssogate::connectors::settings::ConnectorSettings;
use ssogate::jobs::refresh_saml_metadata;
use ssogate::store::audit::{self, AuditFilter};
use ssogate::store::{api_keys, connectors};

use crate::support::{spawn_app, Db, TestApp};

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

    let certs = |app: &crate::support::TestApp| {
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

/// An IdP metadata server that can hold one request until the test releases it (so the
/// test acts while the refresh is waiting for the network, deterministically: no sleeps).
#[derive(Default)]
struct SlowIdp {
    /// Serve the rolled-over metadata (two certificates) instead of the first one.
    rolled_over: AtomicBool,
    /// Hold the next request.
    hold_next: AtomicBool,
    arrived: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

async fn slow_idp() -> (Arc<SlowIdp>, String) {
    let idp = Arc::new(SlowIdp::default());
    let i2 = idp.clone();
    let router = Router::new().route(
        "/{name}",
        get(move || {
            let idp = i2.clone();
            async move {
                if idp.hold_next.swap(false, Ordering::SeqCst) {
                    idp.arrived.notify_one();
                    idp.release.notified().await;
                }
                if idp.rolled_over.load(Ordering::SeqCst) {
                    metadata(&[cert_b64("idp"), cert_b64("attacker")])
                } else {
                    metadata(&[cert_b64("idp")])
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (idp, base)
}

async fn saml_settings(
    app: &TestApp,
    id: &str,
) -> Option<(
    ssogate::store::connectors::ConnectorRecord,
    ssogate::connectors::settings::SamlSettings,
)> {
    let mut c = app.store.read().await.expect("conn");
    let rec = connectors::get(&mut c, id).await.expect("q")?;
    let saml = serde_json::from_value::<ConnectorSettings>(rec.config.clone())
        .expect("settings")
        .saml
        .expect("saml");
    Some((rec, saml))
}

/// Every change an administrator makes while the refresh is fetching stands: a disabled
/// connector stays disabled, a deleted one stays deleted, new domains, role mappings and
/// SP keys (rotated or staged) are kept. The refresh writes only the metadata fields, and
/// only where they (and the metadata URL) are what it read: a connector whose URL changed
/// is skipped and refreshed next round.
async fn changes_made_during_a_refresh_stand(db: Db) {
    let (idp, base) = slow_idp().await;
    let app = spawn_app(db).await;
    let key = {
        let mut c = app.store.write().await.expect("conn");
        let role = ssogate::store::organizations::upsert_role(&mut c, "member", "")
            .await
            .expect("role");
        ssogate::store::organizations::upsert(
            &mut c,
            &ssogate::store::organizations::OrganizationSpec {
                name: "Acme".into(),
                description: String::new(),
                jit_email_domains: vec![],
                jit_connectors: vec![],
                default_roles: vec![role.id],
            },
        )
        .await
        .expect("organization");
        api_keys::create(&mut c, "t").await.expect("key").1
    };
    let put = |id: &str, body: serde_json::Value| {
        let req = app
            .client
            .put(app.url(&format!("/api/v1/connectors/{id}")))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let r = req.send().await.expect("req");
            let status = r.status();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let post = |path: String| {
        let req = app.client.post(app.url(&path)).bearer_auth(&key);
        async move {
            let r = req.send().await.expect("req");
            assert_eq!(
                r.status(),
                200,
                "{path}: {}",
                r.text().await.unwrap_or_default()
            );
        }
    };
    // Listed (and refreshed) in id order: "a-disabled" is the one whose fetch is held.
    let ids = [
        "a-disabled",
        "b-deleted",
        "c-edited",
        "d-rotated",
        "e-staged",
        "f-moved",
    ];
    for id in ids {
        let (status, body) = put(
            id,
            json!({ "kind": "saml", "domains": [format!("{id}.test")], "saml": { "idp_metadata_url": format!("{base}/{id}") } }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let before: Vec<_> = {
        let mut v = Vec::new();
        for id in ids {
            v.push(saml_settings(&app, id).await.expect("created"));
        }
        v
    };

    // The refresh reads every connector, then waits on the IdP.
    idp.hold_next.store(true, Ordering::SeqCst);
    let state = app.state.clone();
    let refresh = tokio::spawn(async move { refresh_saml_metadata(&state).await });
    idp.arrived.notified().await;

    // Meanwhile, the administrator:
    let r = app
        .client
        .put(app.url("/api/v1/connectors/a-disabled"))
        .bearer_auth(&key)
        .json(&json!({ "kind": "saml", "enabled": false, "domains": ["a-disabled.test"], "saml": { "idp_metadata_url": format!("{base}/a-disabled") } }))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = app
        .client
        .delete(app.url("/api/v1/connectors/b-deleted"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 204);
    let (status, body) = put(
        "c-edited",
        json!({
            "kind": "saml",
            "domains": ["c-edited.test", "c-new.test"],
            "saml": { "idp_metadata_url": format!("{base}/c-edited") },
            "role_mappings": [{ "id": "eng", "value": "engineering", "organization": "Acme", "role": "member" }],
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    post("/api/v1/connectors/d-rotated/rotate-sp-key".into()).await;
    post("/api/v1/connectors/e-staged/sp-key/stage".into()).await;
    let (status, body) = put(
        "f-moved",
        json!({ "kind": "saml", "domains": ["f-moved.test"], "saml": { "idp_metadata_url": format!("{base}/f-moved-elsewhere") } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin: Vec<_> = {
        let mut v = Vec::new();
        for id in ids {
            v.push(saml_settings(&app, id).await);
        }
        v
    };

    // The IdP answers now, with rolled-over metadata.
    idp.rolled_over.store(true, Ordering::SeqCst);
    idp.release.notify_one();
    let report = refresh.await.expect("join").expect("refresh");

    let rolled = vec![cert_b64("idp"), cert_b64("attacker")];
    assert_eq!(
        report.updated,
        vec!["a-disabled", "c-edited", "d-rotated", "e-staged"],
        "{report:?}"
    );
    assert_eq!(report.skipped, vec!["b-deleted", "f-moved"], "{report:?}");

    // Deleted stays deleted.
    assert!(
        saml_settings(&app, "b-deleted").await.is_none(),
        "a deleted connector came back"
    );
    // Everyone else: the administrator's row, with only the metadata fields refreshed.
    for (i, id) in ids.iter().enumerate() {
        let Some((admin_rec, admin_saml)) = admin[i].clone() else {
            continue;
        };
        let (rec, saml) = saml_settings(&app, id).await.expect("exists");
        assert_eq!(rec.enabled, admin_rec.enabled, "{id}: enabled reverted");
        assert_eq!(rec.domains, admin_rec.domains, "{id}: domains reverted");
        assert_eq!(rec.secrets, admin_rec.secrets, "{id}: SP keys reverted");
        let mut expected = admin_saml.clone();
        if *id != "f-moved" {
            expected.idp_signing_certificates = rolled.clone();
            expected.idp_metadata_xml = saml.idp_metadata_xml.clone();
            assert!(
                saml.idp_metadata_xml.contains(&cert_b64("attacker")),
                "{id}: XML not refreshed"
            );
        }
        assert_eq!(saml, expected, "{id}: only the metadata fields may change");
        let all: ConnectorSettings = serde_json::from_value(rec.config).expect("settings");
        let admin_all: ConnectorSettings =
            serde_json::from_value(admin_rec.config).expect("settings");
        assert_eq!(
            all.role_mappings, admin_all.role_mappings,
            "{id}: role mappings reverted"
        );
    }
    // Spot checks of what the administrator did, against what was there before.
    assert!(!admin[0].as_ref().expect("a").0.enabled);
    assert_eq!(
        admin[2].as_ref().expect("c").1.sp_certificate_pem,
        before[2].1.sp_certificate_pem
    );
    assert_eq!(admin[2].as_ref().expect("c").0.domains.len(), 2);
    assert_ne!(
        admin[3].as_ref().expect("d").1.sp_certificate_pem,
        before[3].1.sp_certificate_pem
    );
    assert!(admin[4]
        .as_ref()
        .expect("e")
        .1
        .next_sp_certificate_pem
        .is_some());
    let (_, moved) = saml_settings(&app, "f-moved").await.expect("f");
    assert_eq!(
        moved.idp_metadata_url,
        Some(format!("{base}/f-moved-elsewhere"))
    );
    assert_eq!(
        moved.idp_signing_certificates,
        vec![cert_b64("idp")],
        "skipped, not written"
    );

    // The skipped connector is refreshed at the next round (nothing held now).
    let report = refresh_saml_metadata(&app.state).await.expect("refresh");
    assert_eq!(report.updated, vec!["f-moved"], "{report:?}");
    let (_, moved) = saml_settings(&app, "f-moved").await.expect("f");
    assert_eq!(moved.idp_signing_certificates, rolled);
}

mod during_a_refresh {
    #[tokio::test]
    async fn on_sqlite_changes_made_during_a_refresh_stand() {
        super::changes_made_during_a_refresh_stand(crate::support::Db::Sqlite).await
    }
    #[tokio::test]
    async fn on_postgres_changes_made_during_a_refresh_stand() {
        super::changes_made_during_a_refresh_stand(crate::support::Db::Postgres).await
    }
}
