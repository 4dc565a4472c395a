//! Single-threaded scan throughput over a generated ~50 MB (decompressed) S3 object of real
//! record shapes, against `gzip -dc` on the same file. Throughput is in decompressed bytes.
//!
//! Run with `cargo bench -p trail --bench scan`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;
use trail::{load, load_reader, parse_records, Input, InputSource};

const DATASETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/datasets");
const TARGET_SIZE: usize = 50 << 20;

/// A tiny deterministic generator, so every run measures the same file.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Every record of the shared datasets (Stratus arrays and the OTRF JSON lines).
fn templates() -> Vec<Value> {
    let mut templates = Vec::new();
    let stratus = Path::new(DATASETS).join("stratus-red-team-detonation-logs/docs/detonation-logs");
    for entry in std::fs::read_dir(stratus).expect("shared datasets beside the repository") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let records: Vec<Value> = serde_json::from_str(&text).unwrap();
        templates.extend(records);
    }
    let otrf = Path::new(DATASETS).join(
        "otrf-security-datasets/datasets/atomic/aws/collection/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
    );
    for line in std::fs::read_to_string(otrf).unwrap().lines() {
        let mut record: Value = serde_json::from_str(line).unwrap();
        let object = record.as_object_mut().unwrap();
        object.remove("@version");
        let time = object.remove("@timestamp").unwrap();
        object.insert("eventTime".into(), time);
        templates.push(record);
    }
    templates
}

/// Writes (once) the gzip file: records drawn from the templates, with fresh IDs, IPs and
/// times as a real trail has, so the data compresses like real logs rather than repeats.
fn bench_file() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trail-scan-bench.json.gz");
    if path.exists() {
        return path;
    }
    let templates = templates();
    let mut random = SplitMix(0x7121_4b3e);
    let mut json = String::from("{\"Records\":[");
    let mut second = 1_722_375_000u64;
    while json.len() < TARGET_SIZE {
        let mut record = templates[(random.next() % templates.len() as u64) as usize].clone();
        let object = record.as_object_mut().unwrap();
        second += random.next() % 3;
        let (day, rest) = (second / 86_400 - 19_934, second % 86_400);
        let time = format!(
            "2024-08-{:02}T{:02}:{:02}:{:02}Z",
            day.min(28) + 1,
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        );
        object.insert("eventTime".into(), time.into());
        object.insert("eventID".into(), random.uuid().into());
        object.insert("requestID".into(), random.uuid().into());
        if object.get("sourceIPAddress").is_some_and(|ip| {
            ip.as_str()
                .is_some_and(|ip| ip.starts_with(|c: char| c.is_ascii_digit()))
        }) {
            let ip = random.next();
            let ip = format!(
                "{}.{}.{}.{}",
                ip & 0xff,
                ip >> 8 & 0xff,
                ip >> 16 & 0xff,
                ip >> 24 & 0xff
            );
            object.insert("sourceIPAddress".into(), ip.into());
        }
        if json.len() > "{\"Records\":[".len() {
            json.push(',');
        }
        json.push_str(&serde_json::to_string(&record).unwrap());
    }
    json.push_str("]}");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, json.as_bytes()).unwrap();
    std::fs::write(&path, encoder.finish().unwrap()).unwrap();
    path
}

fn scan(c: &mut Criterion) {
    let path = bench_file();
    let compressed = std::fs::read(&path).unwrap();
    let decompressed = load_reader(compressed.as_slice()).unwrap().bytes;
    let mut records = 0u64;
    parse_records(&decompressed, |_, _| records += 1);
    eprintln!(
        "bench file {}: {} records, {:.1} MB gzip, {:.1} MB JSON",
        path.display(),
        records,
        compressed.len() as f64 / 1e6,
        decompressed.len() as f64 / 1e6
    );
    let input = Input {
        source: InputSource::File(path.clone()),
        name: path.display().to_string(),
        size: Some(compressed.len() as u64),
        object_key: None,
    };

    let mut group = c.benchmark_group("scan");
    group
        .throughput(Throughput::Bytes(decompressed.len() as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("gzip -dc", |b| {
        b.iter(|| {
            let status = Command::new("gzip")
                .arg("-dc")
                .arg(&path)
                .stdout(Stdio::null())
                .status()
                .expect("gzip on PATH");
            assert!(status.success());
        })
    });
    group.bench_function("load (read + gunzip)", |b| {
        b.iter(|| black_box(load(&input).unwrap().bytes.len()))
    });
    // The least any reader that checks its JSON can do: one validating pass that keeps
    // nothing. Beside "load", it bounds what a scan parsing with serde_json can reach
    // against the decompression floor.
    group.bench_function("serde_json validating skip (parser floor)", |b| {
        b.iter(|| {
            let skipped: serde::de::IgnoredAny = serde_json::from_slice(&decompressed).unwrap();
            black_box(skipped);
        })
    });
    group.bench_function("parse_records", |b| {
        b.iter(|| {
            let mut count = 0u64;
            parse_records(&decompressed, |_, record| {
                black_box(&record);
                count += 1;
            });
            assert_eq!(count, records);
        })
    });
    group.bench_function("scan (load + parse_records)", |b| {
        b.iter(|| {
            let loaded = load(&input).unwrap();
            let mut count = 0u64;
            parse_records(&loaded.bytes, |_, record| {
                black_box(&record);
                count += 1;
            });
            assert_eq!(count, records);
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
