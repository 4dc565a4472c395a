//! What the scanner must find: `ground-truth.json` (expected alerts and near misses) and the
//! `canaries.toml` it is given.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::catalog::Api;
use crate::event::{Event, EXPECT_BURST, EXPECT_EXFILTRATION};
use crate::ids;
use crate::plan::{Plan, Rule};
use crate::render;
use crate::world::{Actor, SourceIp};

/// True when the denial-burst detector counts `ev`.
fn counted_denial(ev: &Event) -> bool {
    ev.outcome.is_denial()
        && ev.api != Api::S3HeadBucket
        && ev.ip != Some(SourceIp::Service("delivery.logs.amazonaws.com"))
}

/// The expected alerts and near misses.
pub fn ground_truth(plan: &Plan, seed: u64) -> Value {
    let w = &plan.world;
    let canary_of: BTreeMap<String, &str> = w
        .canaries
        .iter()
        .filter_map(|c| Some((w.arn(c.actor)?, c.name.as_str())))
        .collect();
    let describe = |ord: usize, ev: &Event, rule: Rule| {
        let principal = w.arn(ev.actor);
        let key = w.credentials(ev.actor, ev.key_time()).map(|(k, _)| k);
        let episode = ev
            .episode
            .checked_sub(1)
            .map(|e| &plan.episodes[e as usize]);
        json!({
            "rule": rule.id(),
            "principal": principal,
            "access_key_id": key,
            "first_event_time": ids::iso(ev.time),
            "event_id": render::event_id(seed, ord),
            "event_name": ev.api.spec().name,
            "source_ip": render::source_ip(w, ev, seed, ord).to_string(),
            "note": episode.map(|e| e.note.as_str()),
        })
    };
    let mut alerts = Vec::new();
    let mut first_of_episode: BTreeMap<u16, usize> = BTreeMap::new();
    for (ord, ev) in plan.events.iter().enumerate() {
        if ev.episode != 0 {
            first_of_episode.entry(ev.episode).or_insert(ord);
        }
        if let Some(canary) = w.arn(ev.actor).and_then(|arn| canary_of.get(&arn)) {
            let mut a = describe(ord, ev, Rule::CanaryUse);
            a["canary"] = json!(canary);
            alerts.push(a);
        }
        if ev.flags & EXPECT_EXFILTRATION != 0 {
            let mut a = describe(ord, ev, Rule::Exfiltration);
            if let Actor::Instance(i) = ev.actor {
                a["instance_id"] = json!(w.instances[i as usize].id);
            }
            alerts.push(a);
        }
        if ev.flags & EXPECT_BURST != 0 {
            let mut a = describe(ord, ev, Rule::DenialBurst);
            let denials: Vec<&Event> = plan.events[ord..]
                .iter()
                .filter(|e| e.actor == ev.actor && counted_denial(e))
                .collect();
            let mut count = 1;
            let mut last = ev.time;
            for e in &denials[1..] {
                if e.time - last > 300 {
                    break;
                }
                count += 1;
                last = e.time;
            }
            a["count"] = json!(count);
            a["last_event_time"] = json!(ids::iso(last));
            alerts.push(a);
        }
    }
    let near_misses: Vec<Value> = first_of_episode
        .iter()
        .filter_map(|(&episode, &ord)| {
            let rule = plan.episodes[episode as usize - 1].near_miss?;
            Some(describe(ord, &plan.events[ord], rule))
        })
        .collect();
    let mut counts = BTreeMap::new();
    for rule in [Rule::CanaryUse, Rule::Exfiltration, Rule::DenialBurst] {
        let n = alerts.iter().filter(|a| a["rule"] == rule.id()).count();
        counts.insert(rule.id(), n);
    }
    json!({
        "format": "tripkey-corpus ground truth, version 1",
        "seed": seed,
        "records": plan.events.len(),
        "start": ids::iso(plan.start),
        "end": ids::iso(plan.end),
        "accounts": w.accounts.iter().map(|a| &a.id).collect::<Vec<_>>(),
        "organization_id": w.org_id,
        "counts": counts,
        "alerts": alerts,
        "near_misses": near_misses,
    })
}

fn toml_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `canaries.toml` as the scanner reads it.
pub fn canaries_toml(plan: &Plan) -> String {
    let w = &plan.world;
    let mut out = String::from(
        "# Canaries planted in this corpus (written by tripkey-corpus).\n# IAM user canaries are matched by key, ARN and user name; STS canaries by principal ARN.\n",
    );
    for c in &w.canaries {
        out.push_str("\n[[canary]]\nname = ");
        toml_string(&mut out, &c.name);
        if let Actor::User(u) = c.actor {
            out.push_str("\naccess_key_id = ");
            toml_string(&mut out, &w.users[u as usize].key);
        }
        if let Some(arn) = w.arn(c.actor) {
            out.push_str("\nprincipal_arn = ");
            toml_string(&mut out, &arn);
        }
        if let Actor::User(u) = c.actor {
            out.push_str("\nuser_name = ");
            toml_string(&mut out, &w.users[u as usize].name);
        }
        out.push_str("\nmemo = ");
        toml_string(&mut out, &c.memo);
        out.push_str("\n[canary.labels]\n");
        for (k, v) in &c.labels {
            out.push_str(k);
            out.push_str(" = ");
            toml_string(&mut out, v);
            out.push('\n');
        }
    }
    out
}
