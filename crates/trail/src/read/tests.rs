use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::*;
use crate::input::discover;
use crate::time::EventTime;

const DATASETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/datasets");

fn stratus_dir() -> PathBuf {
    Path::new(DATASETS).join("stratus-red-team-detonation-logs/docs/detonation-logs")
}

fn otrf_jsonl() -> PathBuf {
    Path::new(DATASETS).join(
        "otrf-security-datasets/datasets/atomic/aws/collection/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
    )
}

/// What a parse delivered: (index, eventName, raw JSON) per record, and the problems.
struct Parsed {
    records: Vec<(u64, String, String)>,
    problems: Vec<ReadProblem>,
}

impl Parsed {
    fn names(&self) -> Vec<&str> {
        self.records
            .iter()
            .map(|(_, name, _)| name.as_str())
            .collect()
    }
    fn indexes(&self) -> Vec<u64> {
        self.records.iter().map(|(index, _, _)| *index).collect()
    }
    fn locations(&self) -> Vec<Location> {
        self.problems
            .iter()
            .map(|problem| problem.location)
            .collect()
    }
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut records = Vec::new();
    let problems = parse_records(bytes, |index, record| {
        records.push((
            index,
            record.fields.event_name.to_string(),
            record.raw.get().to_owned(),
        ));
    });
    Parsed { records, problems }
}

fn record(name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"2024-07-30T21:31:21Z","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"200.249.253.51","userIdentity":{{"type":"IAMUser","accessKeyId":"AKIAEXAMPLE"}},"requestParameters":{{"instanceId":"i-1"}},"eventID":"id-{name}"}}"#
    )
}

