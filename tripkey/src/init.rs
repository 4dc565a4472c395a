//! `tripkey init`: a commented `tripkey.toml` for a chosen setup, to start from.
//!
//! Placeholders that only the user can fill in (a queue URL, a bucket, a Slack webhook) are
//! written as `${VARIABLE:-example}`, so the file passes `tripkey serve --check` as it is and
//! each value can come from the environment, where secrets belong. The webhook signing secret
//! is generated here, which is why the file is written with mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use rand::Rng;

/// Where `serve` reads CloudTrail from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// An SQS queue of the trail bucket's S3 notifications or of EventBridge events.
    Sqs,
    /// The trail bucket itself, listed every 30 s.
    S3,
    /// A local folder of log files.
    Dir,
}

/// Where alerts go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SinkKind {
    /// JSON POSTed to your URL, signed with HMAC-SHA256.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams channel, through a Workflows webhook.
    Teams,
    /// A Discord channel webhook.
    Discord,
    /// A Google Chat space's webhook.
    GoogleChat,
    /// A PagerDuty service, through the Events API v2.
    Pagerduty,
    /// Email through an SMTP relay.
    Email,
    /// An SNS topic.
    Sns,
    /// One JSON object per line in a file.
    JsonLines,
}

/// `tripkey init` options.
#[derive(clap::Args)]
pub struct InitArgs {
    /// Where serve reads CloudTrail from (repeatable).
    #[arg(long = "source", value_enum, default_values_t = [SourceKind::Sqs])]
    sources: Vec<SourceKind>,
    /// Where alerts go (repeatable).
    #[arg(long = "sink", value_enum, default_values_t = [SinkKind::JsonLines])]
    sinks: Vec<SinkKind>,
    /// Issue offline canaries (format-valid keys that authenticate nowhere) instead of calling
    /// AWS: for a trial with no AWS account.
    #[arg(long)]
    offline: bool,
    /// The file to write; `-` writes to standard output. An existing file is never
    /// overwritten.
    #[arg(long, short = 'o', value_name = "PATH", default_value = "tripkey.toml")]
    output: PathBuf,
}

/// Writes the configuration file, refusing to replace one that exists.
pub fn run(args: InitArgs) -> anyhow::Result<u8> {
    let secret: String = {
        let mut rng = rand::rng();
        (0..32)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect()
    };
    let text = render(&args, &secret);
    if args.output.as_os_str() == "-" {
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(0);
    }
    write_new(&args.output, &text)?;
    let environment = environment_variables(&args);
    eprintln!(
        "wrote {} (mode 0600).\n  Check it: tripkey serve --config {} --check{}\n  Then start: tripkey serve --config {}",
        args.output.display(),
        args.output.display(),
        if environment.is_empty() {
            String::new()
        } else {
            format!(
                "\n  Before serving for real, export {} (the file shows examples until you do)",
                environment.join(", ")
            )
        },
        args.output.display(),
    );
    Ok(0)
}

/// Creates `path` with `text`, mode 0600, failing if anything is there already.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists already and is left as it is: remove it first, or write elsewhere \
                 with --output PATH",
                path.display()
            )
        } else {
            anyhow::Error::new(error).context(format!("cannot create {}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The environment variables the file reads, which the user sets before serving for real.
fn environment_variables(args: &InitArgs) -> Vec<&'static str> {
    let mut names = Vec::new();
    for source in &args.sources {
        match source {
            SourceKind::Sqs => names.push("TRIPKEY_SQS_QUEUE_URL"),
            SourceKind::S3 => names.push("TRIPKEY_TRAIL_BUCKET"),
            SourceKind::Dir => {}
        }
    }
    for sink in &args.sinks {
        match sink {
            SinkKind::Webhook => names.push("TRIPKEY_WEBHOOK_URL"),
            SinkKind::Slack => names.push("SLACK_WEBHOOK_URL"),
            SinkKind::Teams => names.push("TEAMS_WEBHOOK_URL"),
            SinkKind::Discord => names.push("DISCORD_WEBHOOK_URL"),
            SinkKind::GoogleChat => names.push("GOOGLE_CHAT_WEBHOOK_URL"),
            SinkKind::Pagerduty => names.push("PAGERDUTY_ROUTING_KEY"),
            SinkKind::Email => names.extend(["TRIPKEY_SMTP_HOST", "TRIPKEY_ALERT_EMAIL"]),
            SinkKind::Sns => names.push("TRIPKEY_SNS_TOPIC_ARN"),
            SinkKind::JsonLines => {}
        }
    }
    names.dedup();
    names
}

/// `items` without repeats, in first-seen order: a kind named twice is written once, since two
/// tables of one name would not load.
fn unique<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(item) {
            seen.push(*item);
        }
    }
    seen
}

