//! `tripkey serve`: the sources, the engine, the outbox, the HTTP API and the canary chores
//! (last-used safety net, renewal and key deletion) in one process, stopped gracefully by
//! SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use detect::Span;
use notify::escape::for_terminal;
use pipeline::delivery::{Deliverer, DeliverySettings};
use pipeline::workers::{HEARTBEAT_EVERY, JOB_LEASE};
use pipeline::{DirSource, EngineHandle, Ingestor, MemoryBudget, Metrics, Route, WorkerIdentity};
use registry::CanaryService;
use store::{Location, SchemaState, Store};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tripkey_aws_sources::{S3Lister, S3Source, S3SourceConfig, SqsSource, SqsSourceConfig};

use crate::aws_issuer::AwsIssuer;
use crate::canary::AwsArgs;
use crate::config::{Config, SourceConfig};

/// Where `serve` listens when neither `--listen` nor `[serve] listen` says.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

/// `tripkey serve` options; the configuration file holds the rest.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Configuration file (tripkey.toml) with [serve], [[source]], [[sink]] and [[route]].
    #[arg(long, value_name = "FILE", env = "TRIPKEY_CONFIG")]
    config: Option<PathBuf>,
    /// The database: an SQLite file (a path or sqlite:PATH) or
    /// postgres://USER:PASSWORD@HOST/DATABASE; TRIPKEY_DB is read too [default: `[store] url`
    /// or `path`, else ~/.local/share/tripkey/tripkey.db].
    #[arg(
        long = "database",
        visible_alias = "db",
        value_name = "PATH_OR_URL",
        env = "TRIPKEY_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Address for the HTTP API (/healthz, /metrics, POST /ingest) [default: `[serve]
    /// listen`, else 127.0.0.1:8470].
    #[arg(long, value_name = "ADDR", env = "TRIPKEY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Log format on stderr: `text` for people, `json` for a log pipeline. `TRIPKEY_LOG`
    /// (or `RUST_LOG`) sets the level, e.g. `debug` or `info,pipeline=debug` [default: info].
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "TRIPKEY_LOG_FORMAT")]
    log_format: LogFormat,
    /// Also read this SQS queue of S3 notifications or EventBridge events, as a source named
    /// `sqs:QUEUE`. Repeatable; comma-separated in the environment variable.
    #[arg(
        long = "sqs",
        value_name = "QUEUE_URL",
        env = "TRIPKEY_SQS",
        value_delimiter = ','
    )]
    sqs: Vec<String>,
    /// Also poll this trail bucket, as a source named `s3:BUCKET[/PREFIX]`. Repeatable;
    /// comma-separated in the environment variable.
    #[arg(
        long = "s3",
        value_name = "s3://BUCKET[/PREFIX]",
        env = "TRIPKEY_S3",
        value_delimiter = ','
    )]
    s3: Vec<String>,
    /// Also watch this local folder for log files, as a source named `dir:PATH`. Repeatable;
    /// comma-separated in the environment variable.
    #[arg(
        long = "dir",
        value_name = "PATH",
        env = "TRIPKEY_DIR",
        value_delimiter = ','
    )]
    dirs: Vec<PathBuf>,
    /// Check the configuration (sources, sinks and their secrets in the environment, routes,
    /// the database) and exit without starting: 0 when serve would start.
    #[arg(long)]
    check: bool,
    /// Also watch for the canaries of this file (TOML `[[canary]]` tables or a JSON list, as
    /// `scan --canaries` reads): keys planted by other tools or by hand, beside those of the
    /// database [default: `[serve] canaries`].
    #[arg(long, value_name = "FILE")]
    canaries: Option<PathBuf>,
    /// AWS connection for the S3 and SQS sources, SNS and the canary chores.
    #[command(flatten)]
    aws: AwsArgs,
}

