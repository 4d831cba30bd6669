#!/usr/bin/env python3
"""The reporting half of scripts/bench-pipeline.sh (`make bench`).

  bench-pipeline-report.py --snapshot < "NAME PGID" lines
      prints "NAME CPU_SECONDS RSS_KB" per process group (PostgreSQL's processes, by name, last)
  bench-pipeline-report.py WORK_DIR JSON_OUT [DOCS_MD]
      reads the run's files in WORK_DIR, writes JSON_OUT, prints a table, appends a section to DOCS_MD
"""
import datetime
import glob
import json
import math
import os
import platform
import sys

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def processes():
    """(pid, comm, pgid, cpu seconds, rss kB) of every process still readable."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        # fields[0] is the state (field 3): pgrp is field 5, utime 14, stime 15, rss 24.
        pid = int(stat.split("/")[2])
        yield comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / TICKS, int(fields[21]) * PAGE_KB, pid


def snapshot():
    table = list(processes())
    for line in sys.stdin:
        name, group = line.split()
        if group.startswith("pid:"):  # one process (the broker, started by the stack, shares its group)
            mine = [p for p in table if p[4] == int(group[4:])]
        else:
            mine = [p for p in table if p[1] == int(group)]
        cpu = sum(p[2] for p in mine)
        rss = sum(p[3] for p in mine)
        if group.startswith("pid:"):  # a process restarted between two snapshots must not be compared
            name += "#" + group[4:]
        print(name, round(cpu, 2), rss)
    print("postgres(shared)", round(sum(p[2] for p in table if p[0] == "postgres"), 2), 0)


def percentile(values, q):
    """Nearest rank, like the load generator's LatencySummary."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[min(rank, len(ordered)) - 1], 2)


def read_histograms(prefix):
    """(family, label set) -> [sum, count] of every chorus histogram in the services' /metrics at PREFIX."""
    out = {}
    for path in glob.glob(f"{prefix}.*.prom"):
        for line in open(path):
            if not line.startswith("chorus_") or "{" not in line:
                continue
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("}", 1)
            for suffix, slot in (("_sum", 0), ("_count", 1)):
                if name.endswith(suffix):
                    entry = out.setdefault((name[:-len(suffix)], labels), [0.0, 0.0])
                    entry[slot] += float(value.split()[0])
    return out


def mean_times(work, tag):
    """Mean ms per processed message by stage, and per provider call, during the run (from /metrics)."""
    before, after = read_histograms(f"{work}/{tag}.before"), read_histograms(f"{work}/{tag}.after")
    means = {}
    for (family, labels), (total, count) in after.items():
        old_total, old_count = before.get((family, labels), [0.0, 0.0])
        if count - old_count > 0 and family in ("chorus_processing_seconds", "chorus_provider_request_seconds"):
            key = family.removeprefix("chorus_").removesuffix("_seconds") + "{" + labels + "}"
            means[key] = {"mean_ms": round(1000 * (total - old_total) / (count - old_count), 2), "count": int(count - old_count)}
    return means


def read_snapshot(path):
    out = {}
    for line in open(path):
        name, cpu, rss = line.split()
        out[name] = (float(cpu), int(rss))
    return out


def cpu_percent(before, after, wall):
    """% of one core per process between two snapshots; one restarted in between (another pid) is left out."""
    def by_name(snapshot):
        return {name.split("#")[0]: (name, value) for name, value in snapshot.items()}
    first, last = by_name(before), by_name(after)
    return {name: round(100 * (last[name][1][0] - first[name][1][0]) / wall, 1)
            for name in last if name in first and first[name][0] == last[name][0]}


def rss_of(snapshot):
    out = {}
    for name, (_, rss) in snapshot.items():
        if rss:
            out[name.split("#")[0]] = round(rss / 1024, 1)
    return out


