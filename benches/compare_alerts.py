#!/usr/bin/env python3
"""Compares `tripkey scan --format jsonl` alerts with a corpus's ground-truth.json.

Matching:
  canary-use                        by the record's eventID (one alert per use), else by
                                    principal and event time;
  instance-credential-exfiltration  by principal (session ARN) and offending source IP;
  access-denied-burst               by principal, with the burst's first denial
                                    (details.first_time, else event_time) inside the planted
                                    burst; details.count is checked when present.
Further alerts matching an already matched expectation are reported as repeats (not errors);
alerts matching nothing are unexpected, and are tagged when they hit a planted near miss.

Prints one summary line starting with "correctness:" plus details; exits 1 when an expected
alert is missing or an unexpected one appears.

Usage: compare_alerts.py GROUND_TRUTH_JSON ALERTS_JSONL
"""

import collections
import datetime
import json
import sys

RULES = ("canary-use", "instance-credential-exfiltration", "access-denied-burst")


def epoch(ts):
    if not isinstance(ts, str):
        return None
    try:
        return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def field(alert, name):
    record = alert.get("record") if isinstance(alert.get("record"), dict) else {}
    if name == "event_id":
        return alert.get("event_id") or record.get("eventID")
    if name == "source_ip":
        return alert.get("source_ip") or record.get("sourceIPAddress")
    if name == "principal":
        identity = record.get("userIdentity") or {}
        return (alert.get("principal") or identity.get("arn")
                or alert.get("access_key_id") or identity.get("accessKeyId"))
    return alert.get(name)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    truth = json.load(open(sys.argv[1]))
    alerts, bad_lines = [], 0
    for line in open(sys.argv[2]):
        line = line.strip()
        if not line:
            continue
        try:
            alerts.append(json.loads(line))
        except json.JSONDecodeError:
            bad_lines += 1

    expected = truth["alerts"]
    matched = [0] * len(expected)
    by_event = {e["event_id"]: i for i, e in enumerate(expected) if e["rule"] == "canary-use"}
    by_time = {(e["principal"], epoch(e["first_event_time"])): i
               for i, e in enumerate(expected) if e["rule"] == "canary-use"}
    by_ip = {(e["principal"], e["source_ip"]): i
             for i, e in enumerate(expected) if e["rule"] == "instance-credential-exfiltration"}
    bursts = collections.defaultdict(list)
    for i, e in enumerate(expected):
        if e["rule"] == "access-denied-burst":
            bursts[e["principal"]].append(i)

    problems, notes = [], []
    unexpected = collections.Counter()
    per_rule = collections.Counter()
    for a in alerts:
        rule = a.get("rule")
        per_rule[rule] += 1
        principal = field(a, "principal")
        i = None
        if rule == "canary-use":
            i = by_event.get(field(a, "event_id"))
            if i is None:
                i = by_time.get((principal, epoch(a.get("event_time"))))
        elif rule == "instance-credential-exfiltration":
            i = by_ip.get((principal, field(a, "source_ip")))
            if i is not None and not matched[i]:
                want = epoch(expected[i]["first_event_time"])
                got = epoch(a.get("event_time"))
                if got is not None and got != want:
                    notes.append(f"exfiltration {principal} from {field(a, 'source_ip')}: first alert at "
                                 f"{a.get('event_time')}, first offending call at {expected[i]['first_event_time']}")
        elif rule == "access-denied-burst":
            details = a.get("details") or {}
            first = epoch(details.get("first_time")) or epoch(a.get("event_time"))
            for k in bursts.get(principal, []):
                e = expected[k]
                if first is not None and epoch(e["first_event_time"]) <= first <= epoch(e["last_event_time"]):
                    i = k
                    if "count" in details and details["count"] != e["count"]:
                        notes.append(f"burst {principal} at {e['first_event_time']}: count "
                                     f"{details['count']}, ground truth {e['count']}")
                    break
        if i is None:
            unexpected[(rule, principal)] += 1
        else:
            matched[i] += 1

    missing = [e for e, n in zip(expected, matched) if n == 0]
    repeats = sum(n - 1 for n in matched if n > 1)
    near = {(nm["rule"], nm["principal"]): nm["note"] for nm in truth.get("near_misses", [])}
    for e in missing:
        problems.append(f"missing {e['rule']}: {e['principal']} at {e['first_event_time']} "
                        f"({e['event_name']} from {e['source_ip']}) - {e.get('note')}")
    for (rule, principal), n in unexpected.most_common():
        tag = f" [near miss: {near[(rule, principal)]}]" if (rule, principal) in near else ""
        problems.append(f"unexpected {rule}: {principal} x{n}{tag}")

    want = collections.Counter(e["rule"] for e in expected)
    found = collections.Counter(e["rule"] for e, n in zip(expected, matched) if n)
    parts = [f"{r} {found[r]}/{want[r]} found ({per_rule[r]} alerts)" for r in RULES]
    others = sum(n for r, n in per_rule.items() if r not in RULES)
    verdict = "OK" if not missing and not unexpected and not bad_lines else "MISMATCH"
    print(f"correctness: {verdict}: " + "; ".join(parts)
          + f"; {len(missing)} missing, {sum(unexpected.values())} unexpected"
          + (f" ({others} of other rules)" if others else "")
          + f", {repeats} repeats" + (f", {bad_lines} unparsable lines" if bad_lines else ""))
    for p in problems[:30]:
        print("  " + p)
    if len(problems) > 30:
        print(f"  ... {len(problems) - 30} more")
    for n in notes[:10]:
        print("  note: " + n)
    sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
