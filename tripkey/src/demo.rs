//! `tripkey demo`: the whole loop on this machine, with no AWS account: canaries issued,
//! one planted, an attacker using it, and the alerts in the dashboard.
//!
//! It runs `serve` in-process on a temporary folder (database, watched trail folder,
//! JSON-lines alerts file, the planted credentials file), removed when it stops. The canaries
//! come from the offline issuer, through the same canary service the API uses. The attack is
//! the bundled trail (shapes of the shared datasets' records) re-timed to end now, with the
//! planted canary's key and name put in for the bundled canary's, dropped into the watched
//! folder as a CloudTrail object: the canary probed from outside, an EC2 instance's role
//! credentials used away from the instance, and the burst of AccessDenied errors that probe
//! causes.

use placement::ini::{FileKind, SharedFile};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use detect::Span;
use rand::Rng;
use registry::{CanaryService, CreateRequest, Created, OfflineIssuer};
use store::{CanaryKind, NewPlacement, Store};
use trail::EventTime;

use crate::config::{CanaryConfig, Config, ServeConfig, SourceConfig};
use crate::serve::{self, LogFormat};

/// The bundled trail: an instance at work, its credentials stolen and probed from elsewhere,
/// and the canary `svc-billing-sync` tried from a Kali box.
const TRAIL: &str = include_str!("../demo/cloudtrail.json");
/// What the bundled trail calls its canary; the replay puts the planted canary's in.
const TRAIL_CANARY_KEY: &str = "AKIARTX3GSDS5ZZ46JLN";
const TRAIL_CANARY_ARN: &str = "arn:aws:iam::111122223333:user/ops/svc-billing-sync";
const TRAIL_CANARY_NAME: &str = "svc-billing-sync";
/// The account of the bundled trail, which the offline issuer mints the canaries for.
const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
/// How long after serve starts the attack's trail object lands in the watched folder, so the
/// dashboard can be seen empty first.
const ATTACK_AFTER: Duration = Duration::from_secs(1);
/// How often serve looks in the watched folder. With serve's engine committing each file's
/// alerts at once (it holds nothing back for reordering), this and the folder's one-second
/// settling time bound how long the alerts take.
const POLL: Span = Span(250);
/// The notification rate window of the demo's sinks.
const RATE_WINDOW: Span = Span(5_000);
/// How long serve waits, quiet, before it releases exfiltration decisions.
const SETTLE: Span = Span(1_000);

/// `tripkey demo` options.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Start clean: the canaries and the planted profile, but no attack.
    #[arg(long)]
    no_attack: bool,
    /// Address of the dashboard and API; `127.0.0.1:0` picks a free port.
    #[arg(long, value_name = "ADDR", default_value = serve::DEFAULT_LISTEN)]
    listen: SocketAddr,
}

/// One canary of the demo and where it is said to be planted.
struct Spot {
    kind: CanaryKind,
    owner: &'static str,
    host: &'static str,
    location: &'static str,
    memo: &'static str,
}

/// The demo's canaries. The first, on a laptop, is the one planted and attacked.
const SPOTS: [Spot; 5] = [
    Spot {
        kind: CanaryKind::IamUser,
        owner: "it-endpoint",
        host: "mac-0231",
        location: "~/.aws/credentials",
        memo: "a named profile in the credentials file of Priya's laptop; nothing uses it",
    },
    Spot {
        kind: CanaryKind::Federation,
        owner: "platform",
        host: "github-actions",
        location: "payments-api repository secret AWS_ACCESS_KEY_ID",
        memo: "CI secret of the payments-api deploy job; the job deploys with OIDC, not this",
    },
    Spot {
        kind: CanaryKind::IamUser,
        owner: "build-infra",
        host: "jenkins-02",
        location: "/var/lib/jenkins/.aws/credentials",
        memo: "beside the real build credentials on the Jenkins controller",
    },
    Spot {
        kind: CanaryKind::RoleSession,
        owner: "payments",
        host: "eks-prod-eu",
        location: "namespace payments, secret aws-legacy-creds",
        memo: "a Kubernetes secret no pod mounts; reading it means the namespace is exposed",
    },
    Spot {
        kind: CanaryKind::IamUser,
        owner: "sre",
        host: "backup-01",
        location: "/etc/restic/aws.env",
        memo: "in the env file of the nightly restic backup, which writes to another bucket",
    },
];