impl ServeArgs {
    /// The sources given as flags, added to the config's `[[source]]` tables with their
    /// defaults. Their names come from what they read, so checkpoints survive restarts.
    fn flag_sources(&self) -> anyhow::Result<Vec<SourceConfig>> {
        let mut sources = Vec::new();
        for queue_url in &self.sqs {
            let queue = queue_url
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            anyhow::ensure!(
                queue_url.starts_with("http") && !queue.is_empty(),
                "--sqs {queue_url:?} is not a queue URL; give it as SQS shows it, e.g. \
                 https://sqs.us-east-1.amazonaws.com/111122223333/trail-objects"
            );
            sources.push(SourceConfig::Sqs {
                name: format!("sqs:{queue}"),
                queue_url: queue_url.clone(),
                visibility: None,
            });
        }
        for location in &self.s3 {
            let (bucket, prefix) = location
                .strip_prefix("s3://")
                .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
                .filter(|(bucket, _)| !bucket.is_empty())
                .with_context(|| {
                    format!("--s3 {location:?} is not s3://BUCKET or s3://BUCKET/PREFIX")
                })?;
            let prefix = prefix.trim_end_matches('/');
            sources.push(SourceConfig::S3 {
                name: if prefix.is_empty() {
                    format!("s3:{bucket}")
                } else {
                    format!("s3:{bucket}/{prefix}")
                },
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                poll: None,
                start_back: None,
                batch_objects: None,
                claim: None,
                quarantine_after: None,
            });
        }
        for path in &self.dirs {
            sources.push(SourceConfig::Dir {
                name: format!("dir:{}", path.display()),
                path: path.clone(),
                poll: None,
            });
        }
        Ok(sources)
    }
}