def report(work, json_out, docs):
    nominal_ms = float(os.environ.get("BENCH_LATENCY", "100ms").removesuffix("ms"))
    scenarios = {}
    for path in sorted(glob.glob(f"{work}/*.summary")):
        tag = os.path.basename(path)[:-len(".summary")]
        scenario, _ = tag.rsplit("-", 1)
        summary = json.loads(open(path).read().strip().splitlines()[-1])
        row = {key: summary[key] for key in ("rate", "achieved", "p50_ms", "p90_ms", "p99_ms", "sent", "answered",
                                             "max_send_slip_ms", "drain_ms", "sustained")}
        if scenario == "litellm":
            overheads, method = [], "e2e - x-simulator-elapsed-ms"
            for line in open(f"{work}/{tag}.records"):
                _, e2e, model = (line.rstrip("\n").split("\t") + [""])[:3]
                if model:
                    overheads.append(float(e2e) - float(model))
                else:
                    overheads.append(float(e2e) - nominal_ms)
                    method = f"e2e - {nominal_ms:g} ms (nominal; the simulator's header did not come through)"
            critical = []
        else:
            overheads, critical, method = [], [], "e2e - (slowest pool call + judge call), responses.latency_ms"
            for line in open(f"{work}/{tag}.critical"):
                _, e2e, path_ms = line.strip().split("|")
                if path_ms:
                    overheads.append(float(e2e) - float(path_ms))
                    critical.append(float(path_ms))
        row["overhead_p50_ms"] = percentile(overheads, 0.5)
        row["overhead_p99_ms"] = percentile(overheads, 0.99)
        row["overhead_samples"] = len(overheads)
        row["overhead_method"] = method
        if critical:
            row["model_critical_path_p50_ms"] = percentile(critical, 0.5)
        before, after = read_snapshot(f"{work}/{tag}.before"), read_snapshot(f"{work}/{tag}.after")
        started, ended = map(float, open(f"{work}/{tag}.window").read().split())
        wall = ended - started
        row["cpu_percent"] = cpu_percent(before, after, wall)
        row["rss_mb"] = rss_of(after)
        lags = {}
        for line in open(f"{work}/{tag}.lag") if os.path.exists(f"{work}/{tag}.lag") else []:
            service, lag = line.split()
            lags[service] = max(lags.get(service, 0), float(lag))
        row["max_consumer_lag"] = {service: int(lag) for service, lag in lags.items()}
        row["stage_means"] = mean_times(work, tag)
        scenarios.setdefault(scenario, []).append(row)
    for rows in scenarios.values():
        rows.sort(key=lambda row: row["rate"])

    fusion = scenarios.get("fusion", [])
    sustained = [row["rate"] for row in fusion if row["sustained"]]
    load = " / ".join(open(f"{work}/uptime").read().split("\n")).strip(" /") if os.path.exists(f"{work}/uptime") else ""
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "uptime": load,
        "settings": {"latency": os.environ.get("BENCH_LATENCY"), "jitter": os.environ.get("BENCH_JITTER"),
                     "duration_per_rate": os.environ.get("BENCH_DURATION")},
        "litellm_mode": os.environ.get("BENCH_LITELLM_MODE") or None,
        "scenarios": scenarios,
        "fusion_sustained_rps": max(sustained) if sustained else (0 if fusion else None),
    }
    os.makedirs(os.path.dirname(json_out), exist_ok=True)
    with open(json_out, "w") as out:
        json.dump(result, out, indent=1)

    services = ["ingest", "dispatcher", "provider-worker", "judge", "billing", "gpu-inference"]
    header = ("| scenario | rate | achieved | p50 | p99 | overhead p50 | overhead p99 | answered | max lag "
              "| CPU % (services; tansu; postgres) | largest RSS |")
    lines = [header, "| --- " * 11 + "|"]
    for scenario, rows in scenarios.items():
        for row in rows:
            cpu = row["cpu_percent"]
            own = sum(cpu.get(name, 0) for name in services + ["litellm"])
            rss = {k: v for k, v in row["rss_mb"].items() if k in services + ["litellm"]}
            largest = max(rss.items(), key=lambda kv: kv[1]) if rss else ("-", 0)
            lag = max(row["max_consumer_lag"].values(), default=0)
            fmt = lambda v: "-" if v is None else f"{v:g}"
            fmt_cpu = lambda v: "restarted" if v is None else f"{v:.0f}"
            lines.append(
                f"| {scenario} | {row['rate']:g} | {row['achieved']:g} | {fmt(row['p50_ms'])} | {fmt(row['p99_ms'])} "
                f"| {fmt(row['overhead_p50_ms'])} | {fmt(row['overhead_p99_ms'])} | {row['answered']}/{row['sent']} "
                f"| {lag if scenario != 'litellm' else '-'} | {own:.0f}; {fmt_cpu(cpu.get('tansu(shared)'))}; "
                f"{cpu.get('postgres(shared)', 0):.0f} | {largest[0]} {largest[1]:g} MB |")
    table = "\n".join(lines)
    print(table)
    print(f"fusion sustained: {result['fusion_sustained_rps']} req/s; LiteLLM: {result['litellm_mode']}; {load}")
    if docs:
        top = max(fusion, key=lambda row: row["rate"] if row["sustained"] else -1, default=None)
        per_service = ""
        if top:
            per_service = "\n\nPer process at fusion " + f"{top['rate']:g} req/s: " + ", ".join(
                f"{name} {top['cpu_percent'].get(name, 0):g}% CPU / {top['rss_mb'].get(name, 0):g} MB"
                for name in services + ["provider-simulator", "tansu(shared)"]) + "."
        with open(docs, "a") as out:
            out.write(
                f"\n## Pipeline overhead and throughput, `make bench` ({result['date'][:10]})\n\n"
                f"Simulator {result['settings']['latency']} ± {result['settings']['jitter']}, "
                f"{result['settings']['duration_per_rate']} per rate, open loop, release build, all on one "
                f"{os.cpu_count()}-core machine. Load: `{load}`"
                f"{' (shared with other builds: noisy)' if load and max(float(part.split(',')[0]) for part in load.split('load average:')[1:]) > 1.5 else ''}. "
                f"LiteLLM: {result['litellm_mode']}. Times in ms; CPU in % of one core over the rate's run.\n\n"
                f"{table}\n\nFusion sustained: {result['fusion_sustained_rps']} req/s.{per_service}\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--snapshot"]:
        snapshot()
    else:
        report(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
