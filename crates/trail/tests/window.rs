//! Pruning a trail folder by time, account and region: the folders the window excludes are
//! not listed at all, and files whose names put them outside it are not read.

use std::path::Path;

use trail::{discover_within, EventTime, ScanWindow};

fn touch(root: &Path, relative: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"{\"Records\":[]}").unwrap();
}

fn log(account: &str, region: &str, day: u32, hour: u32) -> String {
    format!(
        "AWSLogs/o-abc123/{account}/CloudTrail/{region}/2026/12/{day:02}/\
         {account}_CloudTrail_{region}_202612{day:02}T{hour:02}05Z_x.json.gz"
    )
}

#[test]
fn a_one_day_window_reads_that_days_files_and_the_margin_after_it() {
    let folder = tempfile::tempdir().unwrap();
    let root = folder.path();
    for account in ["111122223333", "444455556666"] {
        for region in ["us-east-1", "eu-west-1"] {
            for day in 1..=5 {
                for hour in [0, 1, 12, 23] {
                    touch(root, &log(account, region, day, hour));
                }
            }
        }
    }
    touch(root, "notes/readme.json");

    let window = ScanWindow {
        since: Some(EventTime::parse("2026-12-03T00:00:00Z").unwrap()),
        until: Some(EventTime::parse("2026-12-03T23:59:59Z").unwrap()),
        accounts: ["111122223333".to_owned()].into(),
        regions: ["eu-west-1".to_owned()].into(),
        margin: 2 * 3_600_000,
    };
    let found = discover_within(&[root.to_owned()], &window).unwrap();
    let mut names: Vec<String> = found
        .inputs
        .iter()
        .map(|input| {
            Path::new(&input.name)
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut expected = vec![
        log("111122223333", "eu-west-1", 3, 0),
        log("111122223333", "eu-west-1", 3, 1),
        log("111122223333", "eu-west-1", 3, 12),
        log("111122223333", "eu-west-1", 3, 23),
        // Delivered within the two-hour margin after the window: may hold its late events.
        log("111122223333", "eu-west-1", 4, 0),
        log("111122223333", "eu-west-1", 4, 1),
        "notes/readme.json".to_owned(),
    ];
    expected.sort();
    assert_eq!(names, expected);
    // Day 4's files after the margin are passed over by name; days 1, 2 and 5, the other
    // region and the other account are never listed.
    assert_eq!(found.pruned_files, 2);
    assert_eq!(found.pruned_folders, 3 + 1 + 1);

    let everything = discover_within(&[root.to_owned()], &ScanWindow::default()).unwrap();
    assert_eq!(everything.inputs.len(), 2 * 2 * 5 * 4 + 1);
    assert_eq!((everything.pruned_files, everything.pruned_folders), (0, 0));
}