/// How `serve` writes its log.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Structured logs on stderr, at `default_level` unless `TRIPKEY_LOG` or `RUST_LOG` says.
/// Secrets never reach them: sinks and sources log names, counts and errors, and credentials
/// are wrapped in types whose Debug form is redacted.
pub(crate) fn init_logging(format: LogFormat, colour: bool, default_level: &str) {
    let filter = std::env::var("TRIPKEY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| tracing_subscriber::EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colour).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs, colour: bool) -> anyhow::Result<u8> {
    init_logging(args.log_format, colour, "info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

fn duration(span: Option<Span>, default: Duration) -> Duration {
    span.map_or(default, |span| {
        Duration::from_millis(u64::try_from(span.millis()).unwrap_or(0))
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let mut config = Config::load_optional(args.config.as_deref())?;
    config.sources.extend(args.flag_sources()?);
    config
        .check_sources()
        .context("--sqs, --s3 and --dir add sources")?;
    if let Some(file) = &args.canaries {
        config.serve.canaries = Some(file.clone());
    }
    let database = config.database(args.database.as_deref())?;
    let aws = args.aws.options_with(&config.aws);
    if args.check {
        return check(&config, &database, &aws).await;
    }
    if args.config.is_none() && config.sources.is_empty() && config.sinks.is_empty() {
        eprintln!(
            "tripkey serve: no configuration file (--config FILE or TRIPKEY_CONFIG), so it runs \
             on defaults: the database {}, no sources (only POST /ingest feeds the detectors) and \
             no sinks (alerts are kept in the database for `tripkey alert list`, nobody is \
             notified).\n  Next: `tripkey init --source sqs --sink slack` writes a commented \
             tripkey.toml to start from; `tripkey serve --config tripkey.toml --check` checks it.",
            for_terminal(&database.to_string())
        );
    }
    let listen = args
        .listen
        .or(config.serve.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("the default address parses"));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}: is another tripkey serve running?"))?;
    run_with(config, &database, aws, listener).await
}

/// `serve --check`: builds the sinks and routes and looks at the database, then reports.
async fn check(
    config: &Config,
    database: &Location,
    aws: &tripkey_aws::AwsOptions,
) -> anyhow::Result<u8> {
    let sinks = crate::sinks::build_all(config, aws).await?;
    let names: Vec<String> = sinks.iter().map(|s| s.name().to_owned()).collect();
    notify::Router::new(config.routes.clone(), &names).context("a [[route]] table is wrong")?;
    if let Some(file) = &config.serve.canaries {
        crate::canaries::load(file)?;
    }
    // A check must leave nothing behind: an existing database is opened to see that it is
    // usable, a missing one (no SQLite file, or a PostgreSQL database that answers but has
    // no tables yet) is only reported.
    let database_state = match database.status().await?.state {
        SchemaState::Missing => "not there yet; serve will create it",
        SchemaState::Empty => "no tables yet; serve will create them",
        SchemaState::Foreign | SchemaState::Migrated => {
            database.open_existing().await?.close().await;
            "ok"
        }
    };
    let sources: Vec<&str> = config.sources.iter().map(SourceConfig::name).collect();
    println!(
        "configuration ok: database {} ({database_state}); sources: {}; sinks: {}; {}",
        for_terminal(&database.to_string()),
        if sources.is_empty() {
            "none (POST /ingest only)".to_owned()
        } else {
            sources.join(", ")
        },
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        },
        crate::output::count(config.routes.len() as u64, "route")
    );
    Ok(0)
}

/// Runs `serve` on an already-bound listener until SIGTERM or Ctrl-C: the database at
/// `database`, the sources, sinks, routes and API of `config`, and AWS (when anything needs
/// it) through `aws`. `tripkey demo` runs it in-process on a configuration it builds.
pub(crate) async fn run_with(
    config: Config,
    database: &Location,
    aws: tripkey_aws::AwsOptions,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<u8> {
    let sinks = crate::sinks::build_all(&config, &aws).await?;
    let names: Vec<String> = sinks.iter().map(|s| s.name().to_owned()).collect();
    let router =
        notify::Router::new(config.routes.clone(), &names).context("a [[route]] table is wrong")?;
    let route: Route = Arc::new(move |alert| router.sinks_for(alert));
    let mut store = database.open().await?;
    tracing::info!(database = %database, backend = database.backend().as_str(), "database open");
    if let Some(key) = crate::canary::secret_key(&config)? {
        store = store.with_secret_key(key);
    }

    let metrics = Arc::new(Metrics::default());
    let budget = MemoryBudget::new(
        config
            .serve
            .memory_budget
            .unwrap_or(pipeline::DEFAULT_MEMORY_BUDGET),
    );
    // Workers sharing the database know each other by this id: it holds their leases and
    // names their heartbeat in status and /metrics.
    let identity = WorkerIdentity::current();
    tracing::info!(worker = %identity.id, "worker id");
    let mut ingestor = Ingestor::open_as(
        store.clone(),
        config.detect.clone(),
        route,
        metrics.clone(),
        identity.id.clone(),
    )
    .await
    .context("cannot start the detection engine")?;
    ingestor.limit_item_size(
        config
            .serve
            .max_item_size
            .unwrap_or(pipeline::DEFAULT_MAX_ITEM_SIZE),
    );
    if let Some(quiet) = config.serve.quiet {
        ingestor.release_after_quiet(duration(Some(quiet), Duration::ZERO));
    }
    ingestor.wait_for_queued_objects_of(
        config
            .sources
            .iter()
            .filter(|source| matches!(source, SourceConfig::S3 { .. }))
            .map(|source| source.name().to_owned())
            .collect(),
    );
    if let Some(file) = config.serve.canaries.as_deref() {
        let from_file = crate::canaries::load(file)?;
        ingestor
            .watch_also(from_file.canaries().to_vec())
            .await
            .with_context(|| format!("cannot watch the canaries of {}", file.display()))?;
    }
    let wake = Arc::new(Notify::new());
    let (engine, engine_task) = pipeline::spawn_engine(ingestor, wake.clone());
    let (stop, shutdown) = watch::channel(false);
    let mut tasks = JoinSet::new();

    tasks.spawn(pipeline::run_heartbeat(
        store.clone(),
        identity.clone(),
        env!("CARGO_PKG_VERSION").to_owned(),
        metrics.clone(),
        HEARTBEAT_EVERY,
        shutdown.clone(),
    ));

    let serve = &config.serve;
    let api_sinks = Arc::new(sinks.clone());
    let deliverer = Deliverer::new(
        store.clone(),
        sinks,
        DeliverySettings {
            rate_window: duration(serve.rate_window, Duration::from_secs(60)),
            retry_cap: duration(serve.retry_cap, Duration::from_secs(600)),
            link_base: serve.public_url.clone(),
            worker: identity.id.clone(),
            ..DeliverySettings::default()
        },
    );
    tasks.spawn(deliverer.run(wake, shutdown.clone()));

    let needs_aws = config
        .sources
        .iter()
        .any(|s| !matches!(s, SourceConfig::Dir { .. }));
    let clients = if needs_aws {
        Some(tripkey_aws_sources::clients(&aws).await)
    } else {
        None
    };
    for source in &config.sources {
        let (engine, store, metrics, budget, shutdown) = (
            engine.clone(),
            store.clone(),
            metrics.clone(),
            budget.clone(),
            shutdown.clone(),
        );
        match source.clone() {
            SourceConfig::Dir { name, path, poll } => {
                let source = DirSource::new(name, path, duration(poll, Duration::from_secs(2)));
                tasks.spawn(pipeline::run_source(
                    source, engine, store, metrics, budget, shutdown,
                ));
            }
            SourceConfig::S3 {
                name,
                bucket,
                prefix,
                poll,
                start_back,
                batch_objects,
                claim,
                quarantine_after,
            } => {
                let (s3, _) = clients.clone().expect("AWS clients exist for AWS sources");
                let mut settings = S3SourceConfig::new(name.clone(), bucket, prefix);
                settings.poll = duration(poll, settings.poll);
                settings.start_back = duration(start_back, settings.start_back);
                settings.claim = duration(claim, settings.claim);
                settings.batch_objects = batch_objects.unwrap_or(settings.batch_objects);
                settings.quarantine_after = quarantine_after.unwrap_or(settings.quarantine_after);
                settings.warn_if_backfill_past(Duration::from_millis(
                    config.detect.horizon.millis().max(0) as u64,
                ));
                // Listing a bucket is one worker's job: the others would list it again. Every
                // worker reads what it queues.
                let lister = (s3.clone(), settings.clone(), store.clone(), metrics.clone());
                tasks.spawn(pipeline::run_singleton(
                    store.clone(),
                    format!("s3:{name}"),
                    identity.id.clone(),
                    JOB_LEASE,
                    move |stop| {
                        let (s3, settings, store, metrics) = lister.clone();
                        S3Lister::new(s3, settings, store).run(metrics, stop)
                    },
                    shutdown.clone(),
                ));
                let reader = S3Source::new(s3, settings, store.clone(), identity.id.clone());
                tasks.spawn(pipeline::run_source(
                    reader, engine, store, metrics, budget, shutdown,
                ));
            }
            SourceConfig::Sqs {
                name,
                queue_url,
                visibility,
            } => {
                let (s3, sqs) = clients.clone().expect("AWS clients exist for AWS sources");
                let mut settings = SqsSourceConfig::new(name, queue_url);
                settings.visibility = duration(visibility, settings.visibility);
                let source = SqsSource::new(sqs, s3, settings);
                tasks.spawn(pipeline::run_source(
                    source, engine, store, metrics, budget, shutdown,
                ));
            }
        }
    }
    if config.sources.is_empty() {
        tracing::warn!("no [[source]] configured: only POST /ingest feeds the engine");
    }
    if names.is_empty() {
        tracing::warn!(
            "no [[sink]] configured: alerts are kept in the database (tripkey alert list) but nobody is notified"
        );
    }

    if config.canary.offline_account.is_none() {
        let (settings, chore_store, aws, engine) = (
            config_settings(&config),
            store.clone(),
            aws.clone(),
            engine.clone(),
        );
        tasks.spawn(pipeline::run_singleton(
            store.clone(),
            "canary-chores".to_owned(),
            identity.id.clone(),
            JOB_LEASE,
            move |stop| {
                canary_chores(
                    settings.clone(),
                    chore_store.clone(),
                    aws.clone(),
                    engine.clone(),
                    stop,
                )
            },
            shutdown.clone(),
        ));
    }

    let mut api = api_state(&config, &aws, &store, api_sinks).await?;
    api.engine = Some(engine.clone());
    announce_admin_token(&config, &store).await?;
    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(cert), Some(key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "cannot use the TLS certificate {} and key {}: give PEM files, the \
                         certificate chain and its private key",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        (None, None) => None,
        _ => anyhow::bail!("[serve] tls_cert and tls_key go together: give both, or neither"),
    };
    let app = server::app(
        server::AppState {
            engine: engine.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            ingest_source: "http".to_owned(),
            api,
            open_metrics: serve.open_metrics,
            budget,
        },
        serve.ingest_limit.unwrap_or(server::DEFAULT_INGEST_LIMIT),
        tls.is_some(),
    );
    eprintln!(
        "tripkey serve: listening on {}://{} with {} and {}",
        if tls.is_some() { "https" } else { "http" },
        listener
            .local_addr()
            .context("the listener has no local address")?,
        crate::output::count(config.sources.len() as u64, "source"),
        crate::output::count(names.len() as u64, "sink")
    );
    let mut http_shutdown = shutdown.clone();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let http = match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = http_shutdown.wait_for(|stop| *stop).await;
                })
                .await
        }),
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
                stopper.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            let listener = listener
                .into_std()
                .context("cannot hand the listener to the TLS server")?;
            let server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)
                .context("cannot start the TLS server")?;
            tokio::spawn(async move { server.handle(handle).serve(service).await })
        }
    };

    let mut engine_task = engine_task;
    // The engine ending on its own is a bug: stop everything and exit with an error, so the
    // supervisor (systemd, ECS) restarts serve from the last commit.
    let engine_ended = tokio::select! {
        _ = wait_for_signal() => None,
        ended = &mut engine_task => Some(ended),
    };
    eprintln!("tripkey serve: stopping (finishing the batches in flight)");
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    http.await.context("the HTTP server failed")??;
    drop(engine);
    if let Some(ended) = engine_ended {
        store.close().await;
        ended.context("the detection engine failed")?;
        anyhow::bail!("the detection engine stopped unexpectedly; restart serve");
    }
    engine_task.await.context("the engine failed")?;
    store.close().await;
    Ok(0)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn has_aws_canaries(store: &Store) -> anyhow::Result<bool> {
    let filter = store::CanaryFilter {
        issuer: Some(store::Issuer::Aws),
        ..store::CanaryFilter::default()
    };
    Ok(!store.list(&filter).await?.is_empty())
}

