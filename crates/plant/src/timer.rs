//! The hourly `tripkey plant --refresh`: a systemd user timer, a launchd agent or a cron line,
//! whichever the host runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::PlantError;

/// The name the timer's files carry.
pub const NAME: &str = "tripkey-plant-refresh";
/// The launchd label.
const LAUNCHD_LABEL: &str = "dev.tripkey.plant-refresh";
/// Ends the crontab line, so that uninstalling finds it and nothing else.
const CRON_MARKER: &str = "# tripkey-plant-refresh";

/// A scheduler that can run the refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// A systemd user timer.
    Systemd,
    /// A launchd user agent (macOS).
    Launchd,
    /// A line in the user's crontab.
    Cron,
}

impl Scheduler {
    /// The scheduler this host runs: launchd on macOS, systemd where it is the init system
    /// and runs a user manager, cron otherwise.
    pub fn detect() -> Scheduler {
        if cfg!(target_os = "macos") {
            Scheduler::Launchd
        } else if Path::new("/run/systemd/system").is_dir()
            && Command::new("systemctl")
                .args(["--user", "show-environment"])
                .output()
                .is_ok_and(|output| output.status.success())
        {
            Scheduler::Systemd
        } else {
            Scheduler::Cron
        }
    }
}

/// A file a scheduler reads, with its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnitFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds.
    pub text: String,
}

/// The systemd service and timer running `exe plant --refresh` hourly, with the state folder.
pub fn systemd_units(config_home: &Path, exe: &Path, state_dir: &Path) -> Vec<UnitFile> {
    let dir = config_home.join("systemd/user");
    vec![
        UnitFile {
            path: dir.join(format!("{NAME}.service")),
            text: format!(
                "[Unit]\nDescription=Renew the short-term AWS credentials tripkey planted\n\n\
                 [Service]\nType=oneshot\nExecStart={} plant --refresh --quiet --state-dir {}\n",
                systemd_quote(exe),
                systemd_quote(state_dir)
            ),
        },
        UnitFile {
            path: dir.join(format!("{NAME}.timer")),
            text: "[Unit]\nDescription=Renew the short-term AWS credentials tripkey planted, hourly\n\n\
                   [Timer]\nOnBootSec=5min\nOnUnitActiveSec=1h\nRandomizedDelaySec=5min\nPersistent=true\n\n\
                   [Install]\nWantedBy=timers.target\n"
                .to_owned(),
        },
    ]
}

/// The launchd agent running `exe plant --refresh` hourly and at load.
pub fn launchd_agent(home: &Path, exe: &Path, state_dir: &Path) -> UnitFile {
    let argument = |value: &str| format!("    <string>{}</string>\n", xml_escape(value));
    let mut arguments = String::new();
    for value in [
        &exe.display().to_string(),
        "plant",
        "--refresh",
        "--quiet",
        "--state-dir",
        &state_dir.display().to_string(),
    ] {
        arguments.push_str(&argument(value));
    }
    UnitFile {
        path: home.join(format!("Library/LaunchAgents/{LAUNCHD_LABEL}.plist")),
        text: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<dict>\n  <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>\n\
             \x20 <key>ProgramArguments</key>\n  <array>\n{arguments}  </array>\n\
             \x20 <key>StartInterval</key>\n  <integer>3600</integer>\n\
             \x20 <key>RunAtLoad</key>\n  <true/>\n</dict>\n</plist>\n"
        ),
    }
}

/// `crontab` text with the hourly refresh line added (replacing an older one of ours); every
/// other line is kept as it was.
pub fn crontab_with_refresh(crontab: &str, exe: &Path, state_dir: &Path) -> String {
    let mut text = crontab_without_refresh(crontab);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    // A fixed minute per host spreads the fleet's refreshes over the hour.
    let minute = rand::random::<u8>() % 60;
    text.push_str(&format!(
        "{minute} * * * * {} plant --refresh --quiet --state-dir {} {CRON_MARKER}\n",
        shell_word(&exe.display().to_string()),
        shell_word(&state_dir.display().to_string())
    ));
    text
}

