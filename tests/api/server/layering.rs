//! The structure rules of `src/`, checked on the source text so that a change that breaks
//! one fails here instead of drifting back unnoticed:
//! - nothing outside `src/http/` uses `crate::http` (only `app.rs`, the top, builds the
//!   router): the shared request context and sessions live in `request` and `session`;
//! - the `Cookie` request header is parsed in one place, `src/request.rs` (two
//!   hand-written parsers had grown apart before);
//! - background tasks are spawned only in `src/jobs/`, the module whose documentation
//!   states the rule their writes follow.
//!
//! Comment lines and `#[cfg(test)]` modules (at the end of a file, by house style) are
//! not checked.

use std::path::{Path, PathBuf};

use regex::Regex;

/// Every `.rs` file under `src/`, with its path relative to the crate root ('/'-separated)
/// and its code lines (numbered from 1) up to its `#[cfg(test)]` module.
fn sources() -> Vec<(String, Vec<(usize, String)>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "found the sources ({} files)",
        files.len()
    );
    files
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(root)
                .expect("under the crate root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(&path).expect("read source");
            let code = text
                .lines()
                .enumerate()
                .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            (rel, code)
        })
        .collect()
}

/// `file:line: text` of every code line matching `pattern` in a file `allowed` rejects.
fn offenders(pattern: &str, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let re = Regex::new(pattern).expect("pattern");
    let mut found = Vec::new();
    for (file, lines) in sources() {
        if allowed(&file) {
            continue;
        }
        for (n, line) in lines {
            if re.is_match(&line) {
                found.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn nothing_outside_http_uses_the_http_layer() {
    let found = offenders(r"\bcrate::http\b", |f| {
        f.starts_with("src/http/") || f == "src/app.rs"
    });
    assert_eq!(
        found,
        Vec::<String>::new(),
        "http/ may use every module, no module may use http/ (move what is shared to \
         request.rs or session/)"
    );
}

#[test]
fn the_cookie_header_is_parsed_in_one_place() {
    // `COOKIE` the request header (not `SET_COOKIE`, not a `*_COOKIE` name constant).
    let found = offenders(r"(^|[^A-Za-z0-9_])COOKIE\b|split_parse", |f| {
        f == "src/request.rs"
    });
    assert_eq!(
        found,
        Vec::<String>::new(),
        "read cookies with request::cookie_value, not with another parser"
    );
}

#[test]
fn background_tasks_are_spawned_in_jobs_only() {
    let found = offenders(r"\btokio::spawn\b|\btask::spawn\(", |f| {
        f.starts_with("src/jobs/")
    });
    assert_eq!(
        found,
        Vec::<String>::new(),
        "a background task belongs in src/jobs/ (and follows the rule for background \
         writes there)"
    );
}

#[test]
fn a_connector_row_is_parsed_in_one_place() {
    // Its `config` JSON into settings, or its `kind` string into a kind: only
    // `Connector::from_record` (`admin/connectors.rs` parses the kind of an administrator's
    // input, not a row).
    let found = offenders(
        r#"from_value(::<ConnectorSettings>)?\([a-z_]*\.config\b|ConnectorKind::parse\(&?[a-z_]*\.kind\b|\.kind (==|!=) "|kind\.as_str\(\), ""#,
        |f| f == "src/connectors/connector.rs",
    );
    let found: Vec<_> = found
        .into_iter()
        .filter(|l| {
            !l.starts_with("src/admin/connectors.rs:")
                || !l.contains("ConnectorKind::parse(&spec.kind")
        })
        .collect();
    assert_eq!(
        found,
        Vec::<String>::new(),
        "read connectors as crate::connectors::Connector (load, load_all, from_record), \
         never their row's kind or config again"
    );
}

#[test]
fn the_sign_in_path_does_not_depend_on_the_apply_command() {
    let found = offenders(r"\bcrate::admin::apply\b", |f| {
        !(f.starts_with("src/connectors/")
            || f.starts_with("src/flow/")
            || matches!(
                f,
                "src/http/login.rs" | "src/http/saml.rs" | "src/http/oidc.rs"
            ))
    });
    assert_eq!(
        found,
        Vec::<String>::new(),
        "connector secrets and settings live in connectors/, not in the CLI module"
    );
}

/// The engine decides in one place outside its own tests: `provisioning::plan_sign_in`,
/// which real sign-ins and the dry run share (the dry run once repeated its first steps
/// in a file named lint, and could drift from what a sign-in does).
#[test]
fn a_decision_is_made_in_one_place() {
    let found = offenders(r"\bdecide\(", |path| {
        path == "src/provisioning/mod.rs" || path.starts_with("src/signin/")
    });
    assert!(found.is_empty(), "decide( called elsewhere: {found:#?}");
    let found = offenders(r"\bplan_sign_in\(", |path| {
        path == "src/provisioning/mod.rs" || path == "src/http/api/dry_run.rs"
    });
    assert!(found.is_empty(), "unexpected callers: {found:#?}");
}