/// What `/api/v1` serves with: every `[[issuer]]` account (else the `[aws]` credentials'
/// account) and the offline issuer when `[canary] offline_account` or
/// `TRIPKEY_OFFLINE_ACCOUNT` names one; the first is the default. An AWS issuer that cannot be
/// reached at start is left out with a warning: the API answers `issuer_unavailable` for its
/// account while everything else runs.
async fn api_state(
    config: &Config,
    aws: &tripkey_aws::AwsOptions,
    store: &Store,
    sinks: Arc<Vec<Arc<dyn notify::Sink>>>,
) -> anyhow::Result<server::api::ApiState> {
    let mut issuers = registry::IssuerSet::new();
    let offline = std::env::var("TRIPKEY_OFFLINE_ACCOUNT")
        .ok()
        .filter(|text| !text.is_empty())
        .or_else(|| config.canary.offline_account.clone());
    if let Some(text) = offline {
        let account = text.parse::<keys::AccountId>().with_context(|| {
            format!("the offline account {text:?} is not a 12-digit account ID")
        })?;
        issuers.add(registry::SharedIssuer::new(
            registry::OfflineIssuer::new(account),
            account,
            store::CanaryKind::ALL.to_vec(),
        ));
        return Ok(api_state_with(config, store, sinks, issuers));
    }
    let default_issuer = [crate::config::IssuerConfig {
        account: None,
        profile: None,
        federation_profile: config.aws.federation_profile.clone(),
        user_path: None,
        kinds: Vec::new(),
    }];
    let tables = if config.issuers.is_empty() {
        &default_issuer[..]
    } else {
        &config.issuers[..]
    };
    for table in tables {
        match connect_issuer(config, aws, table).await {
            Ok(issuer) => issuers.add(issuer),
            Err(error) => tracing::warn!(
                error = %notify::escape::for_terminal(&format!("{error:#}")),
                profile = table.profile.as_deref().unwrap_or("the [aws] credentials"),
                "an issuer is left out: POST /api/v1/canaries answers issuer_unavailable for its \
                 account until serve restarts with working credentials"
            ),
        }
    }
    Ok(api_state_with(config, store, sinks, issuers))
}

