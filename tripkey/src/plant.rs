//! `tripkey plant` and `tripkey unplant`: the host side of planting, over crate `plant`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use client::ApiClient;
use notify::escape::for_terminal;
use plant::{Destination, Failure, PlantRequest, Planter, Planting, Selection, Target};

use crate::config::Config;

/// `tripkey plant`.
#[derive(clap::Args, Debug)]
pub struct PlantArgs {
    /// The tripkey server to ask for the canary [env: TRIPKEY_SERVER; config: [plant] server].
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// An `issuer` token of that server [env: TRIPKEY_TOKEN; config: [plant] token].
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// The kind of canary: iam-user, federation or role-session [default: the server's;
    /// config: [plant] kind]. Short-term kinds need --refresh from a timer.
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// The profile name [default: a plausible one the server suggests that neither file holds].
    #[arg(long, value_name = "NAME", conflicts_with = "default")]
    profile: Option<String>,
    /// Plant as the `default` profile: only when the credentials file has no `default`, or
    /// tripkey planted it.
    #[arg(long)]
    default: bool,
    /// A label for the canary beyond host, user, os and location (repeatable), e.g. team=payments.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = registry::service::label_pair)]
    labels: Vec<(String, String)>,
    /// The AWS shared credentials file [default: $AWS_SHARED_CREDENTIALS_FILE, else
    /// ~/.aws/credentials].
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// The AWS config file, which gets the profile's region and output [default:
    /// $AWS_CONFIG_FILE, else ~/.aws/config].
    #[arg(long, value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Leave the AWS config file alone.
    #[arg(long, conflicts_with = "config_file")]
    no_config_file: bool,
    /// Plant in another format, into the new file --output: env, fish, powershell, dotenv,
    /// json, sts-json, secrets-manager, kubernetes, github-actions, gitlab-ci, terraform.
    #[arg(long, value_name = "FORMAT", requires = "output", value_parser = parse_format)]
    format: Option<placement::Format>,
    /// The file --format writes; it must not exist yet.
    #[arg(long, value_name = "PATH", requires = "format")]
    output: Option<PathBuf>,
    /// Renew every short-term canary planted here that expires within 2 hours, in place.
    /// Idempotent, and silent when there is nothing to do.
    #[arg(long, conflicts_with_all = ["install_timer", "uninstall_timer", "list"])]
    refresh: bool,
    /// Run --refresh hourly: a systemd user timer, a launchd agent or a cron line, whichever
    /// this host has.
    #[arg(long, conflicts_with_all = ["uninstall_timer", "list"])]
    install_timer: bool,
    /// Remove the hourly --refresh.
    #[arg(long, conflicts_with = "list")]
    uninstall_timer: bool,
    /// List what tripkey planted on this host.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    host: HostArgs,
}

/// What `plant` and `unplant` share: where the state is, the config file, and the output.
#[derive(clap::Args, Debug)]
pub struct HostArgs {
    /// Where the record of what was planted, and the backups, are kept [default:
    /// ~/.local/state/tripkey; config: [plant] state_dir].
    #[arg(long, value_name = "DIR", env = "TRIPKEY_PLANT_STATE")]
    state_dir: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Print what was done as JSON (shapes in docs/cli-json.md).
    #[arg(long)]
    json: bool,
    /// Configuration file (tripkey.toml): its [plant] table applies.
    #[arg(long, value_name = "FILE", env = "TRIPKEY_CONFIG")]
    config: Option<PathBuf>,
}

/// `tripkey unplant`.
#[derive(clap::Args, Debug)]
pub struct UnplantArgs {
    /// Take out the profile of this name.
    #[arg(long, value_name = "NAME", required_unless_present_any = ["all", "output"], conflicts_with_all = ["all", "output"])]
    profile: Option<String>,
    /// Take out the --format file at this path.
    #[arg(long, value_name = "PATH", conflicts_with = "all")]
    output: Option<PathBuf>,
    /// Take out everything tripkey planted on this host.
    #[arg(long)]
    all: bool,
    /// The tripkey server to tell [default: the one plant used].
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The token to tell it with [default: the one plant used].
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    #[command(flatten)]
    host: HostArgs,
}