fn records_document(names: &[&str]) -> String {
    let records: Vec<String> = names.iter().map(|name| record(name)).collect();
    format!(r#"{{"Records":[{}]}}"#, records.join(","))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn eventbridge(detail: &str) -> String {
    format!(
        r#"{{"version":"0","id":"6a7e8feb","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","account":"111122223333","time":"2024-07-30T21:31:21Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
    )
}

/// Record JSON as a JSON string, the way CloudWatch Logs carries it.
fn quoted(json: &str) -> String {
    serde_json::to_string(json).unwrap()
}

/// Many distinct records in the S3 object shape, from the real Stratus files.
fn large_records_document() -> (String, usize) {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(stratus_dir()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let array: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text).unwrap();
        records.extend(array.into_iter().map(|raw| raw.get().to_owned()));
    }
    let count = records.len();
    (format!(r#"{{"Records":[{}]}}"#, records.join(",")), count)
}

#[test]
fn reads_the_s3_object_shape_and_keeps_raw_records() {
    let document = records_document(&["A", "B", "C"]);
    let parsed = parse(document.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["A", "B", "C"]);
    assert_eq!(parsed.indexes(), [0, 1, 2]);
    assert_eq!(parsed.records[1].2, record("B"));
}

#[test]
fn reads_pretty_printed_documents_with_records_not_first() {
    let document = format!(
        "\u{feff}\n  {{\n  \"note\": {{\"Records\": 1}},\n  \"Records\" : [\n    {},\n    {}\n  ]\n}}\n",
        record("A"),
        record("B")
    );
    let parsed = parse(document.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["A", "B"]);
}

#[test]
fn every_stratus_file_parses_with_its_record_count() {
    // From datasets/SOURCES.md.
    let expected: &[(&str, usize)] = &[
        ("aws.credential-access.ec2-get-password-data.json", 34),
        (
            "aws.credential-access.ec2-steal-instance-credentials.json",
            45,
        ),
        (
            "aws.credential-access.secretsmanager-batch-retrieve-secrets.json",
            5,
        ),
        (
            "aws.credential-access.secretsmanager-retrieve-secrets.json",
            21,
        ),
        (
            "aws.credential-access.ssm-retrieve-securestring-parameters.json",
            10,
        ),
        ("aws.defense-evasion.cloudtrail-delete.json", 1),
        ("aws.defense-evasion.cloudtrail-event-selectors.json", 1),
        ("aws.defense-evasion.cloudtrail-stop.json", 1),
        ("aws.defense-evasion.dns-delete-logs.json", 1),
        ("aws.defense-evasion.organizations-leave.json", 3),
        ("aws.defense-evasion.vpc-remove-flow-logs.json", 1),
        ("aws.discovery.ec2-download-user-data.json", 19),
        ("aws.execution.ec2-launch-unusual-instances.json", 3),
        ("aws.execution.ec2-user-data.json", 35),
        ("aws.execution.ssm-send-command.json", 56),
        ("aws.execution.ssm-start-session.json", 29),
        (
            "aws.exfiltration.ec2-security-group-open-port-22-ingress.json",
            1,
        ),
        ("aws.exfiltration.ec2-share-ami.json", 1),
        ("aws.exfiltration.ec2-share-ebs-snapshot.json", 1),
        ("aws.exfiltration.rds-share-snapshot.json", 1),
        ("aws.impact.bedrock-invoke-model.json", 15),
        ("aws.initial-access.console-login-without-mfa.json", 1),
        ("aws.lateral-movement.ec2-instance-connect.json", 3),
        (
            "aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json",
            4,
        ),
        ("aws.persistence.iam-backdoor-role.json", 1),
        ("aws.persistence.iam-backdoor-user.json", 1),
        ("aws.persistence.iam-create-admin-user.json", 3),
        ("aws.persistence.iam-create-backdoor-role.json", 2),
        ("aws.persistence.iam-create-user-login-profile.json", 3),
        ("aws.persistence.lambda-backdoor-function.json", 1),
        ("aws.persistence.lambda-layer-extension.json", 1),
        ("aws.persistence.lambda-overwrite-code.json", 1),
        ("aws.persistence.rolesanywhere-create-trust-anchor.json", 2),
        ("aws.persistence.sts-federation-token.json", 2),
        (
            "aws.privilege-escalation.iam-update-user-login-profile.json",
            1,
        ),
    ];
    let discovery = discover(&[stratus_dir()]).unwrap();
    assert_eq!(discovery.inputs.len(), expected.len());
    let mut total = 0;
    for (file, count) in expected {
        let input = discovery
            .inputs
            .iter()
            .find(|input| input.name.ends_with(file))
            .unwrap_or_else(|| panic!("{file} not discovered"));
        let loaded = load(input).unwrap();
        assert_eq!(loaded.compressed_len, input.size.unwrap());
        let parsed = parse(&loaded.bytes);
        assert!(parsed.problems.is_empty(), "{file}: {:?}", parsed.problems);
        assert_eq!(parsed.records.len(), *count, "{file}");
        total += count;
    }
    assert_eq!(total, 310);
}

#[test]
fn the_get_password_data_detonation_holds_its_denial_burst() {
    let bytes =
        std::fs::read(stratus_dir().join("aws.credential-access.ec2-get-password-data.json"))
            .unwrap();
    let mut denied = 0;
    let mut count = 0;
    let problems = parse_records(&bytes, |_, record| {
        count += 1;
        if record.fields.error_code.as_deref() == Some("Client.UnauthorizedOperation") {
            denied += 1;
            assert_eq!(record.fields.event_name, "GetPasswordData");
            assert_eq!(
                record.fields.user_identity.identity_type.as_deref(),
                Some("AssumedRole")
            );
        }
    });
    assert!(problems.is_empty());
    assert_eq!((count, denied), (34, 30));
}

#[test]
fn reads_the_otrf_logstash_json_lines() {
    let bytes = std::fs::read(otrf_jsonl()).unwrap();
    let mut stolen_key_uses = 0;
    let mut times = Vec::new();
    let problems = parse_records(&bytes, |_, record| {
        times.push(record.fields.event_time);
        if record.fields.user_identity.access_key_id.as_deref() == Some("ASIA5FLZVX4OPVKKVBMX") {
            stolen_key_uses += 1;
            assert_eq!(record.fields.user_identity.ec2_role_delivery(), Some("1.0"));
        }
        // The raw record keeps Logstash's fields.
        assert!(record.raw.get().contains("\"@version\""));
    });
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(times.len(), 103);
    assert_eq!(stolen_key_uses, 11);
    assert!(times.iter().all(|time| {
        *time >= crate::EventTime::parse("2020-09-14T00:44:00Z").unwrap()
            && *time <= crate::EventTime::parse("2020-09-14T01:14:00Z").unwrap()
    }));
}

#[test]
fn gzip_round_trips_including_multi_member_files() {
    let document = records_document(&["A", "B"]);
    let loaded = load_reader(gzip(document.as_bytes()).as_slice()).unwrap();
    assert!(loaded.problems.is_empty());
    assert_eq!(loaded.bytes, document.as_bytes());
    assert!(loaded.compressed_len > 0 && loaded.compressed_len < document.len() as u64);

    // Firehose concatenates gzip members, here two S3-shaped documents.
    let mut two_members = gzip(document.as_bytes());
    two_members.extend(gzip(records_document(&["C"]).as_bytes()));
    let loaded = load_reader(two_members.as_slice()).unwrap();
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    assert_eq!(parse(&loaded.bytes).names(), ["A", "B", "C"]);

    // Members of one size: the first alone matches the last trailer's size, not its CRC-32,
    // so the one-call path does not take the first for the whole.
    let mut same_size = gzip(records_document(&["D"]).as_bytes());
    same_size.extend(gzip(records_document(&["E"]).as_bytes()));
    let loaded = load_reader(same_size.as_slice()).unwrap();
    assert_eq!(parse(&loaded.bytes).names(), ["D", "E"]);
}

#[test]
fn plain_input_is_passed_through() {
    let loaded = load_reader(&b"[]"[..]).unwrap();
    assert_eq!(loaded.bytes, b"[]");
    assert_eq!(loaded.compressed_len, 2);
    assert!(loaded.problems.is_empty());
}

#[test]
fn a_truncated_gzip_yields_the_records_before_the_cut() {
    let (document, count) = large_records_document();
    let compressed = gzip(document.as_bytes());
    let cut = compressed.len() * 3 / 5;
    let loaded = load_reader(&compressed[..cut]).unwrap();

    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    let problem = &loaded.problems[0];
    assert!(matches!(problem.location, Location::Byte(at) if at > 0 && at <= cut as u64));
    assert!(problem.message.contains("ends early"), "{problem}");
    assert!(!loaded.bytes.is_empty());
    assert!(document.as_bytes().starts_with(&loaded.bytes));

    let parsed = parse(&loaded.bytes);
    let whole = parse(document.as_bytes());
    assert_eq!(whole.records.len(), count);
    let salvaged = parsed.records.len();
    assert!(
        salvaged > count / 3 && salvaged < count,
        "{salvaged} of {count}"
    );
    assert_eq!(parsed.records[..], whole.records[..salvaged]);
    assert_eq!(
        parsed.locations(),
        [Location::Byte(loaded.bytes.len() as u64)]
    );
    assert!(parsed.problems[0].message.contains("truncated"));
}

#[test]
fn a_corrupt_gzip_yields_what_precedes_the_damage_without_panicking() {
    let (document, _) = large_records_document();
    let mut compressed = gzip(document.as_bytes());
    let middle = compressed.len() / 2;
    for byte in &mut compressed[middle..middle + 64] {
        *byte = !*byte;
    }
    let loaded = load_reader(compressed.as_slice()).unwrap();
    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    assert!(matches!(loaded.problems[0].location, Location::Byte(_)));
    // Corrupt deflate data may decode to garbage before the decoder notices, so only the
    // start is sure to be intact.
    let intact = loaded
        .bytes
        .iter()
        .zip(document.as_bytes())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(intact > document.len() / 4, "{intact}");
    assert!(!parse(&loaded.bytes).records.is_empty());

    // Garbage after a good member, and a bare gzip header, fail the same way.
    let mut trailing = gzip(b"[]");
    trailing.extend_from_slice(b"\x1f\x8bnot gzip");
    let loaded = load_reader(trailing.as_slice()).unwrap();
    assert_eq!(loaded.bytes, b"[]");
    assert_eq!(loaded.problems.len(), 1);
    let loaded = load_reader(&b"\x1f\x8b"[..]).unwrap();
    assert!(loaded.bytes.is_empty());
    assert_eq!(loaded.problems.len(), 1);
}

#[test]
fn truncated_json_keeps_the_records_before_the_cut() {
    let document = records_document(&["A", "B", "C"]);
    let cut = document.find("\"eventName\":\"C\"").unwrap();
    let parsed = parse(&document.as_bytes()[..cut]);
    assert_eq!(parsed.names(), ["A", "B"]);
    assert_eq!(parsed.locations(), [Location::Byte(cut as u64)]);
    assert_eq!(
        parsed.problems[0].message,
        "the JSON ends in the middle of a value (truncated file?); records read before this \
         point: 2; anything after it is lost"
    );
}

#[test]
fn broken_json_stops_the_document_where_the_damage_is() {
    let good = records_document(&["A", "B"]);
    let broken = good.replacen("},{", "},x{", 1);
    let parsed = parse(broken.as_bytes());
    assert_eq!(parsed.names(), ["A"]);
    let at = broken.find("x{").unwrap() as u64;
    assert_eq!(parsed.locations(), [Location::Byte(at)]);
    assert!(parsed.problems[0]
        .message
        .starts_with("invalid JSON: expected value"));
}

#[test]
fn a_wrong_shape_record_is_reported_with_its_index_and_neighbours_are_kept() {
    let document = format!(
        r#"{{"Records":[{},{{"eventName":"NoTime","eventSource":"s3.amazonaws.com"}},42,{},{}]}}"#,
        record("A"),
        record("B").replace("2024-07-30T21:31:21Z", "yesterday"),
        record("C"),
    );
    let parsed = parse(document.as_bytes());
    assert_eq!(parsed.names(), ["A", "C"]);
    assert_eq!(parsed.indexes(), [0, 4]);
    assert_eq!(
        parsed.locations(),
        [
            Location::Record(1),
            Location::Record(2),
            Location::Record(3)
        ]
    );
    assert_eq!(
        parsed.problems[0].message,
        "not a CloudTrail record: missing field `eventTime`; record skipped"
    );
    assert_eq!(
        parsed.problems[1].message,
        "expected a CloudTrail record (a JSON object), found a number; record skipped"
    );
    assert!(parsed.problems[2]
        .message
        .contains("invalid timestamp \"yesterday\""));
}

#[test]
fn json_lines_skip_bad_lines_and_read_on() {
    let lines = format!(
        "{}\r\n{{\"eventTime\": broken\n\n   \n{}\nplain text\n[{},{}]\n",
        record("A"),
        record("B"),
        record("C"),
        record("D")
    );
    let parsed = parse(lines.as_bytes());
    assert_eq!(parsed.names(), ["A", "B", "C", "D"]);
    assert_eq!(parsed.indexes(), [0, 1, 2, 3]);
    assert_eq!(parsed.locations(), [Location::Line(2), Location::Line(6)]);
    assert_eq!(
        parsed.problems[0].message,
        "invalid JSON at column 15: expected value; line skipped"
    );
    assert_eq!(parsed.records[0].2, record("A"));
}

#[test]
fn reads_cloudwatch_logs_export_lines() {
    let lines = format!(
        "2024-07-30T21:31:22.000Z {}\n2024-07-30T21:31:23.000Z {}\n",
        record("A"),
        record("B")
    );
    let parsed = parse(lines.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["A", "B"]);
    assert_eq!(parsed.records[1].2, record("B"));
}

#[test]
fn reads_lines_of_s3_objects_and_eventbridge_events() {
    let lines = format!(
        "{}\n{}\n{}\n",
        records_document(&["A", "B"]),
        eventbridge(&record("C")),
        record("D")
    );
    let parsed = parse(lines.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["A", "B", "C", "D"]);
    assert_eq!(parsed.records[2].2, record("C"));
}

#[test]
fn reads_eventbridge_events_single_and_in_arrays() {
    // Pretty-printed, with detail before detail-type.
    let single = format!(
        "{{\n  \"detail\": {},\n  \"detail-type\": \"AWS API Call via CloudTrail\",\n  \"source\": \"aws.ec2\"\n}}",
        record("A")
    );
    let parsed = parse(single.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["A"]);
    assert_eq!(parsed.records[0].2, record("A"));

    let other = r#"{"detail-type":"GuardDuty Finding","source":"aws.guardduty","detail":{}}"#;
    let array = format!(
        "[{},{other},{}]",
        eventbridge(&record("B")),
        eventbridge(&record("C"))
    );
    let parsed = parse(array.as_bytes());
    assert_eq!(parsed.names(), ["B", "C"]);
    assert_eq!(parsed.indexes(), [0, 2]);
    assert_eq!(parsed.locations(), [Location::Record(1)]);
    assert_eq!(
        parsed.problems[0].message,
        "an EventBridge event of type \"GuardDuty Finding\" holds no CloudTrail record; record \
         skipped"
    );
}

#[test]
fn reads_cloudwatch_logs_subscription_payloads() {
    let payload = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"aws-cloudtrail-logs","logStream":"111122223333_CloudTrail_us-east-1","subscriptionFilters":["f"],"logEvents":[{{"id":"1","timestamp":1722375081000,"message":{}}},{{"id":"2","timestamp":1722375082000,"message":{}}},{{"id":"3","timestamp":1722375083000,"message":"START RequestId: 42"}},{{"id":"4","timestamp":1722375084000,"message":{}}}]}}"#,
        quoted(&record("A")),
        quoted(&record("B")),
        quoted(&eventbridge(&record("C"))),
    );
    let parsed = parse(payload.as_bytes());
    assert_eq!(parsed.names(), ["A", "B", "C"]);
    assert_eq!(parsed.indexes(), [0, 1, 3]);
    assert_eq!(parsed.records[0].2, record("A"));
    assert_eq!(parsed.records[2].2, record("C"));
    assert_eq!(parsed.locations(), [Location::Record(2)]);
    assert!(parsed.problems[0]
        .message
        .starts_with("a log message is not a CloudTrail record: expected value"));

    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    let parsed = parse(control.as_bytes());
    assert!(parsed.records.is_empty());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);

    // Firehose writes payloads back to back without a separator.
    let concatenated = format!("{payload}{control}{payload}");
    assert_eq!(parse(concatenated.as_bytes()).records.len(), 6);
}