/// The demo's files, all inside its temporary folder.
struct Paths {
    database: PathBuf,
    trail: PathBuf,
    credentials: PathBuf,
    alerts: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Paths {
        Paths {
            database: root.join("tripkey.db"),
            trail: root.join("trail"),
            credentials: root.join("laptop").join(".aws").join("credentials"),
            alerts: root.join("alerts.jsonl"),
        }
    }
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub fn run(args: DemoArgs, colour: bool) -> anyhow::Result<u8> {
    // Warnings only: serve's info lines would bury what the demo prints.
    serve::init_logging(LogFormat::Text, colour, "warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<u8> {
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "port {} is in use; try tripkey demo --listen 127.0.0.1:0",
                args.listen.port()
            );
            return Ok(1);
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot listen on {}", args.listen))
        }
    };
    let address = listener
        .local_addr()
        .context("the listener has no local address")?;
    let folder = tempfile::Builder::new()
        .prefix("tripkey-demo-")
        .tempdir()
        .context("cannot create a temporary folder for the demo")?;
    let paths = Paths::new(folder.path());
    std::fs::create_dir_all(&paths.trail)?;
    let config = config(&paths);

    let store = Store::open(&paths.database).await?;
    let account = ACCOUNT.parse().expect("the demo account is valid");
    let service = CanaryService::new(
        store.clone(),
        OfflineIssuer::new(account),
        crate::canary::settings(None, &config),
    );
    let mut issued = Vec::with_capacity(SPOTS.len());
    for spot in &SPOTS {
        issued.push(issue(&service, spot).await?);
    }
    let laptop = &issued[0];
    let profile = keys::profile_name(laptop.record.id.as_str(), 0);
    plant(&store, laptop, &profile, &paths.credentials).await?;
    let token = server::api::tokens::ensure_admin(&store, None)
        .await?
        .context("the demo's new database already has an admin token")?;
    // Serve opens the database itself; the demo's own handle is done.
    store.close().await;

    print_banner(&args, address, &issued, &profile, &paths, &token, &folder)?;
    if !args.no_attack {
        let record = &laptop.record;
        let attack = replay(
            TRAIL,
            (&record.access_key_id, &record.principal_arn, &record.name),
            store::now(),
        )?;
        let object = paths.trail.join(object_key(store::now()));
        let staging = folder.path().to_path_buf();
        tokio::spawn(async move {
            tokio::time::sleep(ATTACK_AFTER).await;
            if let Err(error) = write_object(&staging, &object, &attack) {
                tracing::warn!(error = %format!("{error:#}"), "cannot drop the attack's trail object");
            }
        });
    }
    let code = serve::run_with(
        config,
        &store::Location::sqlite(&paths.database),
        tripkey_aws::AwsOptions::default(),
        listener,
    )
    .await?;
    let root = folder.path().to_path_buf();
    folder
        .close()
        .with_context(|| format!("cannot remove the demo's folder {}", root.display()))?;
    println!("tripkey demo: stopped; removed {}", root.display());
    Ok(code)
}

/// Serve's configuration for the demo: the offline issuer, the watched trail folder, the
/// JSON-lines alerts file, and the defaults for everything else.
fn config(paths: &Paths) -> Config {
    Config {
        canary: CanaryConfig {
            offline_account: Some(ACCOUNT.to_owned()),
            ..CanaryConfig::default()
        },
        sources: vec![SourceConfig::Dir {
            name: "demo-trail".to_owned(),
            path: paths.trail.clone(),
            poll: Some(POLL),
        }],
        serve: ServeConfig {
            // Repeats about one canary or principal within this window go out as one digest;
            // the default minute would keep the burst alert, which shares its principal with
            // the instance alert, out of the alerts file for most of the demo's first minute.
            rate_window: Some(RATE_WINDOW),
            ..ServeConfig::default()
        },
        // The attack's calls all land in one file, so an exfiltration decision has nothing to
        // wait for: a second of quiet releases it (the default waits five minutes for calls
        // still on their way in other regions' files).
        detect: detect::DetectConfig {
            settle: SETTLE,
            ..detect::DetectConfig::default()
        },
        sinks: vec![notify::SinkSpec {
            name: "alerts-file".to_owned(),
            config: notify::SinkConfig::JsonLines {
                path: paths.alerts.clone(),
            },
        }],
        ..Config::default()
    }
}