fn render(args: &InitArgs, webhook_secret: &str) -> String {
    let mut text = String::from(
        "# tripkey.toml: written by `tripkey init`. Every table is optional; flags and environment\n\
         # variables override what is here. A value written as \"${VARIABLE:-example}\" comes from\n\
         # the environment variable VARIABLE, or is the example while VARIABLE is unset.\n\
         # Check it with: tripkey serve --config tripkey.toml --check\n\n",
    );
    text.push_str(
        "[serve]\n\
         # Where the HTTP API (/healthz, /metrics, /status, POST /ingest) listens.\n\
         listen = \"127.0.0.1:8470\"\n\
         # The dashboard's address as people reach it, for links in notifications.\n\
         # public_url = \"https://tripkey.example.com\"\n\n\
         [store]\n\
         # The database: an SQLite file (relative paths are relative to this file), or a\n\
         # PostgreSQL URL, its password in the environment (PGPASSWORD), not here. One of\n\
         # path and url; --database or TRIPKEY_DATABASE (a path or a URL) wins over both.\n\
         # [default: ~/.local/share/tripkey/tripkey.db]\n\
         # path = \"tripkey.db\"\n\
         # url = \"postgres://tripkey@db.internal:5432/tripkey?sslmode=verify-full\"\n\n",
    );
    if args.offline {
        text.push_str(
            "[canary]\n\
             # Offline canaries: format-valid keys for this made-up account, minted locally.\n\
             # They authenticate nowhere and are labelled issuer=offline everywhere. Remove this\n\
             # line (and run `tripkey setup aws`) to issue real canaries.\n\
             offline_account = \"111122223333\"\n\
             # name_style = \"service\"    # or \"person\"\n\n",
        );
    } else {
        text.push_str(
            "[aws]\n\
             # The credentials tripkey runs with: the default chain (environment, ~/.aws, SSO,\n\
             # instance role) unless a profile is named. `tripkey setup aws` prints the\n\
             # least-privilege policy they need.\n\
             # profile = \"security-tooling\"\n\
             # region = \"us-east-1\"\n\n\
             [canary]\n\
             # name_style = \"service\"    # or \"person\"\n\
             # capacity = 5000            # the most IAM-user canaries per account\n\n",
        );
    }
    text.push_str(
        "[detect]\n\
         # Detection defaults; uncomment to change.\n\
         # [detect.denial]\n\
         # threshold = 5              # denials by one principal ...\n\
         # window = \"5m\"              # ... within this window make a burst\n\
         # [detect.exfiltration]\n\
         # ttl = \"6h\"                 # how long an instance session is tracked\n\
         # allow_cidrs = [\"203.0.113.0/24\"]   # e.g. your VPN egress\n\n",
    );
    for source in &unique(&args.sources) {
        text.push_str(match source {
            SourceKind::Sqs => {
                "[[source]]\n\
                 # An SQS queue receiving the trail bucket's S3 notifications (directly or through\n\
                 # SNS) or EventBridge \"AWS API Call via CloudTrail\" events; deploy/aws sets one up.\n\
                 type = \"sqs\"\n\
                 name = \"trail-queue\"\n\
                 queue_url = \"${TRIPKEY_SQS_QUEUE_URL:-https://sqs.us-east-1.amazonaws.com/111122223333/trail-objects}\"\n\n"
            }
            SourceKind::S3 => {
                "[[source]]\n\
                 # The trail bucket, listed every `poll`; organisation trails are handled.\n\
                 type = \"s3\"\n\
                 name = \"trail-bucket\"\n\
                 bucket = \"${TRIPKEY_TRAIL_BUCKET:-my-org-cloudtrail}\"\n\
                 # prefix = \"\"                # the trail's prefix before AWSLogs/, if any\n\
                 # poll = \"30s\"\n\n"
            }
            SourceKind::Dir => {
                "[[source]]\n\
                 # A local folder watched for CloudTrail log files (e.g. synced from S3).\n\
                 type = \"dir\"\n\
                 name = \"trail-folder\"\n\
                 path = \"trail\"\n\n"
            }
        });
    }
    for sink in &unique(&args.sinks) {
        match sink {
            SinkKind::Webhook => text.push_str(&format!(
                "[[sink]]\n\
                 # JSON POSTed to your receiver, signed: X-Tripkey-Signature is HMAC-SHA256 of\n\
                 # \"timestamp.body\" under this secret, which was generated for you; give it to\n\
                 # the receiver, or move it to the environment with secret_env = \"NAME\".\n\
                 name = \"webhook\"\n\
                 type = \"webhook\"\n\
                 url = \"${{TRIPKEY_WEBHOOK_URL:-https://alerts.example.com/tripkey}}\"\n\
                 secret = \"{webhook_secret}\"\n\n"
            )),
            SinkKind::Slack => text.push_str(
                "[[sink]]\n\
                 # A Slack incoming webhook (Slack's \"Incoming Webhooks\" app). The URL is the\n\
                 # credential: keep it in the environment.\n\
                 name = \"slack\"\n\
                 type = \"slack\"\n\
                 webhook_url = \"${SLACK_WEBHOOK_URL:-https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX}\"\n\n",
            ),
            SinkKind::Teams => text.push_str(
                "[[sink]]\n\
                 # A Microsoft Teams channel: in its Workflows app, \"Post to a channel when a\n\
                 # webhook request is received\". The URL is the credential: keep it in the\n\
                 # environment.\n\
                 name = \"teams\"\n\
                 type = \"teams\"\n\
                 webhook_url = \"${TEAMS_WEBHOOK_URL:-https://prod.westus.logic.azure.com/workflows/EXAMPLE/triggers/manual/paths/invoke}\"\n\n",
            ),
            SinkKind::Discord => text.push_str(
                "[[sink]]\n\
                 # A Discord channel webhook (channel settings, Integrations, Webhooks). The URL\n\
                 # is the credential: keep it in the environment.\n\
                 name = \"discord\"\n\
                 type = \"discord\"\n\
                 webhook_url = \"${DISCORD_WEBHOOK_URL:-https://discord.com/api/webhooks/000000000000000000/EXAMPLE}\"\n\n",
            ),
            SinkKind::GoogleChat => text.push_str(
                "[[sink]]\n\
                 # A Google Chat space's webhook (Apps & integrations, Webhooks). The URL holds\n\
                 # its key and token: keep it in the environment.\n\
                 name = \"google-chat\"\n\
                 type = \"google-chat\"\n\
                 webhook_url = \"${GOOGLE_CHAT_WEBHOOK_URL:-https://chat.googleapis.com/v1/spaces/EXAMPLE/messages?key=KEY&token=TOKEN}\"\n\n",
            ),
            SinkKind::Pagerduty => text.push_str(
                "[[sink]]\n\
                 # A PagerDuty service: add an Events API v2 integration and give its key.\n\
                 # EU accounts add url = \"https://events.eu.pagerduty.com/v2/enqueue\".\n\
                 name = \"pagerduty\"\n\
                 type = \"pagerduty\"\n\
                 routing_key = \"${PAGERDUTY_ROUTING_KEY:-R0123456789ABCDEF0123456789ABCDE}\"\n\n",
            ),
            SinkKind::Email => text.push_str(
                "[[sink]]\n\
                 # Email through your SMTP relay, STARTTLS on port 587 by default.\n\
                 name = \"email\"\n\
                 type = \"email\"\n\
                 host = \"${TRIPKEY_SMTP_HOST:-smtp.example.com}\"\n\
                 from = \"tripkey@example.com\"\n\
                 to = [\"${TRIPKEY_ALERT_EMAIL:-security@example.com}\"]\n\
                 # username = \"tripkey\"\n\
                 # password_env = \"TRIPKEY_SMTP_PASSWORD\"\n\n",
            ),
            SinkKind::Sns => text.push_str(
                "[[sink]]\n\
                 # An SNS topic; messages carry rule and severity as attributes to filter on.\n\
                 name = \"sns\"\n\
                 type = \"sns\"\n\
                 topic_arn = \"${TRIPKEY_SNS_TOPIC_ARN:-arn:aws:sns:us-east-1:111122223333:security-alerts}\"\n\n",
            ),
            SinkKind::JsonLines => text.push_str(
                "[[sink]]\n\
                 # One JSON object per alert, appended to this file (\"-\" for stdout).\n\
                 name = \"alerts-file\"\n\
                 type = \"json-lines\"\n\
                 path = \"alerts.jsonl\"\n\n",
            ),
        }
    }
    text.push_str(
        "# Which alerts go where; without [[route]] tables every alert goes to every sink.\n\
         # [[route]]\n\
         # rules = [\"canary-use\"]\n\
         # min_severity = \"high\"\n\
         # sinks = [\"slack\"]\n",
    );
    text
}
