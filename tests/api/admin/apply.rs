//! `ssogate apply FILE`: idempotent, transactional, reproducible SP keys, secrets sealed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ssogate::connectors::secrets::ConnectorSecrets;
use ssogate::connectors::settings::ConnectorSettings;
use ssogate::secrets::MasterKey;
use ssogate::store::{connectors, organizations, Store};

use crate::support::{keycloak_issuer, keycloak_realm, keycloak_url};

const BIN: &str = env!("CARGO_BIN_EXE_ssogate");

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml")
}

fn keycloak_file() -> String {
    format!(
        r#"
[[roles]]
name = "member"
[[roles]]
name = "developer"

[[connectors]]
id = "kc-saml"
kind = "saml"
display_name = "Keycloak (SAML)"
domains = ["Acme.Test"]
[connectors.saml]
idp_metadata_url = "{kc}/realms/{realm}/protocol/saml/descriptor"
sp_entity_id = "urn:ssogate:test:sp"
sp_private_key_file = "{fx}/sp.key"
sp_certificate_file = "{fx}/sp.crt"

[[connectors]]
id = "kc-oidc"
kind = "oidc"
domains = ["globex.test"]
profile_sync = "every_sign_in"
[connectors.oidc]
issuer = "{issuer}"
client_id = "ssogate-oidc"
client_secret = "ssogate-oidc-secret"

[[organizations]]
name = "Acme"
jit_connectors = ["kc-saml"]
jit_email_domains = ["acme.test"]
default_roles = ["member", "developer"]
"#,
        kc = keycloak_url(),
        realm = keycloak_realm(),
        issuer = keycloak_issuer(),
        fx = fixtures().display(),
    )
}

struct Env {
    dir: tempfile::TempDir,
    master_key: String,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("dir"),
            master_key: MasterKey::generate().to_base64(),
        }
    }

    fn apply(&self, file_text: &str) -> std::process::Output {
        let path = self.dir.path().join("setup.toml");
        std::fs::write(&path, file_text).expect("write");
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .arg("apply")
            .arg(&path)
            .env("SSOGATE_SECRETS__MASTER_KEY", &self.master_key);
        for (k, _) in std::env::vars() {
            if k.starts_with("SSOGATE_") {
                c.env_remove(k);
            }
        }
        c.env("SSOGATE_SECRETS__MASTER_KEY", &self.master_key);
        c.output().expect("run apply")
    }

    async fn store(&self) -> Store {
        let url = format!("sqlite://{}/ssogate.db", self.dir.path().display());
        Store::connect(&url, 1, Duration::from_secs(5))
            .await
            .expect("connect")
    }
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn apply_sets_up_keycloak_connectors_idempotently_with_the_given_sp_key() {
    let env = Env::new();
    let report = ok(&env.apply(&keycloak_file()));
    assert!(report.contains("connector kc-saml: created"), "{report}");
    assert!(report.contains("connector kc-oidc: created"), "{report}");

    let store = env.store().await;
    let mut c = store.read().await.expect("conn");
    let saml = connectors::get(&mut c, "kc-saml")
        .await
        .expect("get")
        .expect("saml connector");
    assert_eq!(saml.kind, "saml");
    assert_eq!(
        saml.domains,
        vec!["acme.test".to_string()],
        "domains are normalized"
    );
    let settings: ConnectorSettings =
        serde_json::from_value(saml.config.clone()).expect("typed settings");
    let s = settings.saml.expect("saml settings");
    assert_eq!(s.idp_entity_id, keycloak_issuer());
    assert_eq!(
        s.idp_sso_url,
        format!("{}/protocol/saml", keycloak_issuer())
    );
    assert!(!s.idp_signing_certificates.is_empty());
    let given_cert = std::fs::read_to_string(fixtures().join("sp.crt")).expect("cert");
    assert_eq!(
        s.sp_certificate_pem, given_cert,
        "the given SP certificate is used"
    );

    // Secrets are sealed: not in the row in clear, and they open to the given key.
    let sealed = saml.secrets.clone().expect("sealed secrets");
    assert!(!sealed.contains("PRIVATE KEY"));
    assert!(!saml.config.to_string().contains("PRIVATE KEY"));
    let key = MasterKey::from_base64(&env.master_key).expect("key");
    let opened = ConnectorSecrets::open(&saml, &key).expect("open");
    assert_eq!(
        opened.sp_private_key_pem.as_deref(),
        Some(
            std::fs::read_to_string(fixtures().join("sp.key"))
                .expect("key")
                .as_str()
        )
    );

    let oidc = connectors::get(&mut c, "kc-oidc")
        .await
        .expect("get")
        .expect("oidc connector");
    assert!(!oidc
        .secrets
        .clone()
        .unwrap_or_default()
        .contains("ssogate-oidc-secret"));
    assert_eq!(
        ConnectorSecrets::open(&oidc, &key)
            .expect("open")
            .client_secret
            .as_deref(),
        Some("ssogate-oidc-secret")
    );

    let acme = organizations::get_by_name(&mut c, "Acme")
        .await
        .expect("q")
        .expect("org");
    assert_eq!(acme.jit_connectors, vec!["kc-saml".to_string()]);
    assert_eq!(acme.default_roles.len(), 2);
    drop(c);

    // Again: same objects, same ids, nothing duplicated.
    let report = ok(&env.apply(&keycloak_file()));
    assert!(report.contains("connector kc-saml: updated"), "{report}");
    let mut c = store.read().await.expect("conn");
    assert_eq!(connectors::list(&mut c).await.expect("list").len(), 2);
    assert_eq!(organizations::list(&mut c).await.expect("list").len(), 1);
    assert_eq!(
        organizations::list_roles(&mut c)
            .await
            .expect("roles")
            .len(),
        2
    );
    assert_eq!(
        organizations::get_by_name(&mut c, "Acme")
            .await
            .expect("q")
            .expect("org")
            .id,
        acme.id
    );
}

