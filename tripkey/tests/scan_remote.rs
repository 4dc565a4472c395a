//! `tripkey scan s3://…` and `tripkey scan logs://…` against a real moto server (started by
//! `scripts/test`): an organisation trail's bucket read in place and pruned to a window, a
//! CloudWatch Logs group holding the same records, an object S3 will not serve, and local and
//! remote inputs in one scan.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use trail::EventTime;

const ORGANISATION: &str = "o-a1b2c3d4e5";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const CANARY_KEY: &str = "AKIARTX3GSDS5ZZ46JLN";
const DAY_MILLIS: i64 = 86_400_000;

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

/// A name unique to this test run, for buckets and log groups on the shared server.
fn unique(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

async fn shared_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

async fn s3() -> aws_sdk_s3::Client {
    let shared = shared_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    )
}

/// Runs tripkey against moto, with only test credentials in reach.
fn tripkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto())
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("TRIPKEY_DATABASE", "/nonexistent/tripkey.db")
        .output()
        .expect("tripkey runs")
}

/// `tripkey scan --format json --canaries CANARIES ARGS…`: the document, and stderr.
fn scan_json(canaries: &str, args: &[&str]) -> (Value, String) {
    let output = tripkey(
        &[
            &["scan", "--format", "json", "--canaries", canaries][..],
            args,
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "exit {:?}, stderr: {stderr}",
        output.status.code()
    );
    let document = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: stderr: {stderr}"));
    (document, stderr)
}

fn canaries_file(folder: &Path) -> String {
    let path = folder.join("canaries.toml");
    std::fs::write(
        &path,
        format!("[[canary]]\nname = \"report-sync\"\naccess_key_id = \"{CANARY_KEY}\"\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Midnight UTC of the day `days_ago` days before today: within CloudWatch Logs' 14 days.
fn day_start(days_ago: i64) -> EventTime {
    let now = EventTime::from(std::time::SystemTime::now()).millis();
    EventTime(now - now.rem_euclid(DAY_MILLIS) - days_ago * DAY_MILLIS)
}

fn canary_call(at: EventTime, id: &str, account: &str, region: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": at.to_string(), "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity", "awsRegion": region, "sourceIPAddress": "203.0.113.5",
        "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/svc/report-sync"),
            "accountId": account, "accessKeyId": CANARY_KEY, "userName": "report-sync"},
        "recipientAccountId": account, "eventID": id
    })
}

fn denial(at: EventTime, id: &str, account: &str, region: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": at.to_string(), "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets", "awsRegion": region, "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0", "errorCode": "AccessDenied",
        "errorMessage": "User is not authorized to perform: s3:ListAllMyBuckets",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/prober"),
            "accountId": account, "accessKeyId": "AKIAQ3EGUFK3PROBER01", "userName": "prober"},
        "recipientAccountId": account, "eventID": id
    })
}

/// An object of the trail: its key in CloudTrail's organisation layout, and its records.
struct TrailObject {
    key: String,
    records: Vec<Value>,
}

fn trail_key(account: &str, region: &str, delivered: EventTime, suffix: &str) -> String {
    let text = delivered.to_string();
    let (date, time) = text.split_once('T').unwrap();
    let stamp = format!("{}T{}Z", date.replace('-', ""), time[..5].replace(':', ""));
    format!(
        "AWSLogs/{ORGANISATION}/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz",
        date.replace('-', "/")
    )
}