async fn issue(service: &CanaryService<OfflineIssuer>, spot: &Spot) -> anyhow::Result<Created> {
    let labels = [
        ("owner", spot.owner),
        ("host", spot.host),
        ("location", spot.location),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    service
        .create(CreateRequest {
            kind: spot.kind,
            labels,
            memo: Some(spot.memo.to_owned()),
            keep_secret: false,
            name: None,
            issued_by: None,
        })
        .await
        .context("cannot issue the demo's canaries")
}

/// Writes the canary into `path` as a named profile, readable by its owner only, and records
/// the placement once the write succeeded.
async fn plant(store: &Store, canary: &Created, profile: &str, path: &Path) -> anyhow::Result<()> {
    let credentials = &canary.credentials;
    let text = placement::render(
        placement::Format::CREDENTIALS_PROFILE,
        &placement::Credentials {
            access_key_id: &credentials.access_key_id,
            secret_access_key: credentials.secret_access_key.expose(),
            session_token: credentials.session_token.as_ref().map(|t| t.expose()),
            expiration: None,
            region: REGION,
        },
        profile,
    );
    // The same locked, atomic, 0600 write `tripkey plant` makes.
    placement::file::edit(path, None, |existing| -> anyhow::Result<Option<String>> {
        let file = SharedFile::parse(existing.unwrap_or_default(), FileKind::Credentials)?;
        Ok(Some(file.plant(profile, &text)?.text))
    })?;
    store
        .add_placement(
            &canary.record.id,
            &NewPlacement {
                host: canary.record.labels.get("host").cloned(),
                path: Some(path.display().to_string()),
                format: Some(placement::Format::CREDENTIALS_PROFILE.id().to_owned()),
                os: None,
                user: None,
            },
            None,
            store::now(),
        )
        .await?;
    Ok(())
}

fn print_banner(
    args: &DemoArgs,
    address: SocketAddr,
    issued: &[Created],
    profile: &str,
    paths: &Paths,
    token: &str,
    folder: &tempfile::TempDir,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "tripkey demo: the whole loop on this machine, with no AWS account. The canaries come \
         from the offline issuer (account {ACCOUNT}): they authenticate nowhere.\n"
    )?;
    writeln!(out, "Issued {} canaries:", issued.len())?;
    for (created, spot) in issued.iter().zip(&SPOTS) {
        writeln!(
            out,
            "  {:<24} {:<13} {}  {} ({})",
            created.record.name,
            created.record.kind.as_str(),
            created.record.access_key_id,
            spot.host,
            spot.location
        )?;
    }
    writeln!(
        out,
        "Planted {} as profile [{profile}] in {}",
        issued[0].record.name,
        paths.credentials.display()
    )?;
    if args.no_attack {
        writeln!(
            out,
            "No attack (--no-attack): drop CloudTrail files into {} to feed the detectors.",
            paths.trail.display()
        )?;
    } else {
        writeln!(
            out,
            "In a second an attack lands in the watched folder {}: the planted canary probed \
             from outside, an EC2 instance's role credentials used away from the instance, and \
             a burst of AccessDenied errors. Three kinds of alert follow within seconds.",
            paths.trail.display()
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Dashboard: http://{address}/")?;
    // Shown on purpose, once: it is the way into the dashboard, and only its hash is stored.
    writeln!(out, "Admin token: {token}")?;
    writeln!(out, "Credentials file: {}", paths.credentials.display())?;
    writeln!(out, "Alerts file (JSON lines): {}", paths.alerts.display())?;
    writeln!(
        out,
        "\nOpen the dashboard and sign in with the admin token; the API answers at \
         http://{address}/api/v1 with `Authorization: Bearer TOKEN`."
    )?;
    writeln!(
        out,
        "Ctrl-C to stop; {} is removed then.",
        folder.path().display()
    )?;
    out.flush()?;
    Ok(())
}

/// The bundled trail as an attack happening now on the canary `(access key ID, principal
/// ARN, name)`: the bundled canary's key, ARN and name replaced by these, and every time
/// moved by one offset so the last record is a few seconds before `now` (the gaps between
/// records stay as they were).
fn replay(trail: &str, canary: (&str, &str, &str), now: EventTime) -> anyhow::Result<String> {
    let (key, arn, name) = canary;
    let text = trail
        .replace(TRAIL_CANARY_KEY, key)
        .replace(TRAIL_CANARY_ARN, arn)
        .replace(TRAIL_CANARY_NAME, name);
    let mut document: serde_json::Value = serde_json::from_str(&text)?;
    let records = document["Records"]
        .as_array_mut()
        .context("the bundled trail has no Records")?;
    let times = records
        .iter()
        .map(|record| {
            let text = record["eventTime"].as_str().unwrap_or_default();
            EventTime::parse(text).with_context(|| format!("eventTime {text:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let last = times.iter().max().context("the bundled trail is empty")?;
    // Whole seconds, as CloudTrail writes them.
    let end = (now.millis() / 1_000 - 5) * 1_000;
    let shift = end - last.millis();
    for record in records.iter_mut() {
        shift_time(&mut record["eventTime"], shift)?;
        // Looked up with pointers: indexing a Value mutably would add the fields it misses.
        if let Some(created) =
            record.pointer_mut("/userIdentity/sessionContext/attributes/creationDate")
        {
            shift_time(created, shift)?;
        }
        let at = EventTime::parse(record["eventTime"].as_str().unwrap_or_default())?;
        let seconds = record["requestParameters"]["durationSeconds"].as_i64();
        if let (Some(seconds), Some(expiration)) = (
            seconds,
            record.pointer_mut("/responseElements/credentials/expiration"),
        ) {
            *expiration = console_time(at.offset(seconds * 1_000)).into();
        }
    }
    Ok(serde_json::to_string_pretty(&document)?)
}

fn shift_time(value: &mut serde_json::Value, shift: i64) -> anyhow::Result<()> {
    let text = value.as_str().context("a time that is not text")?;
    let time = EventTime::parse(text).with_context(|| format!("time {text:?}"))?;
    *value = time.offset(shift).to_string().into();
    Ok(())
}

/// A time as CloudTrail writes an STS expiration: `Nov 2, 2026, 3:00:00 PM` (UTC).
fn console_time(time: EventTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SSZ.
    let text = EventTime((time.millis() / 1_000) * 1_000).to_string();
    let number = |range: std::ops::Range<usize>| text[range].parse::<usize>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let hour = number(11..13);
    let (twelve, half) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    format!(
        "{} {day}, {year}, {twelve}:{}:{} {half}",
        MONTHS[month.saturating_sub(1) % 12],
        &text[14..16],
        &text[17..19]
    )
}

/// Where CloudTrail would deliver a file at `now`:
/// `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json`.
fn object_key(now: EventTime) -> String {
    let text = now.to_string();
    let (year, month, day) = (&text[0..4], &text[5..7], &text[8..10]);
    let (hour, minute) = (&text[11..13], &text[14..16]);
    let random: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{year}/{month}/{day}/\
         {ACCOUNT}_CloudTrail_{REGION}_{year}{month}{day}T{hour}{minute}Z_{random}.json"
    )
}

/// Drops a trail object at `path` in the watched folder: written in `staging`, outside it, and
/// renamed in, so the source never sees half a file.
fn write_object(staging: &Path, path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().expect("an object key has folders"))?;
    let mut staged = tempfile::NamedTempFile::new_in(staging)?;
    staged.write_all(text.as_bytes())?;
    staged
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: (&str, &str, &str) = (
        "AKIARZZZZZZZZZZZZZZZ",
        "arn:aws:iam::111122223333:user/service/billing-sync",
        "billing-sync",
    );

    #[test]
    fn the_replay_ends_just_before_now_and_keeps_the_gaps_and_fields() {
        let now = EventTime::parse("2027-03-04T05:06:07.890Z").unwrap();
        let replayed: serde_json::Value =
            serde_json::from_str(&replay(TRAIL, CANARY, now).unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_str(TRAIL).unwrap();
        let times = |document: &serde_json::Value| -> Vec<i64> {
            document["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    EventTime::parse(r["eventTime"].as_str().unwrap())
                        .unwrap()
                        .millis()
                })
                .collect()
        };
        let (before, after) = (times(&original), times(&replayed));
        assert_eq!(*after.iter().max().unwrap(), now.millis() - 890 - 5_000);
        let shift = after[0] - before[0];
        assert!(before.iter().zip(&after).all(|(b, a)| a - b == shift));
        // Only values changed: no field was added or dropped.
        assert_eq!(fields(&original, ""), fields(&replayed, ""));
        let assume = &replayed["Records"][0];
        assert_eq!(assume["eventName"], "AssumeRole");
        let started = EventTime(after[0]).to_string();
        assert_eq!(
            replayed["Records"][1]["userIdentity"]["sessionContext"]["attributes"]["creationDate"],
            started.as_str()
        );
        // Six hours after 23:59:55 UTC on 3 March.
        assert_eq!(
            assume["responseElements"]["credentials"]["expiration"],
            console_time(EventTime(after[0] + 21_600_000)).as_str()
        );
    }

    /// The JSON pointer of every value in `value`.
    fn fields(value: &serde_json::Value, at: &str) -> Vec<String> {
        let mut found = vec![at.to_owned()];
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    found.extend(fields(inner, &format!("{at}/{key}")));
                }
            }
            serde_json::Value::Array(items) => {
                for (n, inner) in items.iter().enumerate() {
                    found.extend(fields(inner, &format!("{at}/{n}")));
                }
            }
            _ => {}
        }
        found
    }

    #[test]
    fn the_replay_uses_the_planted_canary_and_nothing_of_the_bundled_one() {
        let text = replay(TRAIL, CANARY, store::now()).unwrap();
        assert!(!text.contains(TRAIL_CANARY_KEY) && !text.contains(TRAIL_CANARY_NAME));
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        let uses: Vec<&serde_json::Value> = document["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["userIdentity"]["accessKeyId"] == "AKIARZZZZZZZZZZZZZZZ")
            .collect();
        assert_eq!(uses[0]["eventName"], "GetCallerIdentity");
        assert!(uses.len() >= 3, "a few listing calls follow");
        for record in uses {
            assert_eq!(
                record["userIdentity"]["arn"],
                "arn:aws:iam::111122223333:user/service/billing-sync"
            );
            assert_eq!(record["userIdentity"]["userName"], "billing-sync");
        }
    }

    #[test]
    fn expirations_read_like_cloudtrail_writes_them() {
        let at = |text| console_time(EventTime::parse(text).unwrap());
        assert_eq!(at("2026-11-02T15:00:00Z"), "Nov 2, 2026, 3:00:00 PM");
        assert_eq!(at("2026-01-09T00:05:09Z"), "Jan 9, 2026, 12:05:09 AM");
        assert_eq!(at("2026-12-31T12:59:59.500Z"), "Dec 31, 2026, 12:59:59 PM");
    }

    #[test]
    fn the_object_key_is_one_cloudtrail_would_deliver_now() {
        let now = EventTime::parse("2027-03-04T05:06:07Z").unwrap();
        let key = object_key(now);
        let parsed = trail::TrailObjectKey::parse(&key).unwrap();
        assert!(!parsed.is_digest);
        assert_eq!(parsed.account_id, ACCOUNT);
        assert!(key.starts_with(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2027/03/04/\
             111122223333_CloudTrail_us-east-1_20270304T0506Z_"
        ));
    }
}