/// The AWS issuer of one `[[issuer]]` table, checked against the account it names.
async fn connect_issuer(
    config: &Config,
    aws: &tripkey_aws::AwsOptions,
    table: &crate::config::IssuerConfig,
) -> anyhow::Result<registry::SharedIssuer> {
    let options = tripkey_aws::AwsOptions {
        profile: table.profile.clone().or_else(|| aws.profile.clone()),
        ..aws.clone()
    };
    let federation = table
        .federation_profile
        .clone()
        .map(|profile| tripkey_aws::AwsOptions {
            profile: Some(profile),
            ..options.clone()
        });
    let user_path = table
        .user_path
        .clone()
        .or_else(|| config.canary.user_path.clone())
        .unwrap_or_else(|| crate::aws_issuer::DEFAULT_USER_PATH.to_owned());
    let issuer = AwsIssuer::connect(&options, federation.as_ref(), user_path).await?;
    let account = registry::Issuer::account_id(&issuer)
        .await
        .context("the AWS issuer has no account")?;
    if let Some(expected) = &table.account {
        anyhow::ensure!(
            *expected == account.to_string(),
            "the [[issuer]] for account {expected} has credentials of account {account}: \
             fix its profile"
        );
    }
    let kinds = if table.kinds.is_empty() {
        store::CanaryKind::ALL.to_vec()
    } else {
        table.kinds.clone()
    };
    Ok(registry::SharedIssuer::new(issuer, account, kinds))
}