/// `crontab` text without the refresh line.
pub fn crontab_without_refresh(crontab: &str) -> String {
    crontab
        .split_inclusive('\n')
        .filter(|line| !line.trim_end().ends_with(CRON_MARKER))
        .collect()
}

/// What installing or removing the timer did.
#[derive(Clone, Debug, Serialize)]
pub struct TimerReport {
    /// The scheduler used.
    pub scheduler: Scheduler,
    /// The files written or removed.
    pub files: Vec<PathBuf>,
    /// What was run, for the record.
    pub commands: Vec<String>,
}

impl TimerReport {
    fn of(scheduler: Scheduler) -> TimerReport {
        TimerReport {
            scheduler,
            files: Vec::new(),
            commands: Vec::new(),
        }
    }
}

/// Installs the hourly refresh with `scheduler`.
pub fn install(
    scheduler: Scheduler,
    exe: &Path,
    state_dir: &Path,
) -> Result<TimerReport, PlantError> {
    let mut report = TimerReport::of(scheduler);
    match scheduler {
        Scheduler::Systemd => {
            for unit in systemd_units(&config_home()?, exe, state_dir) {
                write_unit(&unit)?;
                report.files.push(unit.path);
            }
            run(&mut report, "systemctl", &["--user", "daemon-reload"])?;
            run(
                &mut report,
                "systemctl",
                &["--user", "enable", "--now", &format!("{NAME}.timer")],
            )?;
        }
        Scheduler::Launchd => {
            let agent = launchd_agent(&home()?, exe, state_dir);
            write_unit(&agent)?;
            let path = agent.path.display().to_string();
            let _ = run(&mut report, "launchctl", &["unload", &path]);
            run(&mut report, "launchctl", &["load", "-w", &path])?;
            report.files.push(agent.path);
        }
        Scheduler::Cron => {
            let current = read_crontab()?;
            write_crontab(&mut report, &crontab_with_refresh(&current, exe, state_dir))?;
        }
    }
    Ok(report)
}

/// Removes the hourly refresh, whichever scheduler holds it.
pub fn uninstall(scheduler: Scheduler) -> Result<TimerReport, PlantError> {
    let mut report = TimerReport::of(scheduler);
    match scheduler {
        Scheduler::Systemd => {
            let _ = run(
                &mut report,
                "systemctl",
                &["--user", "disable", "--now", &format!("{NAME}.timer")],
            );
            for unit in systemd_units(&config_home()?, Path::new(""), Path::new("")) {
                if remove_file(&unit.path)? {
                    report.files.push(unit.path);
                }
            }
            let _ = run(&mut report, "systemctl", &["--user", "daemon-reload"]);
        }
        Scheduler::Launchd => {
            let agent = launchd_agent(&home()?, Path::new(""), Path::new(""));
            let _ = run(
                &mut report,
                "launchctl",
                &["unload", &agent.path.display().to_string()],
            );
            if remove_file(&agent.path)? {
                report.files.push(agent.path);
            }
        }
        Scheduler::Cron => {
            let current = read_crontab()?;
            let without = crontab_without_refresh(&current);
            if without != current {
                write_crontab(&mut report, &without)?;
            }
        }
    }
    Ok(report)
}

fn refused(detail: String) -> PlantError {
    PlantError::Refused(detail)
}

fn home() -> Result<PathBuf, PlantError> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_owned())
        .ok_or_else(|| refused("cannot tell this user's home folder (is HOME set?)".to_owned()))
}

fn config_home() -> Result<PathBuf, PlantError> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.config_dir().to_owned())
        .ok_or_else(|| refused("cannot tell this user's config folder (is HOME set?)".to_owned()))
}

fn write_unit(unit: &UnitFile) -> Result<(), PlantError> {
    placement::file::edit(&unit.path, None, |_| {
        Ok::<_, PlantError>(Some(unit.text.clone()))
    })?;
    Ok(())
}

fn remove_file(path: &Path) -> Result<bool, PlantError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(PlantError::File(placement::file::FileError::Io {
            action: "remove",
            path: path.to_owned(),
            source,
        })),
    }
}

