//! What the settle time costs a live run: replays a trail folder (a `tripkey-corpus --max-lateness`
//! corpus) file by file in delivery order, as `serve` would meet it, and reports for each
//! exfiltration alert the time from the arrival of the file holding its call to the arrival of
//! the file whose records released it, with the settle time and without.
//!
//! Usage: cargo run --release -p detect --example settle_latency -- CORPUS [CORPUS...]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use detect::{AlertStatus, CanaryRegistry, DetectConfig, Engine, MemoryState, Rule, Span};
use trail::EventTime;

/// What a live run raised.
struct Replay {
    /// When each exfiltration alert that stands at the end was first raised, by dedup key:
    /// (arrival of its call's file, arrival of the file that raised it).
    standing: BTreeMap<String, (EventTime, EventTime)>,
    /// Alerts raised and later withdrawn.
    withdrawn: usize,
}

fn replay(folders: &[PathBuf], settle: Span) -> Replay {
    let discovery = trail::discover(folders).expect("the corpus folders can be listed");
    let mut files: Vec<(EventTime, &trail::Input)> = discovery
        .inputs
        .iter()
        .filter_map(|input| Some((input.object_key.as_ref()?.delivered_at, input)))
        .collect();
    files.sort_by_key(|(delivered, input)| (*delivered, input.name.clone()));
    let config = DetectConfig {
        settle,
        ..DetectConfig::default()
    };
    let mut engine = Engine::new(
        &config,
        Arc::new(CanaryRegistry::default()),
        MemoryState::default(),
    );
    engine.raise_updates(true);
    let mut arrival_of_event: BTreeMap<String, EventTime> = BTreeMap::new();
    let mut raised = BTreeMap::new();
    let mut withdrawn = std::collections::BTreeSet::new();
    let mut alerts = Vec::new();
    for (delivered, input) in files {
        let loaded = trail::load(input).expect("a corpus file reads");
        trail::parse_records(&loaded.bytes, |_, record| {
            if let Some(id) = record.fields.event_id.as_deref() {
                arrival_of_event.insert(id.to_owned(), delivered);
            }
            engine.process(&record, &mut alerts);
        });
        for alert in alerts.drain(..) {
            if alert.rule != Rule::InstanceCredentialExfiltration {
                continue;
            }
            if alert.status == AlertStatus::Withdrawn {
                withdrawn.insert(alert.dedup_key.clone());
                continue;
            }
            let call_arrived = alert
                .call
                .event_id
                .as_deref()
                .and_then(|id| arrival_of_event.get(id))
                .copied()
                .unwrap_or(delivered);
            raised
                .entry(alert.dedup_key.clone())
                .or_insert((call_arrived, delivered));
        }
    }
    engine.finish(&mut alerts);
    for alert in alerts {
        if alert.status == AlertStatus::Withdrawn {
            withdrawn.insert(alert.dedup_key);
        }
    }
    let withdrawn_count = withdrawn.len();
    raised.retain(|key, _| !withdrawn.contains(key));
    Replay {
        standing: raised,
        withdrawn: withdrawn_count,
    }
}

fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * share).round() as usize;
    sorted[rank]
}

fn main() {
    let folders: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    assert!(
        !folders.is_empty(),
        "usage: settle_latency CORPUS [CORPUS...]"
    );
    for folder in &folders {
        let settled = replay(std::slice::from_ref(folder), Span::minutes(5));
        let immediate = replay(std::slice::from_ref(folder), Span(0));
        let mut waits: Vec<f64> = Vec::new();
        let mut added: Vec<f64> = Vec::new();
        for (key, (arrived, raised)) in &settled.standing {
            let wait = (raised.millis() - arrived.millis()) as f64 / 60_000.0;
            waits.push(wait);
            let without = immediate
                .standing
                .get(key)
                .map_or(*arrived, |(_, raised)| *raised);
            added.push((raised.millis() - without.millis()) as f64 / 60_000.0);
        }
        waits.sort_by(f64::total_cmp);
        added.sort_by(f64::total_cmp);
        println!(
            "{}: {} exfiltration alerts; file arrival to alert p50 {:.1} min, p99 {:.1} min; added by the 5-minute settle time p50 {:.1} min, p99 {:.1} min; raised then withdrawn: {} with it, {} without",
            folder.display(),
            settled.standing.len(),
            percentile(&waits, 0.5),
            percentile(&waits, 0.99),
            percentile(&added, 0.5),
            percentile(&added, 0.99),
            settled.withdrawn,
            immediate.withdrawn,
        );
    }
}
