#!/usr/bin/env python3
"""Checks a tripkey-corpus output directory independently of the generator.

1. Every log object is valid gzip JSON `{"Records": [...]}` under the CloudTrail key layout,
   digest objects are not log objects, and the record count matches manifest.json.
2. A reference implementation of the three detectors as DESIGN.md specifies them runs over
   the records in event-time order; its alerts must equal ground-truth.json, and no near
   miss may raise an alert of its rule.

With --alerts-out FILE the reference alerts are also written as JSON lines in the shape of
`tripkey scan --format jsonl`, so compare_alerts.py can be checked against a known-good input.

Usage: check_corpus.py CORPUS_DIR [--alerts-out FILE]
"""

import argparse
import collections
import gzip
import ipaddress
import json
import os
import re
import sys
import tomllib

KEY_RE = re.compile(
    r"^AWSLogs/o-[a-z0-9]{10}/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/"
    r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
DIGEST_RE = re.compile(
    r"^AWSLogs/o-[a-z0-9]{10}/(\d{12})/CloudTrail-Digest/([a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"\1_CloudTrail-Digest_\2_[a-z0-9-]+_[a-z0-9-]+_\d{8}T\d{6}Z\.json\.gz$"
)
REQUIRED = ("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName",
            "awsRegion", "sourceIPAddress", "eventID", "eventType", "recipientAccountId")
WINDOW = 300
THRESHOLD = 5
TTL = 6 * 3600
# A punctual corpus delivers within 20 minutes; one made with --max-lateness says how late in
# its manifest.
PUNCTUAL_LAG = 20 * 60


def epoch(ts):
    import datetime
    return int(datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


def load(corpus):
    manifest = json.load(open(os.path.join(corpus, "manifest.json")))
    records, problems = [], []
    files = digests = 0
    out_of_order_files = 0
    sizes = []
    max_lag = 0
    for root, _, names in os.walk(os.path.join(corpus, "AWSLogs")):
        for name in sorted(names):
            path = os.path.join(root, name)
            key = os.path.relpath(path, corpus)
            if "CloudTrail-Digest" in key:
                digests += 1
                if not DIGEST_RE.match(key):
                    problems.append(f"bad digest key {key}")
                doc = json.loads(gzip.decompress(open(path, "rb").read()))
                if "Records" in doc or "logFiles" not in doc:
                    problems.append(f"digest {key} looks like a log object")
                continue
            files += 1
            m = KEY_RE.match(key)
            if not m or m.group(1) != m.group(6) or m.group(2) != m.group(7):
                problems.append(f"bad log key {key}")
                continue
            raw = gzip.decompress(open(path, "rb").read())
            doc = json.loads(raw)
            recs = doc.get("Records")
            if not isinstance(recs, list) or not recs:
                problems.append(f"{key}: no Records")
                continue
            times = [r["eventTime"] for r in recs]
            if times != sorted(times):
                out_of_order_files += 1
            stamp = m.group(8)
            named = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:00Z"
            for r in recs:
                missing = [f for f in REQUIRED if f not in r]
                if missing:
                    problems.append(f"{key}: record {r.get('eventID')} lacks {missing}")
                if r["recipientAccountId"] != m.group(1) or r["awsRegion"] != m.group(2):
                    problems.append(f"{key}: record {r['eventID']} from another stream")
                lag = epoch(named) + 59 - epoch(r["eventTime"])
                if lag < 0:
                    problems.append(f"{key}: record {r['eventID']} delivered before it happened")
                max_lag = max(max_lag, lag)
                sizes.append(len(json.dumps(r, separators=(",", ":"))))
                records.append((r["eventTime"], key, r))
    if len(records) != manifest["records"]:
        problems.append(f"{len(records)} records, manifest says {manifest['records']}")
    if files != manifest["files"] or digests != manifest["digest_files"]:
        problems.append(f"{files} log / {digests} digest objects, manifest says "
                        f"{manifest['files']} / {manifest['digest_files']}")
    ids = collections.Counter(r["eventID"] for _, _, r in records)
    dupes = [i for i, n in ids.items() if n > 1]
    if dupes:
        problems.append(f"{len(dupes)} duplicate eventIDs")
    allowed_lag = PUNCTUAL_LAG + 60 * manifest.get("max_lateness_minutes", 0)
    if max_lag > allowed_lag:
        problems.append(f"a record lands in an object named {max_lag} s after it, beyond the "
                        f"{allowed_lag} s the manifest allows")
    sizes.sort()
    print(f"objects: {files} log, {digests} digest; records: {len(records)} "
          f"(size median {sizes[len(sizes) // 2]} B, p95 {sizes[len(sizes) * 95 // 100]} B); "
          f"{out_of_order_files} log objects not in event-time order; "
          f"object named at most {max_lag / 60:.1f} min after a record in it")
    return records, problems


def is_denial(code):
    return bool(code) and (code.startswith("AccessDenied") or code.endswith("UnauthorizedOperation")
                           or code in ("AuthorizationError", "AuthorizationFailure", "VpceAccessDenied"))


def parse_ip(s):
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def is_private(ip):
    return ip.version == 4 and (ip in ipaddress.ip_network("10.0.0.0/8")
                                or ip in ipaddress.ip_network("172.16.0.0/12")
                                or ip in ipaddress.ip_network("192.168.0.0/16")
                                or ip in ipaddress.ip_network("100.64.0.0/10"))


def alert(rule, r, t, **details):
    ui = r.get("userIdentity") or {}
    return {
        "rule": rule,
        "event_time": r["eventTime"],
        "principal": ui.get("arn"),
        "access_key_id": ui.get("accessKeyId"),
        "source_ip": r.get("sourceIPAddress"),
        "event_name": r["eventName"],
        "details": details,
        "record": r,
        "_t": t,
    }


def reference_alerts(records, canaries):
    by_key = {c["access_key_id"]: c for c in canaries if c.get("access_key_id")}
    by_arn = {c["principal_arn"]: c for c in canaries if c.get("principal_arn")}
    by_user = {(c["principal_arn"].split(":")[4], c["user_name"]): c
               for c in canaries if c.get("user_name") and c.get("principal_arn")}
    sessions = {}
    credits = collections.Counter()
    alerted_ip = set()
    denials = collections.defaultdict(collections.deque)
    bursts = {}
    alerts = []

    def close(principal):
        b = bursts.pop(principal)
        b["details"].update(count=b["_count"], last_time=b["_last_s"])

    for t_str, _, r in sorted(records, key=lambda x: x[0]):
        t = epoch(t_str)
        ui = r.get("userIdentity") or {}
        # canary use
        c = (by_key.get(ui.get("accessKeyId")) or by_arn.get(ui.get("arn"))
             or by_user.get((ui.get("accountId"), ui.get("userName"))))
        if c:
            alerts.append(alert("canary-use", r, t, canary=c["name"]))
        # exfiltration
        rp = r.get("requestParameters") or {}
        src = r.get("sourceIPAddress", "")
        if (r["eventSource"] == "sts.amazonaws.com" and r["eventName"] == "AssumeRole"
                and src == "ec2.amazonaws.com"):
            role_arn, inst = rp["roleArn"], rp["roleSessionName"]
            arn = f"arn:aws:sts::{role_arn.split(':')[4]}:assumed-role/{role_arn.split('/')[-1]}/{inst}"
            row = sessions.get(arn)
            if row and row["expires"] > t:
                row["expires"] = t + TTL
            else:
                sessions[arn] = {"expires": t + TTL, "ips": set(), "private": False, "instance": inst}
        elif (r["eventName"] in ("AssociateAddress", "AttachNetworkInterface")
              and not r.get("errorCode") and rp.get("instanceId")):
            credits[rp["instanceId"]] += 1
        if ui.get("type") == "AssumedRole":
            row = sessions.get(ui.get("arn"))
            ip = parse_ip(src)
            if row and row["expires"] > t and ip is not None and src not in row["ips"]:
                private = is_private(ip)
                if not row["ips"]:
                    row["ips"].add(src)
                    row["private"] = private
                elif private and r.get("vpcEndpointId"):
                    if not row["private"]:
                        row["ips"].add(src)
                        row["private"] = True
                    elif (ui["arn"], src) not in alerted_ip:
                        alerted_ip.add((ui["arn"], src))
                        alerts.append(alert("instance-credential-exfiltration", r, t, reason="new-private-ip"))
                elif credits[row["instance"]] > 0:
                    credits[row["instance"]] -= 1
                    row["ips"].add(src)
                elif (ui["arn"], src) not in alerted_ip:
                    alerted_ip.add((ui["arn"], src))
                    alerts.append(alert("instance-credential-exfiltration", r, t, reason="new-ip",
                                        instance_id=row["instance"], locked_ips=sorted(row["ips"])))
        # denial bursts
        if (is_denial(r.get("errorCode")) and src != "delivery.logs.amazonaws.com"
                and r["eventName"] != "HeadBucket"):
            principal = ui.get("arn") or ui.get("accessKeyId")
            if not principal:
                continue
            b = bursts.get(principal)
            if b and t - b["_last"] > WINDOW:
                close(principal)
                b = None
            if b:
                b["_count"] += 1
                b["_last"], b["_last_s"] = t, t_str
                continue
            w = denials[principal]
            w.append((t, t_str))
            while w and w[0][0] < t - WINDOW:
                w.popleft()
            if len(w) >= THRESHOLD:
                a = alert("access-denied-burst", r, t, first_time=w[0][1], trigger_time=t_str)
                a.update(_count=len(w), _last=t, _last_s=t_str)
                bursts[principal] = a
                alerts.append(a)
                w.clear()
    for principal in list(bursts):
        close(principal)
    for a in alerts:
        for k in [k for k in a if k.startswith("_")]:
            del a[k]
    return alerts


def compare(alerts, truth):
    problems = []

    def key(a, first):
        return (a["rule"], a["principal"], first)

    got = collections.Counter()
    for a in alerts:
        first = a["details"].get("first_time") or a["event_time"]
        got[key(a, first)] += 1
    want = collections.Counter(key(e, e["first_event_time"]) for e in truth["alerts"])
    for k in want - got:
        problems.append(f"expected but not found by the reference: {k}")
    for k in got - want:
        problems.append(f"found by the reference but not in ground truth: {k}")
    counts = {e["rule"]: 0 for e in truth["alerts"]}
    for e in truth["alerts"]:
        counts[e["rule"]] += 1
    burst_counts = {(a["principal"], a["details"]["first_time"]): a["details"]["count"]
                    for a in alerts if a["rule"] == "access-denied-burst"}
    for e in truth["alerts"]:
        if e["rule"] == "access-denied-burst":
            got_count = burst_counts.get((e["principal"], e["first_event_time"]))
            if got_count is not None and got_count != e["count"]:
                problems.append(f"burst {e['principal']} at {e['first_event_time']}: "
                                f"count {got_count}, ground truth {e['count']}")
    for nm in truth["near_misses"]:
        hits = [a for a in alerts if a["rule"] == nm["rule"] and a["principal"] == nm["principal"]
                and nm["principal"] is not None]
        if hits:
            problems.append(f"near miss alerted: {nm['note']}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--alerts-out")
    args = ap.parse_args()
    records, problems = load(args.corpus)
    canaries = tomllib.load(open(os.path.join(args.corpus, "canaries.toml"), "rb"))["canary"]
    truth = json.load(open(os.path.join(args.corpus, "ground-truth.json")))
    alerts = reference_alerts(records, canaries)
    problems += compare(alerts, truth)
    per_rule = collections.Counter(a["rule"] for a in alerts)
    print("reference detectors: " + ", ".join(f"{r} {n}" for r, n in sorted(per_rule.items()))
          + f"; ground truth: {truth['counts']}; near misses: {len(truth['near_misses'])}")
    if args.alerts_out:
        with open(args.alerts_out, "w") as f:
            for a in alerts:
                f.write(json.dumps(a) + "\n")
    for p in problems[:40]:
        print("PROBLEM:", p)
    if problems:
        print(f"{len(problems)} problems")
        sys.exit(1)
    print("corpus OK")


if __name__ == "__main__":
    main()