#[test]
fn reads_aws_cli_filter_log_events_and_lookup_events_output() {
    let filter_log_events = format!(
        r#"{{"events":[{{"logStreamName":"s","timestamp":1,"message":{},"ingestionTime":2,"eventId":"e"}}],"searchedLogStreams":[]}}"#,
        quoted(&record("A"))
    );
    assert_eq!(parse(filter_log_events.as_bytes()).names(), ["A"]);

    let lookup_events = format!(
        r#"{{"Events":[{{"EventId":"e","EventName":"B","CloudTrailEvent":{}}}],"NextToken":"t"}}"#,
        quoted(&record("B"))
    );
    let parsed = parse(lookup_events.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["B"]);
}

#[test]
fn reads_single_and_concatenated_pretty_printed_records() {
    let pretty = |name: &str| {
        let value: serde_json::Value = serde_json::from_str(&record(name)).unwrap();
        serde_json::to_string_pretty(&value).unwrap()
    };
    let parsed = parse(pretty("A").as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.names(), ["A"]);
    assert_eq!(parsed.records[0].2, pretty("A"));

    // `jq '.Records[]'` output.
    let stream = format!("{}\n{}\n{{}}\n{}", pretty("B"), pretty("C"), pretty("D"));
    let parsed = parse(stream.as_bytes());
    assert_eq!(parsed.names(), ["B", "C", "D"]);
    assert_eq!(parsed.indexes(), [0, 1, 3]);
    assert_eq!(parsed.locations(), [Location::Record(2)]);
    assert_eq!(parsed.records[2].2, pretty("D"));
}