#[tokio::test]
async fn a_generated_sp_key_is_kept_across_applies() {
    let env = Env::new();
    let file = keycloak_file()
        .replace(
            &format!(
                "sp_private_key_file = \"{}/sp.key\"\n",
                fixtures().display()
            ),
            "",
        )
        .replace(
            &format!(
                "sp_certificate_file = \"{}/sp.crt\"\n",
                fixtures().display()
            ),
            "",
        );
    assert!(!file.contains("sp_private_key_file"));
    ok(&env.apply(&file));
    let store = env.store().await;
    let cert = |c: connectors::ConnectorRecord| {
        serde_json::from_value::<ConnectorSettings>(c.config)
            .expect("settings")
            .saml
            .expect("saml")
            .sp_certificate_pem
    };
    let mut c = store.read().await.expect("conn");
    let first = cert(
        connectors::get(&mut c, "kc-saml")
            .await
            .expect("get")
            .expect("c"),
    );
    assert!(first.contains("BEGIN CERTIFICATE"));
    drop(c);
    ok(&env.apply(&file));
    let mut c = store.read().await.expect("conn");
    assert_eq!(
        cert(
            connectors::get(&mut c, "kc-saml")
                .await
                .expect("get")
                .expect("c")
        ),
        first
    );
}

#[tokio::test]
async fn metadata_without_a_signing_certificate_cannot_be_saved() {
    let env = Env::new();
    let file = r#"
[[roles]]
name = "member"
[[connectors]]
id = "nocert"
kind = "saml"
[connectors.saml]
idp_metadata_xml = '''<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>'''
"#;
    let out = env.apply(file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no signing certificate"), "{stderr}");
    // Nothing written, not even the role that came before it in the file.
    let store = env.store().await;
    let mut c = store.read().await.expect("conn");
    assert!(connectors::list(&mut c).await.expect("list").is_empty());
    assert!(organizations::list_roles(&mut c)
        .await
        .expect("roles")
        .is_empty());
}

#[tokio::test]
async fn an_unknown_default_role_fails_and_writes_nothing() {
    let env = Env::new();
    let file = r#"
[[roles]]
name = "member"
[[organizations]]
name = "Acme"
default_roles = ["membr"]
"#;
    let out = env.apply(file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("membr") && stderr.contains("organization template"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let store = env.store().await;
    let mut c = store.read().await.expect("conn");
    assert!(
        organizations::list_roles(&mut c)
            .await
            .expect("roles")
            .is_empty(),
        "the transaction rolled back"
    );
    assert!(organizations::list(&mut c).await.expect("orgs").is_empty());

    let out = env.apply("[[connectors]]\nid = \"x\"\nkind = \"saml\"\nbogus = 1\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}

/// Plain-http trust anchors are refused by `apply` (before anything is fetched: the hosts
/// do not exist); `allow_insecure_http = true` (optional, default false) allows one and
/// the linter then warns.
#[test]
fn apply_refuses_plain_http_trust_anchors_unless_allowed() {
    let env = Env::new();
    let refused = |file: &str, message: &str| {
        let out = env.apply(file);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{err}");
    };
    refused(
        "[[connectors]]\nid = \"acme\"\nkind = \"saml\"\n[connectors.saml]\nidp_metadata_url = \"http://idp.example.com/metadata\"\n",
        "connector \"acme\": insecure_trust_anchor: metadata_url must be https (or set allow_insecure_http = true): http://idp.example.com/metadata",
    );
    let oidc = |flag: &str| {
        format!("[[connectors]]\nid = \"corp\"\nkind = \"oidc\"\n{flag}[connectors.oidc]\nissuer = \"http://idp.example.com/realms/corp\"\nclient_id = \"ssogate\"\n")
    };
    let message = "connector \"corp\": insecure_trust_anchor: issuer must be https (or set allow_insecure_http = true): http://idp.example.com/realms/corp";
    refused(&oidc(""), message);
    refused(&oidc("allow_insecure_http = false\n"), message);
    let out = env.apply(&oidc("allow_insecure_http = true\n"));
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning [insecure_http_allowed]"), "{err}");
}