fn run(report: &mut TimerReport, program: &str, args: &[&str]) -> Result<(), PlantError> {
    report
        .commands
        .push(format!("{program} {}", args.join(" ")));
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| refused(format!("cannot run {program}: {error}")))?;
    if !output.status.success() {
        return Err(refused(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

fn read_crontab() -> Result<String, PlantError> {
    let output = Command::new("crontab")
        .arg("-l")
        .output()
        .map_err(|error| {
            refused(format!(
                "this host has no systemd user manager and no usable crontab ({error}); run \
             `tripkey plant --refresh` hourly by other means"
            ))
        })?;
    // `crontab -l` fails when the user has no crontab yet: that is an empty one.
    Ok(if output.status.success() {
        String::from_utf8_lossy(&output.stdout).into_owned()
    } else {
        String::new()
    })
}

fn write_crontab(report: &mut TimerReport, text: &str) -> Result<(), PlantError> {
    use std::io::Write;
    report.commands.push("crontab -".to_owned());
    let mut child = Command::new("crontab")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| refused(format!("cannot run crontab: {error}")))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .map_err(|error| refused(format!("cannot write to crontab: {error}")))?;
    let output = child
        .wait_with_output()
        .map_err(|error| refused(format!("crontab failed: {error}")))?;
    if !output.status.success() {
        return Err(refused(format!(
            "crontab refused the new table: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// A path as one word of a systemd `ExecStart=`: quoted, with `\`, `"` and `%` escaped.
fn systemd_quote(path: &Path) -> String {
    let text = path.display().to_string();
    format!(
        "\"{}\"",
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
    )
}

/// A POSIX shell word, single-quoted unless plain; `%` is escaped, which cron would turn
/// into a line break.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''").replace('%', "\\%"))
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_units_quote_the_paths_and_run_hourly() {
        let units = systemd_units(
            Path::new("/home/u/.config"),
            Path::new("/opt/my tools/tripkey"),
            Path::new("/home/u/.local/state/100%"),
        );
        assert_eq!(
            units[0].path,
            Path::new("/home/u/.config/systemd/user/tripkey-plant-refresh.service")
        );
        assert!(units[0].text.contains(
            "ExecStart=\"/opt/my tools/tripkey\" plant --refresh --quiet --state-dir \"/home/u/.local/state/100%%\"\n"
        ));
        assert!(units[1].text.contains("OnUnitActiveSec=1h\n"));
    }

    #[test]
    fn the_cron_line_is_added_once_and_removed_alone() {
        let mine = "# my jobs\nMAILTO=me\n0 3 * * * backup.sh";
        let with = crontab_with_refresh(mine, Path::new("/usr/local/bin/tripkey"), Path::new("/s"));
        assert!(with.starts_with("# my jobs\nMAILTO=me\n0 3 * * * backup.sh\n"));
        assert!(with.ends_with(
            " * * * * /usr/local/bin/tripkey plant --refresh --quiet --state-dir /s # tripkey-plant-refresh\n"
        ));
        let again =
            crontab_with_refresh(&with, Path::new("/usr/local/bin/tripkey"), Path::new("/s"));
        assert_eq!(again.matches(CRON_MARKER).count(), 1);
        assert_eq!(
            crontab_without_refresh(&again),
            "# my jobs\nMAILTO=me\n0 3 * * * backup.sh\n"
        );
        assert_eq!(shell_word("/a b/50%"), "'/a b/50\\%'");
    }

    #[test]
    fn the_launchd_agent_escapes_its_arguments() {
        let agent = launchd_agent(
            Path::new("/Users/u"),
            Path::new("/opt/a&b/tripkey"),
            Path::new("/s"),
        );
        assert!(agent.text.contains("<string>/opt/a&amp;b/tripkey</string>"));
        assert!(agent.text.contains("<integer>3600</integer>"));
        assert_eq!(
            agent.path,
            Path::new("/Users/u/Library/LaunchAgents/dev.tripkey.plant-refresh.plist")
        );
    }
}