#[test]
fn empty_and_foreign_input_is_one_problem() {
    for empty in [&b""[..], b"  \n\t ", b"\xef\xbb\xbf"] {
        let parsed = parse(empty);
        assert!(parsed.records.is_empty());
        assert_eq!(parsed.locations(), [Location::Input]);
        assert_eq!(parsed.problems[0].message, "the input is empty");
    }
    let parsed = parse(b"eventTime,eventName\n2024-07-30,GetObject\n");
    assert_eq!(parsed.locations(), [Location::Input]);
    assert!(parsed.problems[0]
        .message
        .starts_with("not CloudTrail data"));

    let parsed = parse(&gzip(b"[]"));
    assert_eq!(parsed.locations(), [Location::Input]);
    assert!(parsed.problems[0].message.starts_with("this is gzip data"));

    let parsed = parse(b"\"just a string\"");
    assert_eq!(parsed.locations(), [Location::Input]);
    let parsed = parse(b"{\"Records\": null}");
    // At the offending `null` (serde_json places type errors at the value's end).
    assert!(matches!(parsed.locations()[..], [Location::Byte(12..=16)]));
    assert!(parsed.problems[0]
        .message
        .contains("expected an array of CloudTrail records"));
}

#[test]
fn deeply_nested_envelopes_are_refused_not_a_stack_overflow() {
    let depth = 100_000;
    let mut nested = "{\"Records\":[".repeat(depth);
    nested.push_str(&record("A"));
    nested.push_str(&"]}".repeat(depth));
    let parsed = parse(nested.as_bytes());
    assert!(parsed.records.is_empty());
    assert_eq!(parsed.locations(), [Location::Record(0)]);
    assert!(parsed.problems[0]
        .message
        .contains("nested more than 8 deep"));

    let shallow = format!("{{\"Records\":[{}]}}", records_document(&["A"]));
    assert_eq!(parse(shallow.as_bytes()).names(), ["A"]);
}

