//! The `ssogate` command: parse the command line, load the configuration, run.
//! Every failure ends as one line on stderr and a non-zero exit; never a panic trace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use ssogate::app::{self, App};
use ssogate::apply::{self, ApplyContext};
use ssogate::config::Config;
use ssogate::store::{now_ms, signing_keys};
use ssogate::tokens::{rotation, Policy};

#[derive(Parser)]
#[command(
    name = "ssogate",
    version,
    about = "A login gateway: enterprise SSO, JIT provisioning, forward-auth"
)]
struct Cli {
    /// Configuration file (TOML). Environment variables SSOGATE_<SECTION>__<KEY> override it.
    #[arg(long, global = true, env = "SSOGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage management-API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Idempotently upsert connectors, organizations, roles and apps from a TOML file.
    Apply {
        file: PathBuf,
        /// Refuse to apply (and change nothing) when the configuration linter warns.
        #[arg(long)]
        strict: bool,
    },
    /// Manage ssogate's token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Publish a new signing key now; it signs once relying parties had time to fetch it
    /// (tokens.jwks_max_age_secs), and the current key leaves the JWKS after its tokens expired.
    Rotate,
    /// List the signing keys and their windows.
    List,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Print a new API key (stored hashed; shown once).
    Create {
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Panics are bugs; should one happen, say so in one line rather than a trace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!("ssogate: internal error (a bug): {msg}");
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ssogate: error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssogate: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// A unix-ms time for people (UTC, RFC 3339).
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    ssogate::telemetry::init(&config.log);
    match cli.command {
        Command::Serve => App::build(config).await?.run().await,
        Command::Migrate => {
            app::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::ApiKey {
            command: ApiKeyCommand::Create { name },
        } => {
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
            let store = app::open_store(&config).await?;
            let (key, plaintext) =
                ssogate::admin::api_keys::create(&store, &name, &ssogate::admin::Actor::cli())
                    .await?;
            eprintln!(
                "created API key {:?} (id {}); it is shown only once:",
                key.name, key.id
            );
            println!("{plaintext}");
            Ok(())
        }
        Command::Keys { command } => {
            let store = app::open_store(&config).await?;
            let master_key = app::load_master_key(&config, store.backend())?;
            let policy = Policy::from_config(&config.tokens)?;
            let now = now_ms();
            if let KeysCommand::Rotate = command {
                let applied = rotation::ensure(&store, &master_key, &policy, now, true).await?;
                match (&applied.created, &applied.pending) {
                    (Some((kid, _, sign_from)), _) => println!(
                        "key {kid} ({}) published now; signs from {}",
                        config.tokens.algorithm,
                        when(*sign_from)
                    ),
                    (None, Some((kid, sign_from))) => println!(
                        "key {kid} is already waiting to sign from {}; nothing to do",
                        when(*sign_from)
                    ),
                    (None, None) => println!("nothing to do"),
                }
                if let Some((kid, retire_at, remove_at)) = &applied.retired {
                    println!(
                        "key {kid} stops signing at {} and leaves the JWKS at {}",
                        when(*retire_at),
                        when(*remove_at)
                    );
                }
            }
            let mut conn = store.read().await?;
            for k in signing_keys::list(&mut conn).await? {
                println!(
                    "{} {} published {} signs {} retires {} removed {}",
                    k.kid,
                    k.alg,
                    when(k.publish_at),
                    when(k.sign_from),
                    k.retire_at.map(when).unwrap_or_else(|| "-".into()),
                    k.remove_at.map(when).unwrap_or_else(|| "-".into()),
                );
            }
            Ok(())
        }
        Command::Apply { file, strict } => {
            let parsed = apply::parse_file(&file)?;
            let store = app::open_store(&config).await?;
            let master_key = app::load_master_key(&config, store.backend())?;
            let http = app::http_client()?;
            let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let ctx = ApplyContext {
                store: &store,
                master_key: &master_key,
                http: &http,
                base_dir: Some(&base_dir),
                strict,
            };
            let report = apply::apply(&parsed, &ctx)
                .await
                .with_context(|| format!("apply {}", file.display()))?;
            for line in report.lines {
                println!("{line}");
            }
            for w in &report.warnings {
                eprintln!("warning [{}]: {} (fix: {})", w.code, w.message, w.fix);
            }
            Ok(())
        }
    }
}