/// Three days of an organisation trail: for each account, region and day, one object at noon
/// with a canary call. The middle day also holds a burst of denials in one account and region.
fn organisation_trail() -> Vec<TrailObject> {
    let mut objects = Vec::new();
    for days_ago in [3, 2, 1] {
        let noon = day_start(days_ago).offset(12 * 3_600_000);
        for account in ACCOUNTS {
            for region in REGIONS {
                let tag = format!("{days_ago}-{account}-{region}");
                let mut records = vec![canary_call(
                    noon.offset(-60_000),
                    &format!("canary-{tag}"),
                    account,
                    region,
                )];
                if days_ago == 2 && account == ACCOUNTS[1] && region == REGIONS[1] {
                    records.extend((0..6).map(|n| {
                        denial(
                            noon.offset(-300_000 + n * 20_000),
                            &format!("denied-{tag}-{n}"),
                            account,
                            region,
                        )
                    }));
                }
                objects.push(TrailObject {
                    key: trail_key(account, region, noon, &format!("Ab{days_ago}Cd")),
                    records,
                });
            }
        }
    }
    objects
}

fn gzip_records(records: &[Value]) -> Vec<u8> {
    let body = json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap()
}

async fn bucket_with(objects: &[TrailObject]) -> String {
    let s3 = s3().await;
    let bucket = unique("org-trail");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for object in objects {
        s3.put_object()
            .bucket(&bucket)
            .key(&object.key)
            .body(gzip_records(&object.records).into())
            .send()
            .await
            .unwrap();
        // Digests sit beside the logs in every account and region; a scan never reads them.
        let digest = object
            .key
            .replace("/CloudTrail/", "/CloudTrail-Digest/")
            .replace("_CloudTrail_", "_CloudTrail-Digest_");
        s3.put_object()
            .bucket(&bucket)
            .key(digest)
            .body(b"{}".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    bucket
}

/// A log group fed as CloudTrail feeds one: one event per record, stamped with its event time.
async fn log_group_with(objects: &[TrailObject]) -> String {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&shared_config().await);
    let group = unique("org-trail");
    logs.create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    for (n, object) in objects.iter().enumerate() {
        let stream = format!("{}_CloudTrail_{n}", ACCOUNTS[0]);
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .send()
            .await
            .unwrap();
        // PutLogEvents takes a batch in time order only.
        let mut timed: Vec<(i64, String)> = object
            .records
            .iter()
            .map(|record| {
                let at = EventTime::parse(record["eventTime"].as_str().unwrap()).unwrap();
                (at.millis(), record.to_string())
            })
            .collect();
        timed.sort();
        let events = timed
            .into_iter()
            .map(|(millis, message)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(millis)
                    .message(message)
                    .build()
                    .unwrap()
            })
            .collect();
        let put = logs
            .put_log_events()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
        assert!(put.rejected_log_events_info().is_none(), "{put:?}");
    }
    group
}

