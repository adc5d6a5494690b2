"""The footprint benchmark's driver (make bench; docs/benchmarks.md).

    python bench/run.py [SECTION...]     (default: every section, in order)

Each section measures one thing and returns a dict; the driver merges the dicts into
bench/results.json (keeping what other sections wrote before), stamps the date and the
commit measured, and prints the table. Adding a measurement is adding a function to
SECTIONS. scripts/bench.sh builds the binaries, starts moto and sets it up before this runs;
AWS_ENDPOINT_URL and the demo credentials come from there.
"""

import datetime
import json
import math
import os
import pathlib
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = TARGET / "bench-bin"  # copies of the release binaries (scripts/bench.sh)
RESULTS = ROOT / "bench" / "results.json"
SCALE_RESULTS = ROOT / "bench" / "scale-results.json"
sys.path.insert(0, str(ROOT / "scripts"))
import moto_fixtures  # noqa: E402  (the demo's local AWS, shared with make demo)
sys.path.insert(0, str(ROOT / "bench" / "scale"))
from driver import free_port, wait_for  # noqa: E402  (the account-scale bench's, for the proxy)

# Fresh processes per program (cold starts), and invocations per process (1 cold + warm).
PROCESSES = int(os.environ.get("BENCH_PROCESSES", 21))
INVOCATIONS = int(os.environ.get("BENCH_INVOCATIONS", 11))
# One process, this many events of the five kinds in turn: the autoscaler's warm latency per
# event kind and its peak memory over a long-lived process.
MIXED_EVENTS = int(os.environ.get("BENCH_MIXED_EVENTS", 1000))
TARGET_FUNCTION = "orders-worker"
# The same-work events alternate between these values, so every invocation writes.
COMMANDS = (7, 8)
# Between the same-work events: the autoscaler paces its Lambda writes at 5 a second by
# default (one every 200 ms, no burst), so back-to-back writes would measure the pacing, not
# the work. Every program gets the same gap.
SAME_WORK_GAP_MS = int(os.environ.get("BENCH_GAP_MS", 250))
MIXED = {
    "alarm action": "events/alarm-lambda-action.json",
    "EventBridge": "events/alarm-eventbridge.json",
    "SNS": "events/alarm-sns.json",
    "SQS batch": "events/sqs-batch.json",
    "schedule": "events/scheduled.json",
}


def programs():
    """The autoscaler and its references, each as Lambda would start it."""
    python = ROOT / "bench" / "python"
    return {
        # As deployed (template.yaml): its history in the state table the fixtures create.
        "ours": {"cmd": [BIN / "lambda-autoscaler"],
                 "env": {"AUTOSCALER_POLICY_FILE": ROOT / "examples" / "policy.json",
                         "AUTOSCALER_STATE_TABLE": moto_fixtures.STATE_TABLE}},
        "echo": {"cmd": [BIN / "bench-echo"]},
        "minimal": {"cmd": [BIN / "bench-minimal"]},
        "python": {"cmd": [ROOT / ".venv" / "bin" / "python", "-m", "awslambdaric", "handler.handler"],
                   "cwd": python, "env": {"LAMBDA_TASK_ROOT": python, "_HANDLER": "handler.handler"}},
    }


# BENCH_LATENCY_MS: the ab section's programs reach moto through bench/scale/proxy.py, which
# adds that latency to every call (concurrently, as AWS's services answer) and enforces
# Lambda's quotas. moto alone answers each call in 2-3 ms, one call at a time (one Python
# process serves every service), so a program's concurrent calls cost it their sum there,
# and a program that makes more calls in fewer rounds looks slower than it would be on AWS.
LATENCY_MS = os.environ.get("BENCH_LATENCY_MS")
# BENCH_SERVICES_APART=1 (with BENCH_LATENCY_MS): DynamoDB and CloudWatch get moto servers of
# their own behind the proxy, so that calls to different services are served side by side,
# as AWS's separate services serve them; calls to one service still queue in its process.
SERVICES_APART = os.environ.get("BENCH_SERVICES_APART") == "1"
PROGRAM_ENDPOINT = None  # the proxy's, while it runs
# Where the state tables live: moto's server, or DynamoDB's own with BENCH_SERVICES_APART.
DYNAMODB_ENDPOINT = None