fn api_state_with(
    config: &Config,
    store: &Store,
    sinks: Arc<Vec<Arc<dyn notify::Sink>>>,
    issuers: registry::IssuerSet,
) -> server::api::ApiState {
    server::api::ApiState {
        store: store.clone(),
        issuers,
        settings: crate::canary::settings(None, config),
        throttle: std::sync::Arc::new(server::api::auth::AuthThrottle::new(
            config
                .serve
                .auth_failure_limit
                .unwrap_or(server::api::auth::DEFAULT_FAILURES_ALLOWED),
        )),
        region: config
            .aws
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_owned()),
        sinks,
        engine: None,
    }
}

/// On a first start, makes an admin token and shows it once on stderr; a token the operator
/// supplies (`TRIPKEY_ADMIN_TOKEN`, `[serve] admin_token_file`) is recorded instead.
async fn announce_admin_token(config: &Config, store: &Store) -> anyhow::Result<()> {
    let supplied = match (
        std::env::var("TRIPKEY_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        &config.serve.admin_token_file,
    ) {
        (Some(token), _) => Some(token),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| {
                    format!("cannot read [serve] admin_token_file {}", path.display())
                })?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    if let Some(token) = server::api::tokens::ensure_admin(store, supplied.as_deref()).await? {
        // Printed, not logged: a log pipeline would keep it.
        eprintln!(
            "tripkey serve: no admin token existed, so one was made. It is shown this once:\n\n  \
             {token}\n\nSend it as `Authorization: Bearer TOKEN` to /api/v1, and make narrower \
             tokens with POST /api/v1/tokens or `tripkey token create`."
        );
    }
    Ok(())
}

/// What the canary chores need from the configuration.
#[derive(Clone)]
struct ChoreSettings {
    service: registry::Settings,
    user_path: String,
    report_above: usize,
    last_used_every: Duration,
    maintain_every: Duration,
}

fn config_settings(config: &Config) -> ChoreSettings {
    ChoreSettings {
        service: crate::canary::settings(None, config),
        user_path: config
            .canary
            .user_path
            .clone()
            .unwrap_or_else(|| crate::aws_issuer::DEFAULT_USER_PATH.to_owned()),
        report_above: config
            .canary
            .last_used_report_above
            .unwrap_or(registry::DEFAULT_REPORT_ABOVE),
        last_used_every: duration(config.serve.last_used_every, Duration::from_secs(15 * 60)),
        maintain_every: duration(config.serve.maintain_every, Duration::from_secs(10 * 60)),
    }
}

/// The last-used safety net and the life-cycle pass, on their schedules. Safety-net alerts
/// go through the engine's commit, so they are deduplicated, routed and delivered like the
/// trail's.
async fn canary_chores(
    settings: ChoreSettings,
    store: Store,
    aws: tripkey_aws::AwsOptions,
    engine: EngineHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut service: Option<CanaryService<AwsIssuer>> = None;
    let mut poll = tokio::time::interval(settings.last_used_every);
    let mut maintain = tokio::time::interval(settings.maintain_every);
    let mut deactivate = tokio::time::interval(DEACTIVATE_EVERY);
    loop {
        let chore = tokio::select! {
            _ = poll.tick() => Chore::Poll,
            _ = maintain.tick() => Chore::Maintain,
            _ = deactivate.tick(), if settings.service.after_trigger == registry::AfterTrigger::Deactivate => Chore::Deactivate,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        // Checked at each chore, not once at start: a canary issued while serve runs is
        // looked after from its first chore, and an inventory with no AWS canary needs no
        // AWS credentials at all.
        match has_aws_canaries(&store).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot read the canary inventory for the canary chores");
                continue;
            }
        }
        if service.is_none() {
            match AwsIssuer::connect(&aws, None, settings.user_path.clone()).await {
                Ok(issuer) => {
                    service = Some(CanaryService::new(
                        store.clone(),
                        issuer,
                        settings.service.clone(),
                    ))
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "cannot reach AWS for the canary chores; trying again at the next one");
                    continue;
                }
            }
        }
        let service = service.as_ref().expect("connected above");
        let outcome = match chore {
            Chore::Poll => safety_net(service, &engine, settings.report_above).await,
            Chore::Maintain => maintenance(service, &engine).await,
            Chore::Deactivate => service
                .deactivate_triggered()
                .await
                .map(|(revoked, failures)| {
                    for name in &revoked {
                        tracing::info!(canary = %name, "revoked after it was used (after_trigger = deactivate)");
                    }
                    for (name, error) in &failures {
                        tracing::warn!(canary = %name, %error, "cannot deactivate the used canary; trying again");
                    }
                })
                .map_err(anyhow::Error::from),
        };
        if let Err(error) = outcome {
            tracing::warn!(error = %format!("{error:#}"), "canary chore failed");
        }
    }
}