fn alert_keys(document: &Value) -> BTreeSet<(String, String)> {
    document["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| {
            (
                alert["rule"].as_str().unwrap().to_owned(),
                alert["dedup_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn event_ids(document: &Value, rule: &str) -> BTreeSet<String> {
    document["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["rule"] == rule)
        .map(|alert| alert["record"]["eventID"].as_str().unwrap().to_owned())
        .collect()
}

/// Calls moto's request recorder, which logs every request the server answers.
fn recorder(action: &str) -> String {
    let address = moto();
    let host = address.trim_start_matches("http://").trim_end_matches('/');
    let method = if action == "download-recording" {
        "GET"
    } else {
        "POST"
    };
    let mut stream = std::net::TcpStream::connect(host).expect("moto answers");
    write!(
        stream,
        "{method} /moto-api/recorder/{action} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{action}: {head}"
    );
    body.to_owned()
}

/// The keys of `bucket` the recorded requests read with GetObject.
fn objects_read(recording: &str, bucket: &str) -> BTreeSet<String> {
    let prefix = format!("/{bucket}/");
    recording
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|request| request["method"] == "GET")
        .filter_map(|request| {
            let url = request["url"].as_str()?.to_owned();
            let path = url.split_once("://").map_or(url.as_str(), |(_, rest)| {
                rest.split_once('/').map_or("", |(_, path)| path)
            });
            let path = format!("/{path}");
            let (path, query) = path.split_once('?').unwrap_or((&path, ""));
            let key = path.strip_prefix(&prefix)?;
            (!key.is_empty() && !query.contains("list-type") && !query.contains("location"))
                .then(|| key.to_owned())
        })
        .collect()
}

/// An incident responder's question over an organisation's bucket: one day, every account and
/// region. Only that day's objects are read (moto's request log shows each GET), the window
/// keeps only that day's records, and the burst planted that day is found.
#[test]
fn a_one_day_window_reads_only_that_days_objects() {
    let objects = organisation_trail();
    let bucket = runtime().block_on(bucket_with(&objects));
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let since = day_start(2).to_string();
    let until = day_start(2).offset(DAY_MILLIS - 1000).to_string();
    let input = format!("s3://{bucket}/AWSLogs/");

    recorder("start-recording");
    let (document, stderr) = scan_json(&canaries, &["--since", &since, "--until", &until, &input]);
    recorder("stop-recording");
    let recording = recorder("download-recording");

    let middle_day = format!("/{}/", &since[..10].replace('-', "/"));
    let wanted: BTreeSet<String> = objects
        .iter()
        .filter(|object| object.key.contains(&middle_day))
        .map(|object| object.key.clone())
        .collect();
    assert_eq!(wanted.len(), ACCOUNTS.len() * REGIONS.len());
    assert_eq!(
        objects_read(&recording, &bucket),
        wanted,
        "stderr: {stderr}"
    );

    let canary_ids: BTreeSet<String> = ACCOUNTS
        .iter()
        .flat_map(|account| REGIONS.map(|region| format!("canary-2-{account}-{region}")))
        .collect();
    assert_eq!(
        event_ids(&document, "canary-use"),
        canary_ids,
        "{document:#}"
    );
    let bursts: Vec<&Value> = document["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["rule"] == "access-denied-burst")
        .collect();
    assert_eq!(bursts.len(), 1, "{document:#}");
    assert!(
        bursts[0]["summary"].as_str().unwrap().contains("prober"),
        "{:#}",
        bursts[0]
    );
    let summary = &document["summary"];
    assert_eq!(summary["files"], 4, "{summary:#}");
    assert_eq!(summary["files_with_problems"], 0, "{summary:#}");
    assert_eq!(summary["records"], 4 + 6, "{summary:#}");
    let skipped =
        summary["pruned_files"].as_u64().unwrap() + summary["pruned_folders"].as_u64().unwrap();
    assert!(
        skipped >= 4,
        "the other days are counted as skipped: {summary:#}"
    );
    assert!(
        document["problems"].as_array().unwrap().is_empty(),
        "{document:#}"
    );
}

/// The same records, delivered to a CloudWatch Logs group instead of a bucket, give the same
/// alerts; and a window bounds the group's events as it bounds the bucket's objects.
#[test]
fn a_log_group_gives_the_same_alerts_as_the_bucket() {
    let objects = organisation_trail();
    let (bucket, group) =
        runtime().block_on(async { (bucket_with(&objects).await, log_group_with(&objects).await) });
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let bucket_input = format!("s3://{bucket}");
    let group_input = format!("logs://{group}");

    let (from_bucket, _) = scan_json(&canaries, &[&bucket_input]);
    let (from_group, stderr) = scan_json(&canaries, &[&group_input]);
    assert_eq!(
        event_ids(&from_group, "canary-use").len(),
        12,
        "{from_group:#}"
    );
    assert_eq!(
        alert_keys(&from_group),
        alert_keys(&from_bucket),
        "stderr: {stderr}"
    );
    assert_eq!(
        from_group["summary"]["records"],
        from_bucket["summary"]["records"]
    );

    let since = day_start(2).to_string();
    let until = day_start(2).offset(DAY_MILLIS - 1000).to_string();
    let window = ["--since", since.as_str(), "--until", until.as_str()];
    let (bucket_day, _) = scan_json(&canaries, &[&window[..], &[&bucket_input]].concat());
    let (group_day, _) = scan_json(&canaries, &[&window[..], &[&group_input]].concat());
    assert_eq!(
        event_ids(&group_day, "canary-use").len(),
        4,
        "{group_day:#}"
    );
    assert_eq!(alert_keys(&group_day), alert_keys(&bucket_day));
}

/// An archived object (S3 answers InvalidObjectState) and a missing log group are reported by
/// name, with what to do, and the other objects are still read.
#[test]
fn an_unreadable_object_is_reported_and_skipped() {
    let objects = organisation_trail();
    let archived = trail_key(
        ACCOUNTS[0],
        REGIONS[0],
        day_start(1).offset(3_600_000),
        "Archived",
    );
    let bucket = runtime().block_on(async {
        let bucket = bucket_with(&objects).await;
        s3().await
            .put_object()
            .bucket(&bucket)
            .key(&archived)
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .body(
                gzip_records(&[canary_call(
                    day_start(1),
                    "archived",
                    ACCOUNTS[0],
                    REGIONS[0],
                )])
                .into(),
            )
            .send()
            .await
            .unwrap();
        bucket
    });
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let input = format!("s3://{bucket}");
    let missing_group = format!("logs://{}", unique("no-such-group"));

    let (document, stderr) = scan_json(&canaries, &[&input, &missing_group]);
    let problems = document["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{document:#}");
    let archived_problem = problems
        .iter()
        .find(|problem| problem["file"].as_str().unwrap().ends_with(&archived))
        .unwrap_or_else(|| panic!("the archived object is reported: {document:#}"));
    let message = archived_problem["message"].as_str().unwrap();
    assert!(
        message.contains("InvalidObjectState") && message.contains("restore"),
        "{message}"
    );
    assert!(
        problems
            .iter()
            .any(|problem| problem["file"] == missing_group.as_str()),
        "{document:#}"
    );
    assert!(
        stderr.contains(&archived),
        "problems are shown on stderr too: {stderr}"
    );
    assert_eq!(event_ids(&document, "canary-use").len(), 12, "{document:#}");
    assert_eq!(document["summary"]["files_with_problems"], 2);
}

/// A local folder, a bucket and a log group in one scan: each one's records are read and the
/// alerts of all three come out together, one per canary call.
#[test]
fn local_and_remote_inputs_mix_in_one_scan() {
    let objects = organisation_trail();
    let (local, rest) = objects.split_at(4);
    let (in_bucket, in_group) = rest.split_at(4);
    let (bucket, group) = runtime()
        .block_on(async { (bucket_with(in_bucket).await, log_group_with(in_group).await) });
    let folder = tempfile::tempdir().unwrap();
    let trail_folder = folder.path().join("trail");
    for object in local {
        let path = trail_folder.join(&object.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, gzip_records(&object.records)).unwrap();
    }
    let canaries = canaries_file(folder.path());
    let bucket_input = format!("s3://{bucket}/AWSLogs/{ORGANISATION}/");
    let group_input = format!("logs://{group}");

    let (document, stderr) = scan_json(
        &canaries,
        &[&bucket_input, trail_folder.to_str().unwrap(), &group_input],
    );
    let all: BTreeSet<String> = objects
        .iter()
        .flat_map(|object| object.records.iter())
        .filter(|record| record["eventName"] == "GetCallerIdentity")
        .map(|record| record["eventID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(event_ids(&document, "canary-use"), all, "stderr: {stderr}");
    assert_eq!(
        document["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|alert| alert["rule"] == "access-denied-burst")
            .count(),
        1
    );
    assert!(
        document["problems"].as_array().unwrap().is_empty(),
        "{document:#}"
    );

    let table = tripkey(&["scan", "--canaries", &canaries, &bucket_input, &group_input]);
    let stdout = String::from_utf8_lossy(&table.stdout);
    let stderr = String::from_utf8_lossy(&table.stderr);
    assert_eq!(table.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.contains("report-sync"), "{stdout}");
    assert!(stdout.contains("S3: 4 objects listed"), "{stdout}");
}
