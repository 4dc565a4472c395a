//! Detection does not depend on delivery order, end to end: a corpus whose files come up to 75
//! minutes late (with the planted late episodes: a burst split over three late regions, the
//! attacker's file before the instance's own, a credit after the address it explains) gives
//! exactly its ground truth through `scan` with one and two threads, and through `serve` with
//! a folder source fed in delivery order and in three shuffled orders.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::corpus::{assert_truth, corpus_generator};
use common::Serve;

/// How far a shuffle may move a file against delivery order. A file holds calls up to about
/// 95 minutes older than its delivery (75 minutes late, plus CloudTrail's own 20), so moving it
/// 20 minutes keeps every record within the 2-hour horizon of the newest seen before it.
const SHUFFLE_WINDOW_SECS: i64 = 20 * 60;

fn tripkey() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE");
    command
}

/// The corpus's log files in delivery order (their names sort by delivery time within a
/// stream; the generator's manifest order is by delivery), with their delivery times.
fn log_files(corpus: &Path) -> Vec<(i64, PathBuf)> {
    let mut files = Vec::new();
    let mut folders = vec![corpus.join("AWSLogs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("CloudTrail-Digest") {
                continue;
            }
            // ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz
            let stamp = name.split('_').nth(3).unwrap();
            files.push((delivery_seconds(stamp), path));
        }
    }
    files.sort();
    files
}

fn delivery_seconds(stamp: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| stamp[range].parse::<i64>().unwrap();
    let days = days_from_civil(number(0..4), number(4..6), number(6..8));
    days * 86_400 + number(9..11) * 3_600 + number(11..13) * 60
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Delivery order shuffled: files delivered within the same window come in a random order,
/// and a window's files may come before the previous window's last ones.
fn shuffled(files: &[(i64, PathBuf)], seed: u64) -> Vec<PathBuf> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut keyed: Vec<(i64, u64, PathBuf)> = files
        .iter()
        .map(|(delivered, path)| {
            let jitter = (next() % SHUFFLE_WINDOW_SECS as u64) as i64;
            (delivered + jitter, next(), path.clone())
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, _, path)| path).collect()
}

/// Serve with a folder source, fed `order` one file after another (named and dated so the
/// folder source takes them in that order); returns the alerts standing at the end.
fn serve_alerts(order: &[PathBuf], what: &str) -> String {
    let folder = tempfile::tempdir().unwrap();
    let logs = folder.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = folder.path().join("tripkey.toml");
    let db = folder.path().join("tripkey.db");
    std::fs::write(
        &config,
        "[canary]\noffline_account = \"111122223333\"\n\n\
         # Every file is in the folder before serve starts: nothing else is on its way.\n\
         [detect]\nsettle = \"2s\"\n\n\
         [[source]]\ntype = \"dir\"\nname = \"late\"\npath = \"logs\"\npoll = \"100ms\"\n",
    )
    .unwrap();
    // The folder source takes files that are not trail objects by modification time.
    let first = SystemTime::now() - Duration::from_secs(order.len() as u64 + 60);
    for (k, path) in order.iter().enumerate() {
        let copy = logs.join(format!("{k:06}.json.gz"));
        std::fs::copy(path, &copy).unwrap();
        let file = std::fs::File::options().write(true).open(&copy).unwrap();
        file.set_modified(first + Duration::from_secs(k as u64))
            .unwrap();
    }
    let canaries = Path::new(
        order[0]
            .to_str()
            .unwrap()
            .split("/AWSLogs/")
            .next()
            .unwrap(),
    )
    .join("canaries.toml");
    let mut command = tripkey();
    command
        .current_dir(folder.path())
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--canaries", canaries.to_str().unwrap()]);
    let serve = Serve::spawn(command);
    let last = format!("{:06}.json.gz", order.len() - 1);
    serve.wait_until(&format!("{what}: every file read"), || {
        let status = tripkey()
            .args(["status", "--config", config.to_str().unwrap()])
            .args(["--db", db.to_str().unwrap(), "--format", "json"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&status.stdout).contains(&last)
    });
    // The quiet spell releases the decisions still settling.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(serve.terminate(), Some(0));
    let listed = tripkey()
        .args(["alert", "list", "--db", db.to_str().unwrap()])
        .args(["--format", "jsonl", "-n", "100000"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let standing: Vec<&str> = std::str::from_utf8(&listed.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.contains("\"status\":\"withdrawn\""))
        .collect();
    standing.join("\n")
}

#[test]
fn late_files_give_the_corpus_truth_in_scan_and_serve_in_any_order() {
    let folder = tempfile::tempdir().unwrap();
    let corpus = folder.path().join("corpus");
    let generated = Command::new(corpus_generator())
        .args(["--records", "20000", "--span-hours", "6", "--seed", "5"])
        .args(["--max-lateness", "75", "--jobs", "2", "--out"])
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["max_lateness_minutes"], 75);

    for threads in ["1", "2"] {
        let scanned = tripkey()
            .args(["scan", "--no-store", "--no-progress", "--format", "json"])
            .args(["--threads", threads, "--canaries"])
            .arg(corpus.join("canaries.toml"))
            .arg(corpus.join("AWSLogs"))
            .output()
            .unwrap();
        // A scan that finds alerts exits 1.
        assert_eq!(scanned.status.code(), Some(1), "{scanned:?}");
        let report: serde_json::Value = serde_json::from_slice(&scanned.stdout).unwrap();
        let alerts: Vec<String> = report["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| alert.to_string())
            .collect();
        assert_truth(
            &corpus,
            &alerts.join("\n"),
            &format!("scan {threads} threads"),
        );
        let summary = &report["summary"];
        assert!(summary["out_of_order_records"].as_u64().unwrap() > 0);
        assert_eq!(summary["beyond_horizon_records"], 0, "{summary}");
    }

    let files = log_files(&corpus);
    let delivered: Vec<PathBuf> = files.iter().map(|(_, path)| path.clone()).collect();
    assert_truth(
        &corpus,
        &serve_alerts(&delivered, "serve delivery order"),
        "serve delivery order",
    );
    for seed in 1..=3 {
        let order = shuffled(&files, seed);
        assert_ne!(order, delivered);
        let what = format!("serve shuffle {seed}");
        assert_truth(&corpus, &serve_alerts(&order, &what), &what);
    }
}