fn parse_format(text: &str) -> Result<placement::Format, String> {
    let format: placement::Format = text.parse().map_err(|error| format!("{error}"))?;
    if [
        placement::Format::CREDENTIALS_PROFILE,
        placement::Format::CONFIG_PROFILE,
    ]
    .contains(&format)
    {
        return Err(
            "profiles go into the AWS files without --format: use --profile NAME".to_owned(),
        );
    }
    Ok(format)
}

/// The server and token: the flag, else the environment, else `[plant]`, else (for refresh
/// and unplant) what plant remembered.
fn connection(
    server: Option<String>,
    token: Option<String>,
    config: &Config,
    remembered: &plant::PlantState,
) -> Option<(String, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let server = server
        .or_else(|| env("TRIPKEY_SERVER"))
        .or_else(|| config.plant.server.clone())
        .or_else(|| remembered.server.clone())?;
    let token = token
        .or_else(|| env("TRIPKEY_TOKEN"))
        .or_else(|| config.plant.token.clone())
        .or_else(|| remembered.token.clone())?;
    Some((server, token))
}

/// The shared flags, resolved: the config file read and the state folder chosen.
struct Host {
    config: Config,
    dir: PathBuf,
    quiet: bool,
    json: bool,
}

impl HostArgs {
    /// Reads the config file and picks the state folder: the flag or `TRIPKEY_PLANT_STATE`,
    /// else `[plant] state_dir`, else the per-user default.
    fn open(self) -> anyhow::Result<Host> {
        let config = Config::load_optional(self.config.as_deref())?;
        let dir = self
            .state_dir
            .or_else(|| config.plant.state_dir.clone())
            .or_else(plant::state::default_dir)
            .context("no home folder to keep the plant state in: pass --state-dir DIR")?;
        Ok(Host {
            config,
            dir,
            quiet: self.quiet,
            json: self.json,
        })
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `tripkey plant`. Exit status 0 when everything was done, 1 when some planting could
/// not be refreshed or recorded (the rest was).
pub fn run(args: PlantArgs) -> anyhow::Result<u8> {
    let Host {
        config,
        dir,
        quiet,
        json,
    } = args.host.open()?;
    let remembered = Planter::new(&dir, None).state()?;
    let out = &mut std::io::stdout().lock();
    if args.list {
        return list(out, &remembered.planted, json);
    }
    if args.install_timer || args.uninstall_timer {
        let scheduler = plant::timer::Scheduler::detect();
        let report = if args.install_timer {
            let exe = std::env::current_exe().context("cannot tell where this tripkey is")?;
            plant::timer::install(scheduler, &exe, &dir)?
        } else {
            plant::timer::uninstall(scheduler)?
        };
        if json {
            print_json(out, &report)?;
        } else if !quiet {
            let verb = if args.install_timer {
                "runs `tripkey plant --refresh` hourly"
            } else {
                "no longer runs `tripkey plant --refresh`"
            };
            writeln!(out, "{:?} {verb}", report.scheduler)?;
            for file in &report.files {
                writeln!(out, "  {}", file.display())?;
            }
        }
        return Ok(0);
    }
    let connection = connection(args.server, args.token, &config, &remembered);
    let client = connection
        .as_ref()
        .map(|(server, token)| ApiClient::new(server, token))
        .transpose()?;
    if args.refresh {
        let planter = Planter::new(&dir, client);
        let now = store::now();
        let report = runtime()?.block_on(planter.refresh(now))?;
        if json {
            print_json(out, &report)?;
        } else if !quiet {
            for planting in &report.renewed {
                writeln!(out, "renewed {}", describe(planting))?;
            }
            for planting in &report.recorded {
                writeln!(out, "recorded on the server: {}", describe(planting))?;
            }
        }
        print_failures(&report.failed);
        return Ok(u8::from(!report.failed.is_empty()));
    }
    let Some((server, token)) = connection else {
        anyhow::bail!(
            "plant needs a server: pass --server URL --token TOKEN, set TRIPKEY_SERVER and \
             TRIPKEY_TOKEN, or give them in [plant] of a config file (the token needs the \
             issuer scope: `tripkey token create NAME --scope issuer`)"
        );
    };
    let destination = match (args.format, args.output) {
        (Some(format), Some(path)) => Destination::File {
            format,
            path,
            name: args.profile,
        },
        _ => {
            let (credentials_default, config_default) = plant::aws_default_paths()
                .context("no home folder: pass --credentials-file and --config-file")?;
            Destination::Profile {
                profile: args.profile,
                default: args.default,
                credentials_file: args.credentials_file.unwrap_or(credentials_default),
                config_file: if args.no_config_file {
                    None
                } else {
                    Some(args.config_file.unwrap_or(config_default))
                },
            }
        }
    };
    let mut labels: Vec<(String, String)> = config
        .plant
        .labels
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    labels.extend(args.labels);
    let request = PlantRequest {
        kind: args.kind.or(config.plant.kind.clone()),
        labels,
        destination,
    };
    let planter = Planter::new(&dir, client);
    let planted = runtime()?.block_on(planter.plant(&request))?;
    planter.remember_server(&server, &token)?;
    if json {
        print_json(out, &planted)?;
    } else if !quiet {
        writeln!(out, "planted {}", describe(&planted.planting))?;
        if let Some(expires) = planted.planting.expires_at {
            writeln!(
                out,
                "  expires {expires}; `tripkey plant --install-timer` renews it hourly"
            )?;
        }
    }
    if let Some(why) = &planted.placement_pending {
        eprintln!(
            "warning: the placement is not recorded on the server yet ({}); `tripkey plant \
             --refresh` records it",
            for_terminal(why)
        );
        return Ok(1);
    }
    Ok(0)
}

/// Runs `tripkey unplant`. Exit status 0 when everything asked was taken out and the server
/// told, 1 otherwise (what could be done was).
pub fn unplant(args: UnplantArgs) -> anyhow::Result<u8> {
    let Host {
        config,
        dir,
        quiet,
        json,
    } = args.host.open()?;
    let remembered = Planter::new(&dir, None).state()?;
    let client = connection(args.server, args.token, &config, &remembered)
        .map(|(server, token)| ApiClient::new(&server, &token))
        .transpose()?;
    let selection = match (args.all, args.profile, args.output) {
        (true, _, _) => Selection::All,
        (_, Some(profile), _) => Selection::Profile(profile),
        (_, None, Some(path)) => Selection::Path(path),
        (false, None, None) => unreachable!("clap requires one"),
    };
    let planter = Planter::new(&dir, client);
    let report = runtime()?.block_on(planter.unplant(&selection))?;
    let out = &mut std::io::stdout().lock();
    if json {
        print_json(out, &report)?;
    } else if !quiet {
        for planting in &report.removed {
            writeln!(out, "removed {}", describe(planting))?;
        }
        for failure in &report.server_not_told {
            writeln!(
                out,
                "removed {}, but the server was not told: {}",
                describe(&failure.planting),
                for_terminal(&failure.error)
            )?;
        }
    }
    print_failures(&report.failed);
    Ok(u8::from(
        !report.failed.is_empty() || !report.server_not_told.is_empty(),
    ))
}

fn describe(planting: &Planting) -> String {
    let place = match &planting.target {
        Target::Profile {
            profile,
            credentials_file,
            ..
        } => format!("profile {profile} in {}", credentials_file.display()),
        Target::File { path, format, .. } => format!("{format} file {}", path.display()),
    };
    for_terminal(&format!(
        "{place}: canary {} ({}, {})",
        planting.canary_name, planting.kind, planting.access_key_id
    ))
    .into_owned()
}

fn print_failures(failures: &[Failure]) {
    for failure in failures {
        eprintln!(
            "error: {}: {}",
            describe(&failure.planting),
            for_terminal(&failure.error)
        );
    }
}

fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

fn list(out: &mut impl Write, planted: &[Planting], json: bool) -> anyhow::Result<u8> {
    if json {
        print_json(out, &serde_json::json!({ "planted": planted }))?;
        return Ok(0);
    }
    if planted.is_empty() {
        writeln!(out, "nothing planted on this host")?;
    }
    for planting in planted {
        let expires = planting
            .expires_at
            .map_or_else(|| "no expiry".to_owned(), |at| format!("expires {at}"));
        writeln!(out, "{}; {expires}", describe(planting))?;
    }
    Ok(0)
}