#[test]
fn invalid_utf8_is_repaired_and_reported() {
    let document = records_document(&["A", "B"]).replacen("AKIAEXAMPLE", "AKIA\u{e9}XAMPLE", 1);
    let mut bytes = document.into_bytes();
    let at = bytes
        .windows(2)
        .position(|w| w == "\u{e9}".as_bytes())
        .unwrap();
    bytes[at + 1] = b'E';
    let parsed = parse(&bytes);
    assert_eq!(parsed.names(), ["A", "B"]);
    assert_eq!(parsed.locations(), [Location::Byte(at as u64)]);
    assert!(parsed.records[0].2.contains("AKIA\u{fffd}EXAMPLE"));
}

#[test]
fn problems_are_capped_for_foreign_line_input() {
    let mut lines = record("A");
    for _ in 0..1500 {
        lines.push_str("\n{\"not\":\"a record\"}");
    }
    let parsed = parse(lines.as_bytes());
    assert_eq!(parsed.names(), ["A"]);
    assert_eq!(parsed.problems.len(), 1001);
    assert_eq!(
        parsed.problems[1000].to_string(),
        "input: 500 more problems are not listed; is this really CloudTrail data?"
    );
}

#[test]
fn locations_display_for_people() {
    assert_eq!(Location::Byte(123).to_string(), "byte 123");
    assert_eq!(Location::Line(4).to_string(), "line 4");
    assert_eq!(Location::Record(7).to_string(), "record 7");
    assert_eq!(
        ReadProblem {
            location: Location::Line(4),
            message: "x".into()
        }
        .to_string(),
        "line 4: x"
    );
}