enum Chore {
    Poll,
    Maintain,
    Deactivate,
}

/// With `after_trigger = deactivate`, how soon a used canary is revoked.
const DEACTIVATE_EVERY: Duration = Duration::from_secs(30);

/// The maintenance pass; its integrity alerts go through the engine's commit, so a standing
/// difference found at every pass is stored and delivered once.
async fn maintenance(
    service: &CanaryService<AwsIssuer>,
    engine: &EngineHandle,
) -> anyhow::Result<()> {
    let done = service.maintain(store::now()).await?;
    for (name, error) in &done.failures {
        tracing::warn!(canary = %name, %error, "canary maintenance failed");
    }
    if !done.integrity_alerts.is_empty() {
        engine
            .commit_alerts("iam-check", done.integrity_alerts)
            .await?;
    }
    Ok(())
}

async fn safety_net(
    service: &CanaryService<AwsIssuer>,
    engine: &EngineHandle,
    report_above: usize,
) -> anyhow::Result<()> {
    let poll = service
        .poll_last_used(service.issuer(), report_above)
        .await?;
    for (key, error) in &poll.failures {
        tracing::warn!(%key, %error, "cannot ask IAM when this key was last used");
    }
    if poll.trips.is_empty() {
        return Ok(());
    }
    let alerts = poll.trips.iter().map(|trip| trip.alert.clone()).collect();
    // The commit marks each canary triggered and moves its last-alert time with the alert, so
    // the next poll does not report the same use again.
    engine.commit_alerts("last-used", alerts).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn sources(args: &[&str]) -> anyhow::Result<Vec<SourceConfig>> {
        let cli = Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?;
        cli.serve.flag_sources()
    }

    #[test]
    fn flag_sources_are_named_after_what_they_read() {
        let found = sources(&[
            "--sqs",
            "https://sqs.us-east-1.amazonaws.com/111122223333/trail-objects",
            "--s3",
            "s3://org-trail/cloudtrail/,s3://other-trail",
            "--dir",
            "/var/log/ct",
        ])
        .unwrap();
        let names: Vec<&str> = found.iter().map(SourceConfig::name).collect();
        assert_eq!(
            names,
            [
                "sqs:trail-objects",
                "s3:org-trail/cloudtrail",
                "s3:other-trail",
                "dir:/var/log/ct"
            ]
        );
        let SourceConfig::S3 { bucket, prefix, .. } = &found[1] else {
            panic!("{:?}", found[1])
        };
        assert_eq!(
            (bucket.as_str(), prefix.as_str()),
            ("org-trail", "cloudtrail")
        );
    }

    #[test]
    fn malformed_flag_sources_say_what_is_expected() {
        let error = sources(&["--s3", "org-trail"]).unwrap_err().to_string();
        assert!(error.contains("s3://BUCKET"), "{error}");
        let error = sources(&["--sqs", "trail-objects"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("queue URL"), "{error}");
    }
}
