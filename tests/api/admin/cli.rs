//! The `ssogate` binary as a person runs it.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{fresh_database, Db};

const BIN: &str = env!("CARGO_BIN_EXE_ssogate");

/// The `ssogate` binary run in `dir`, without the tests' own `SSOGATE_*` settings.
pub fn ssogate(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    // The tests' own configuration must not leak into the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("SSOGATE_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "info");
    c
}

/// A running `ssogate` child, killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The first answer of `url` (any status) from the child, within 30 s.
pub async fn wait_healthy(url: &str, child: &mut Running) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            return r;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("ssogate exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "ssogate did not answer {url} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The README's first command: `ssogate serve` with no configuration listens on
/// 127.0.0.1:8080 and creates ./ssogate.db (and its master key file).
#[tokio::test]
async fn serve_with_no_config_uses_the_embedded_default() {
    if TcpListener::bind("127.0.0.1:8080").is_err() {
        panic!("port 8080 is in use: this test runs `ssogate serve` with its default address; free the port");
    }
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Running(
        ssogate(dir.path())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let r = wait_healthy("http://127.0.0.1:8080/healthz", &mut child).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        reqwest::get("http://127.0.0.1:8080/readyz")
            .await
            .expect("readyz")
            .status(),
        200
    );
    assert!(
        dir.path().join("ssogate.db").exists(),
        "./ssogate.db is created"
    );
    let key = std::fs::read_to_string(dir.path().join("ssogate.key")).expect("master key file");
    assert_eq!(key.trim().len(), 44, "base64 of 32 bytes");
}

#[tokio::test]
async fn serve_uses_postgres_when_the_url_says_so() {
    let db = fresh_database(Db::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut child = Running(
        ssogate(dir.path())
            .arg("serve")
            .env("SSOGATE_DATABASE__URL", &db.url)
            .env("SSOGATE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let r = wait_healthy(&format!("http://127.0.0.1:{port}/readyz"), &mut child).await;
    assert_eq!(r.status(), 200);
    assert!(
        !dir.path().join("ssogate.db").exists(),
        "no SQLite file with PostgreSQL"
    );
    // The schema is in PostgreSQL.
    let store = ssogate::store::Store::connect(&db.url, 1, Duration::from_secs(5))
        .await
        .expect("connect");
    let mut c = store.read().await.expect("conn");
    assert_eq!(
        ssogate::store::users::count(&mut c)
            .await
            .expect("users table"),
        0
    );
}

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = ssogate(dir);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run ssogate")
}

/// One clear line naming the key or the cause; non-zero exit; no panic or backtrace.
fn assert_clean_failure(out: &Output, expected: &[&str]) {
    assert!(
        !out.status.success(),
        "expected failure, got {:?}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {stderr}");
    assert!(lines[0].starts_with("ssogate: error: "), "{stderr}");
    for e in expected {
        assert!(lines[0].contains(e), "{e:?} not in {stderr}");
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn bad_configuration_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(
        dir.path(),
        &["serve"],
        &[("SSOGATE_SERVER__LISTN", "127.0.0.1:1")],
    );
    assert_clean_failure(&out, &["server", "listn", "unknown field"]);

    let out = run(
        dir.path(),
        &["serve"],
        &[("SSOGATE_SERVER__PUBLIC_URL", "ht!tp://nope")],
    );
    assert_clean_failure(&out, &["server.public_url"]);

    let out = run(
        dir.path(),
        &["serve"],
        &[("SSOGATE_DATABASE__URL", "mysql://x")],
    );
    assert_clean_failure(&out, &["database.url"]);

    std::fs::write(
        dir.path().join("c.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\n[databse]\nurl = \"x\"\n",
    )
    .expect("write");
    let out = run(dir.path(), &["serve", "--config", "c.toml"], &[]);
    assert_clean_failure(&out, &["databse"]);

    let out = run(dir.path(), &["serve", "--config", "missing.toml"], &[]);
    assert_clean_failure(&out, &["missing.toml", "not found"]);
    assert!(
        !dir.path().join("ssogate.db").exists(),
        "nothing is created on a bad configuration"
    );
}

#[test]
fn an_unreachable_database_fails_with_the_cause() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port(); // nothing listens there
    let url = format!("postgres://ssogate:secret-pw@127.0.0.1:{port}/nope");
    let out = run(
        dir.path(),
        &["serve"],
        &[
            ("SSOGATE_DATABASE__URL", &url),
            ("SSOGATE_DATABASE__CONNECT_TIMEOUT_SECS", "2"),
        ],
    );
    assert_clean_failure(&out, &["database", &format!("127.0.0.1:{port}")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("secret-pw"),
        "the password is not printed: {stderr}"
    );
}

#[test]
fn migrate_and_api_key_create() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(dir.path(), &["migrate"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("ssogate.db").exists());

    let out = run(dir.path(), &["api-key", "create", "--name", "deploy"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    assert!(key.starts_with("sgk_"), "{key}");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let url = format!("sqlite://{}/ssogate.db", dir.path().display());
        let store = ssogate::store::Store::connect(&url, 1, Duration::from_secs(5))
            .await
            .expect("connect");
        let mut c = store.read().await.expect("conn");
        let found = ssogate::store::api_keys::verify(&mut c, &key)
            .await
            .expect("verify")
            .expect("the printed key is valid");
        assert_eq!(found.name, "deploy");
        // Created through the admin layer: audited, naming the key, never its secret.
        let events = ssogate::store::audit::query(
            &mut c,
            &ssogate::store::audit::AuditFilter {
                kind: Some("api_key.created".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("audit");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].actor.as_deref(), Some("cli"));
        assert_eq!(events[0].data["name"], "deploy");
        assert!(
            !events[0].data.to_string().contains(&key),
            "no secret in the audit log"
        );
    });

    let out = run(dir.path(), &["api-key", "create", "--name", " "], &[]);
    assert_clean_failure(&out, &["--name"]);
}