#[test]
fn load_reads_files_gunzipping_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("111122223333_CloudTrail_us-east-1_20240802T0825Z_r.json");
    let document = records_document(&["A"]);
    std::fs::write(&path, gzip(document.as_bytes())).unwrap();
    let discovery = discover(std::slice::from_ref(&path)).unwrap();
    let loaded = load(&discovery.inputs[0]).unwrap();
    assert_eq!(loaded.bytes, document.as_bytes());
    assert_eq!(Some(loaded.compressed_len), discovery.inputs[0].size);

    let missing = Input {
        source: InputSource::File(dir.path().join("gone.json")),
        name: "gone.json".into(),
        size: None,
        object_key: None,
    };
    let error = load(&missing).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn a_gzip_bomb_stops_at_the_limit_and_says_so() {
    let bomb = gzip(&vec![b' '; 4_000_000]);
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let loaded = load_reader_within(bomb.as_slice(), 1_000_000).unwrap();
    assert_eq!(loaded.bytes.len(), 1_000_000);
    assert_eq!(loaded.problems.len(), 1);
    assert!(
        loaded.problems[0].message.contains("gzip bomb"),
        "{}",
        loaded.problems[0]
    );
    let whole = load_reader_within(bomb.as_slice(), 4_000_000).unwrap();
    assert_eq!(
        (whole.bytes.len(), whole.problems.len()),
        (4_000_000, 0),
        "exactly the limit is fine"
    );
}

