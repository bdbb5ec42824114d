//! A server of its own in the shared test nginx: listens on a free 127.0.0.1 port and
//! puts forward-auth (scripts/services/nginx.sh's locations) in front of `upstream`.
//! Same host as ssogate (127.0.0.1; cookies ignore ports), as with an app and ssogate
//! under one parent domain in production.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::required_service;

pub struct NginxSite {
    pub url: String,
    file: std::path::PathBuf,
}

impl NginxSite {
    /// A site for the app named `echo` (the tests' usual name).
    pub async fn start(ssogate_port: u16, upstream_port: u16) -> NginxSite {
        NginxSite::start_for("echo", ssogate_port, upstream_port).await
    }

    /// A site whose auth URL names `app` (`/auth/verify?app=<app>`): the only server on
    /// its port, so nginx's default server there, whatever `Host` a client sends.
    pub async fn start_for(app: &str, ssogate_port: u16, upstream_port: u16) -> NginxSite {
        let dir = std::path::PathBuf::from(required_service("SSOGATE_TEST_NGINX_DIR", "nginx"));
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let file = dir.join("sites").join(format!("test-{port}.conf"));
        let conf = format!(
            "server {{\n    listen 127.0.0.1:{port};\n    set $ssogate_port {ssogate_port};\n    set $app_port {upstream_port};\n    set $ssogate_app {app};\n    include {}/ssogate-locations.conf;\n}}\n",
            dir.display()
        );
        std::fs::write(&file, conf).expect("write the site");
        let pid: i32 = std::fs::read_to_string(dir.join("nginx.pid"))
            .expect("nginx.pid")
            .trim()
            .parse()
            .expect("pid");
        let status = std::process::Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "reloading nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start listening on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        NginxSite {
            url: format!("http://127.0.0.1:{port}"),
            file,
        }
    }
}

impl Drop for NginxSite {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
