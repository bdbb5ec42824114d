//! A PostgreSQL server of one test's own, for tests that stop and start the database
//! (the shared one from `scripts/test.sh` serves every other test at the same time and
//! must never be stopped).
//!
//! `initdb` into a temporary directory, `pg_ctl start` on a free 127.0.0.1 port (trust
//! authentication, user `ssogate`), `stop`/`start` at will; the server is stopped
//! (immediately) and its files removed when the value is dropped. As root, the server
//! runs as the `postgres` user (`runuser`), which owns the directory. The binaries are
//! the newest under `/usr/lib/postgresql/*/bin` (scripts/install-deps.sh installs them),
//! or `SSOGATE_TEST_POSTGRES_BIN`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sqlx::Connection;
use tokio::process::Command;

pub struct PrivatePostgres {
    /// `postgres://ssogate@127.0.0.1:<port>`, no database.
    base_url: String,
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres_user: bool,
    running: bool,
    /// Holds the data directory, the socket and the log until the test ends.
    dir: tempfile::TempDir,
}

fn postgres_bin() -> PathBuf {
    if let Ok(b) = std::env::var("SSOGATE_TEST_POSTGRES_BIN") {
        if !b.is_empty() {
            return PathBuf::from(b);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    match candidates.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server binaries are not installed (no /usr/lib/postgresql/*/bin/pg_ctl): \
             run `bash scripts/install-deps.sh`, or set SSOGATE_TEST_POSTGRES_BIN"
        ),
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PrivatePostgres {
    /// A new, running server.
    pub async fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let as_postgres_user = is_root();
        if as_postgres_user {
            let ok = std::process::Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "chown of the private PostgreSQL's directory to postgres"
            );
        }
        let port = free_port();
        let mut pg = PrivatePostgres {
            base_url: format!("postgres://ssogate@127.0.0.1:{port}"),
            port,
            bin: postgres_bin(),
            data: dir.path().join("data"),
            as_postgres_user,
            running: false,
            dir,
        };
        let data = pg.data.display().to_string();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "ssogate",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .await;
        pg.start_again().await;
        pg
    }

    async fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed ({}): {}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Starts the (stopped) server again, on the same port and data.
    pub async fn start_again(&mut self) {
        let data = self.data.display().to_string();
        let log = self.log().display().to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &opts, "start",
            ],
        )
        .await;
        self.running = true;
    }

    /// Stops the server the way an administrator restarting it does (`-m fast`: open
    /// transactions are rolled back, connections are closed).
    pub async fn stop(&mut self) {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-w", "-m", "fast", "stop"])
            .await;
        self.running = false;
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        sqlx::any::install_default_drivers();
        let admin = format!("{}/postgres", self.base_url);
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("connecting to the private PostgreSQL at {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        format!("{}/{name}", self.base_url)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let exe = self.bin.join("pg_ctl");
        let data = self.data.display().to_string();
        let args = ["-D", data.as_str(), "-w", "-m", "immediate", "stop"];
        let mut cmd = if self.as_postgres_user {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let _ = cmd
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