/// An AWS Health event as EventBridge delivers it: AWS found a key in public.
fn health_event(key: &str) -> String {
    format!(
        r#"{{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"AWS Health Event","source":"aws.health","account":"111122223333","time":"2026-12-03T09:01:22Z","region":"us-east-1","resources":[],"detail":{{"eventArn":"arn:aws:health:global::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/AWS_RISK_CREDENTIALS_EXPOSED_7bf7","service":"RISK","eventTypeCode":"AWS_RISK_CREDENTIALS_EXPOSED","eventTypeCategory":"issue","eventScopeCode":"ACCOUNT_SPECIFIC","statusCode":"open","eventRegion":"global","eventDescription":[{{"language":"en_US","latestDescription":"We have become aware that the AWS Access Key {key} was publicly available."}}],"affectedEntities":[{{"entityValue":"{key}"}}],"affectedAccount":"111122223333"}}}}"#
    )
}

#[test]
fn aws_health_events_are_records_of_their_own_in_every_envelope() {
    let event = health_event("AKIARTX3GSDS5ZZ46JLN");
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&event).unwrap())
            .unwrap();
    let inputs = [
        ("one event", event.clone()),
        ("pretty", pretty.clone()),
        ("array", format!("[{event},{}]", eventbridge(&record("A")))),
        ("lines", format!("{event}\n{}\n", record("A"))),
        (
            "subscription",
            format!(
                r#"{{"messageType":"DATA_MESSAGE","logEvents":[{{"id":"1","timestamp":1,"message":{}}}]}}"#,
                quoted(&event)
            ),
        ),
    ];
    for (name, input) in inputs {
        let mut records = Vec::new();
        let problems = parse_records(input.as_bytes(), |_, record| {
            records.push((
                record.fields.event_source.to_string(),
                record.fields.event_name.to_string(),
                record.fields.event_time,
                record.fields.aws_region.to_string(),
                record
                    .fields
                    .recipient_account_id
                    .as_deref()
                    .map(str::to_owned),
                record.raw.get().to_owned(),
            ));
        });
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let (source, event_name, time, region, account, raw) = &records[0];
        assert_eq!(source, crate::HEALTH_EVENT_SOURCE, "{name}");
        assert_eq!(event_name, "AWS_RISK_CREDENTIALS_EXPOSED", "{name}");
        assert_eq!(*time, EventTime::parse("2026-12-03T09:01:22Z").unwrap());
        assert_eq!(region, "us-east-1");
        assert_eq!(account.as_deref(), Some("111122223333"));
        let expected = if name == "pretty" { &pretty } else { &event };
        assert_eq!(raw, expected, "{name}: the raw record is the whole event");
    }
    let timeless = event.replace(r#""time":"2026-12-03T09:01:22Z","#, "");
    let parsed = parse(timeless.as_bytes());
    assert!(parsed.records.is_empty());
    assert!(
        parsed.problems[0]
            .message
            .starts_with("an AWS Health event without its time or type: missing field `time`"),
        "{:?}",
        parsed.problems
    );
}