def start_latency_proxy():
    """Starts the proxy in front of moto for the programs (not for the fixtures' calls), and
    with SERVICES_APART a moto server each for DynamoDB and CloudWatch, with the fixtures."""
    global PROGRAM_ENDPOINT, DYNAMODB_ENDPOINT
    import atexit
    upstream = os.environ["AWS_ENDPOINT_URL"].removeprefix("http://")
    routes = []
    if SERVICES_APART:
        for service in ("dynamodb", "monitoring"):
            port = free_port()
            server = subprocess.Popen([sys.executable, ROOT / "scripts" / "moto_fixtures.py", "serve",
                                       "-H", "127.0.0.1", "-p", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            atexit.register(server.kill)
            wait_for(port, server, f"moto's server for {service}")
            moto_fixtures.setup(f"http://127.0.0.1:{port}")
            routes += ["--route", f"{service}=127.0.0.1:{port}"]
            if service == "dynamodb":
                DYNAMODB_ENDPOINT = f"http://127.0.0.1:{port}"
    port = free_port()
    proxy = subprocess.Popen([sys.executable, ROOT / "bench" / "scale" / "proxy.py", "--upstream", upstream,
                              "--port", str(port), "--latency-ms", LATENCY_MS, *routes])
    atexit.register(proxy.kill)
    wait_for(port, proxy, "the latency proxy")
    PROGRAM_ENDPOINT = f"http://127.0.0.1:{port}"


def dynamodb():
    return moto_fixtures.client(DYNAMODB_ENDPOINT or os.environ["AWS_ENDPOINT_URL"], "dynamodb")


def aws_env():
    """What Lambda gives every function for AWS access (here: moto, or the latency proxy in
    front of it, and demo keys)."""
    keys = ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    env = {k: os.environ[k] for k in keys}
    if PROGRAM_ENDPOINT:
        env["AWS_ENDPOINT_URL"] = PROGRAM_ENDPOINT
    env.update(AWS_DEFAULT_REGION=env["AWS_REGION"], AWS_SESSION_TOKEN="bench")
    return env


def runtime(program, events, processes, invocations, extra_env=(), gap_ms=0):
    """Runs bench-runtime (the Runtime API fake) on one program; returns its JSON report."""
    env = {**aws_env(), **program.get("env", {}), **dict(extra_env)}
    cmd = [BIN / "bench-runtime", "--processes", processes, "--invocations", invocations,
           "--gap-ms", gap_ms, "--log", TARGET / "bench-programs.log"]
    if "cwd" in program:
        cmd += ["--cwd", program["cwd"]]
    cmd += [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
    cmd += [a for label, path in events for a in ("--event", f"{label}={path}")]
    run = subprocess.run([str(c) for c in cmd + ["--"] + program["cmd"]], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{program['cmd'][0]}: {run.stderr.strip()} (its output: {TARGET / 'bench-programs.log'})")
    return json.loads(run.stdout)


def median(xs):
    return round(statistics.median(xs), 2)


def p99(xs):
    return round(sorted(xs)[math.ceil(0.99 * len(xs)) - 1], 2)


def rss_mb(kb):
    return round(kb / 1024, 1)


def direct_commands(directory):
    """The same-work events: one direct command per invocation, N alternating over COMMANDS."""
    events = []
    for n in COMMANDS:
        path = pathlib.Path(directory) / f"direct-{n}.json"
        path.write_text(json.dumps({"function": TARGET_FUNCTION, "desiredConcurrency": n}))
        events.append(("direct command", path))
    return events


def same_work(name, program, events, processes, samples=None):
    """Runs `processes` fresh processes on the direct commands, checks that the writes
    happened, and adds the raw samples to `samples`."""
    lam = moto_fixtures.client(os.environ["AWS_ENDPOINT_URL"], "lambda")
    # From a value no command sets, so the first invocation writes too.
    lam.put_function_concurrency(FunctionName=TARGET_FUNCTION, ReservedConcurrentExecutions=5)
    report = runtime(program, events, processes, INVOCATIONS, gap_ms=SAME_WORK_GAP_MS)
    written = lam.get_function_concurrency(FunctionName=TARGET_FUNCTION)["ReservedConcurrentExecutions"]
    expected = COMMANDS[(processes * INVOCATIONS - 1) % len(COMMANDS)]
    if name != "echo" and written != expected:
        sys.exit(f"{name}: {TARGET_FUNCTION} is at {written}, not {expected}: the writes did not happen")
    samples = samples or {"init": [], "cold": [], "warm": [], "rss_kb": []}
    for p in report["processes"]:
        samples["init"].append(p["init_ms"])
        samples["cold"].append(p["cold_ms"])
        samples["rss_kb"].append(p["peak_rss_kb"])
    samples["warm"] += report["warm_ms"]["direct command"]
    return samples


def summary(s):
    return {
        "init_ms": median(s["init"]),
        "cold_invocation_ms": median(s["cold"]),
        "cold_invocation_max_ms": round(max(s["cold"]), 2),
        "warm_ms": median(s["warm"]),
        "warm_p99_ms": p99(s["warm"]),
        "peak_rss_mb": rss_mb(statistics.median(s["rss_kb"])),
    }


def section_footprint():
    """Init, cold and warm invocation and peak RSS: ours against the references, on the same
    direct command; then ours over MIXED_EVENTS mixed events in one process."""
    with tempfile.TemporaryDirectory() as tmp:
        events = direct_commands(tmp)
        references = {name: summary(same_work(name, program, events, PROCESSES))
                      for name, program in programs().items()}
    # Dry run: every one of the mixed events reads the same state and does the same work.
    mixed = runtime(programs()["ours"], [(k, ROOT / v) for k, v in MIXED.items()], 1, MIXED_EVENTS,
                    {"AUTOSCALER_DRY_RUN": "true"})
    ours = references.pop("ours")
    return {
        "init_ms": {"median": ours["init_ms"]},
        "cold_invocation_ms": {"median": ours["cold_invocation_ms"], "max": ours["cold_invocation_max_ms"]},
        "warm_invocation_ms": {"median": ours["warm_ms"], "p99": ours["warm_p99_ms"]},
        "same_work_peak_rss_mb": ours["peak_rss_mb"],
        "peak_rss_mb": rss_mb(mixed["processes"][0]["peak_rss_kb"]),
        "warm_by_event_ms": {k: {"p50": median(v), "p99": p99(v), "n": len(v)}
                             for k, v in mixed["warm_ms"].items()},
        "references": references,
        "footprint_method": {
            "processes": PROCESSES, "invocations_per_process": INVOCATIONS,
            "same_work_event": f'{{"function": "{TARGET_FUNCTION}", "desiredConcurrency": N}}, '
                               f"N alternating {COMMANDS}: every invocation writes",
            "same_work_gap_ms": SAME_WORK_GAP_MS,
            "mixed_events": MIXED_EVENTS, "mixed_dry_run": True, "backend": "moto_server on 127.0.0.1",
        },
    }


def cargo_lambda_zip(*args):
    """Builds one binary as the deployment does; returns (zip bytes, bootstrap bytes)."""
    subprocess.run(["cargo", "lambda", "build", "--quiet", "--release", "--arm64",
                    "--output-format", "zip", *args], check=True, cwd=ROOT)
    path = TARGET / "lambda" / args[-1] / "bootstrap.zip"
    with zipfile.ZipFile(path) as z:
        return path.stat().st_size, z.getinfo("bootstrap").file_size


def section_package():
    """The arm64 deployment zip of the autoscaler and of the minimal program."""
    zip_bytes, bootstrap = cargo_lambda_zip("--bin", "lambda-autoscaler")
    min_zip, min_bootstrap = cargo_lambda_zip("-p", "lambda-autoscaler-bench", "--bin", "bench-minimal")
    return {"zip_bytes": zip_bytes, "bootstrap_bytes": bootstrap,
            "minimal_zip_bytes": min_zip, "minimal_bootstrap_bytes": min_bootstrap}


def cargo_bench(name, *args):
    """Runs one bench of bench/benches/ in the release profile (what Lambda runs; the decide
    section's artifacts serve them all); its stdout is returned, its errors pass through."""
    cmd = ["cargo", "bench", "--quiet", "--profile", "release", "-p", "lambda-autoscaler-bench", "--bench", name]
    return subprocess.run(cmd + ["--", *args], check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout


def criterion_medians(name):
    """Runs the criterion bench `name`, whose benchmarks are named `name/...`; returns the
    median estimate of each, in ns. Earlier results under that name go first: a benchmark
    renamed or removed must not linger in the results."""
    for old in (TARGET / "criterion").glob(f"{name}_*"):
        shutil.rmtree(old)
    cargo_bench(name, "--warm-up-time", "1", "--measurement-time", "3", "--noplot")
    out = {}
    for new in (TARGET / "criterion").glob(f"{name}_*/new"):
        full_id = json.loads((new / "benchmark.json").read_text())["full_id"]
        out[full_id] = json.loads((new / "estimates.json").read_text())["median"]["point_estimate"]
    return dict(sorted(out.items()))


def section_decide():
    """criterion's estimate of one `decide` call (bench/benches/decide.rs)."""
    return {"decide": {name: {"median_ns": round(ns, 1), "per_second": round(1e9 / ns)}
                       for name, ns in criterion_medians("decide").items()}}


def section_calls():
    """AWS calls per sample event at the port boundary, 1 and 10 targets, first and steady
    evaluation (bench/benches/calls.rs, which fails if a steady evaluation writes)."""
    events = {e.pop("event"): e for e in json.loads(cargo_bench("calls"))["calls_per_event"]}
    alarm = events["alarm action"]["targets"]["1"]["first"]
    return {"calls_per_event": events,
            "calls_per_alarm_event": {k: alarm[k] for k in ("reads", "writes", "lambda_writes", "state_writes", "metrics")}}


def section_cpu():
    """Handler CPU per sample event, one target, in-memory ports (bench/benches/handler.rs):
    criterion's median per event, in thread CPU µs, and the median over the event kinds."""
    us = {name.split("/", 1)[1]: round(ns / 1000, 1) for name, ns in criterion_medians("handler").items()}
    kind = {run: {name.split("/", 1)[1]: v for name, v in us.items() if name.startswith(run + "/")}
            for run in ("first", "steady")}
    return {"handler_cpu_us_per_event": {
        "median": median(kind["first"].values()), "by_event": kind["first"],
        "steady_median": median(kind["steady"].values()), "steady_by_event": kind["steady"],
        "goal": 200,
    }}


def section_scale():
    """The account-scale benchmark (scripts/bench-scale.sh; about 13 min): its results, as it
    writes them to bench/scale-results.json. BENCH_SCALE_ARGS passes options to it, e.g.
    "--n 100" for a quick run."""
    args = shlex.split(os.environ.get("BENCH_SCALE_ARGS", ""))
    subprocess.run(["scripts/bench-scale.sh", *args, "--out", SCALE_RESULTS], check=True, cwd=ROOT)
    return {"account_scale": json.loads(SCALE_RESULTS.read_text())["account_scale"]}


# The ab section's baseline keeps its history in a table of its own: each build's state item
# then grows as that build writes it (the two builds may write different layouts: since the
# activities' archive, the item holds the newest only), as it would deployed.
BASELINE_TABLE = moto_fixtures.STATE_TABLE + "-baseline"
# Rounds of the ab section, and untimed processes per build before them, so that each state
# item holds its 20 activities (a busy target's) when the timing starts.
AB_ROUNDS = int(os.environ.get("BENCH_AB_ROUNDS", 3))
AB_WARMUP = int(os.environ.get("BENCH_AB_WARMUP", 2))
def section_ab():
    """Ours against another build of it (BENCH_AB_BASELINE=path to its lambda-autoscaler),
    on the same work, in rounds that alternate the two (and the references named in
    BENCH_AB_REFERENCES, e.g. "python,minimal", so that a goal's ratio comes from one run);
    then each build's state item: its size and what DynamoDB charges for it."""
    baseline = os.environ.get("BENCH_AB_BASELINE")
    if not baseline:
        sys.exit("the ab section needs BENCH_AB_BASELINE=/path/to/another/lambda-autoscaler")
    references = [r for r in os.environ.get("BENCH_AB_REFERENCES", "").split(",") if r]
    if LATENCY_MS:
        start_latency_proxy()
    ours = programs()["ours"]
    tables = {"baseline": BASELINE_TABLE, "this build": moto_fixtures.STATE_TABLE}
    create_state_table(BASELINE_TABLE)
    builds = {"baseline": {**ours, "cmd": [baseline],
                           "env": {**ours["env"], "AUTOSCALER_STATE_TABLE": BASELINE_TABLE}},
              "this build": ours}
    timed = {**builds, **{name: programs()[name] for name in references}}
    samples = dict.fromkeys(timed)
    per_round = max(1, PROCESSES // AB_ROUNDS)
    with tempfile.TemporaryDirectory() as tmp:
        events = direct_commands(tmp)
        for name, program in builds.items():
            same_work(name, program, events, AB_WARMUP)
        for _ in range(AB_ROUNDS):
            for name, program in timed.items():
                samples[name] = same_work(name, program, events, per_round, samples[name])
    # Kept apart from moto's own numbers: "ab@10ms" for BENCH_LATENCY_MS=10, "ab@10ms+apart"
    # with BENCH_SERVICES_APART.
    key = f"ab@{LATENCY_MS}ms" + ("+apart" if SERVICES_APART else "") if LATENCY_MS else "ab"
    return {key: {"baseline": baseline, "latency_ms": float(LATENCY_MS or 0), "rounds": AB_ROUNDS,
                  "processes_per_round": per_round,
                   "warmup_processes": AB_WARMUP,
                   **{name: summary(s) for name, s in samples.items()},
                   "state_item": {name: state_item(table) for name, table in tables.items()}}}


def create_state_table(name):
    if name not in dynamodb().list_tables()["TableNames"]:
        dynamodb().create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "function", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "function", "KeyType": "HASH"}])


def attribute_bytes(value):
    """An attribute value's size by DynamoDB's published rules ("DynamoDB item sizes and
    formats"): UTF-8 bytes of a string, a byte per two significant digits of a number plus
    one, 3 bytes for a list or map plus a byte per element."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_bytes(e) for k, e in v.items())
    sys.exit(f"no size rule for type {kind}")


def item_bytes(item):
    return sum(len(name.encode()) + attribute_bytes(value) for name, value in item.items())


def state_item(table):
    """The bench target's state in `table`: the item a decision reads (its size, the read and
    write units DynamoDB charges for it, the activities it holds, and how long moto takes to
    answer a strongly consistent BatchGetItem of it, median of 20), and the archived
    activities' items (since the archive: `ARN#activity#NN`), which only
    `autoscaler activities` reads."""
    ddb = dynamodb()
    arn = moto_fixtures.client(os.environ["AWS_ENDPOINT_URL"], "lambda") \
        .get_function(FunctionName=TARGET_FUNCTION)["Configuration"]["FunctionArn"]
    key = {"function": {"S": arn}}
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    size = item_bytes(item)
    archived = [ddb.get_item(TableName=table, Key={"function": {"S": f"{arn}#activity#{n:02}"}},
                            ConsistentRead=True).get("Item") for n in range(20)]
    archived_sizes = [item_bytes(a) for a in archived if a]

    def read_ms():
        times = []
        for _ in range(20):
            start = time.perf_counter()
            ddb.batch_get_item(RequestItems={table: {"Keys": [key], "ConsistentRead": True}})
            times.append((time.perf_counter() - start) * 1000)
        return median(times)

    return {
        "activities_in_item": len(item.get("activities", {}).get("L", [])),
        "item_bytes": size,
        "read_units": math.ceil(size / 4096),
        "write_units": math.ceil(size / 1024),
        "batch_get_item_ms": read_ms(),
        "archived_items": len(archived_sizes),
        "archived_item_bytes_max": max(archived_sizes, default=0),
    }


SECTIONS = {"footprint": section_footprint, "package": section_package, "decide": section_decide,
            "calls": section_calls, "cpu": section_cpu, "scale": section_scale}
# Run only when named: it needs a second build to compare with.
EXTRA_SECTIONS = {"ab": section_ab}


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}"


def table(r):
    """The results as a human reads them."""
    rows = [("", "init ms", "cold ms", "warm ms", "peak RSS MiB")]
    if "references" in r:
        rows.append(("ours (autoscaler)", r["init_ms"]["median"], r["cold_invocation_ms"]["median"],
                     r["warm_invocation_ms"]["median"], r["same_work_peak_rss_mb"]))
        for name, ref in r["references"].items():
            rows.append((name, ref["init_ms"], ref["cold_invocation_ms"], ref["warm_ms"], ref["peak_rss_mb"]))
    lines = [f"{a:<20}{b:>10}{c:>10}{d:>10}{e:>14}" for a, b, c, d, e in rows]
    if "warm_by_event_ms" in r:
        lines += ["", f"{'event (warm, dry run)':<24}{'p50 ms':>10}{'p99 ms':>10}{'n':>6}"]
        lines += [f"{k:<24}{v['p50']:>10}{v['p99']:>10}{v['n']:>6}" for k, v in r["warm_by_event_ms"].items()]
        lines.append(f"peak RSS over {r['footprint_method']['mixed_events']} mixed events: {r['peak_rss_mb']} MiB")
    if "zip_bytes" in r:
        lines.append(f"arm64 zip: autoscaler {r['zip_bytes']:,} B (bootstrap {r['bootstrap_bytes']:,} B), "
                     f"minimal {r['minimal_zip_bytes']:,} B (bootstrap {r['minimal_bootstrap_bytes']:,} B)")
    for ab in (k for k in r if k.startswith("ab")):
        for name, a in r[ab].items():
            if isinstance(a, dict) and "warm_ms" in a:
                lines.append(f"{ab} {name:<12} init {a['init_ms']} ms, cold {a['cold_invocation_ms']} ms, "
                             f"warm {a['warm_ms']} ms (p99 {a['warm_p99_ms']}), peak RSS {a['peak_rss_mb']} MiB")
        for name, item in r[ab].get("state_item", {}).items():
            lines.append(f"{ab} state item ({name}): {item['activities_in_item']} activities, "
                         f"{item['item_bytes']:,} B: {item['read_units']} read units, {item['write_units']} "
                         f"write units; moto BatchGetItem {item['batch_get_item_ms']} ms; "
                         f"{item['archived_items']} archived activities' items of at most "
                         f"{item['archived_item_bytes_max']:,} B")
    for name, d in r.get("decide", {}).items():
        lines.append(f"{name}: {d['median_ns']} ns median ({d['per_second']:,}/s)")
    if "calls_per_event" in r:
        rwm = lambda c: f"{c['reads']}/{c['writes']}/{c['metrics']}"  # noqa: E731
        columns = ("1 target first", "1 target steady", "10 targets first", "10 targets steady")
        lines += ["", f"{'calls per event: reads/writes/metrics':<38}" + "".join(f"{c:>18}" for c in columns)]
        for name, e in r["calls_per_event"].items():
            t = e["targets"]
            lines.append(f"{name:<38}" + "".join(f"{rwm(t[n][run]):>18}" for n in ("1", "10") for run in ("first", "steady")))
    if "handler_cpu_us_per_event" in r:
        h = r["handler_cpu_us_per_event"]
        lines += ["", f"{'handler CPU per event, µs':<28}{'first':>10}{'steady':>10}"]
        lines += [f"{name:<28}{us:>10}{h['steady_by_event'][name]:>10}" for name, us in h["by_event"].items()]
        lines.append(f"{'median over the events':<28}{h['median']:>10}{h['steady_median']:>10}   (goal <= {h['goal']})")
    for run in r.get("account_scale", {}).get("runs", []):
        lines.append(f"account scale: case {run['case']} N={run['n']} invocation {run['invocation']}: "
                     f"{run['wall_seconds']} s, {run['total_calls']} calls, {run['total_429']} x 429, "
                     f"{run['applied']} applied, {run['deferred']} deferred")
    return "\n".join(lines)


def main(names):
    known = {**SECTIONS, **EXTRA_SECTIONS}
    unknown = set(names) - set(known)
    if unknown:
        sys.exit(f"unknown sections {sorted(unknown)}; known: {list(known)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # The results files themselves do not make the commit measured dirty.
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                ":!bench/results.json", ":!bench/scale-results.json")
    run = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD") + (" (with uncommitted changes)" if dirty else ""),
    }
    results.update({**run, "commit_subject": git("log", "-1", "--format=%s"), "machine": machine()})
    for name in names or SECTIONS:
        start = time.monotonic()
        results.update(known[name]())
        # Sections run at different times: each keeps the date and commit it measured. Saved
        # after each, so that a section that fails does not lose the ones before it.
        runs = results.setdefault("section_runs", {})
        runs[name] = {**run, "seconds": round(time.monotonic() - start, 1)}
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main(sys.argv[1:])
