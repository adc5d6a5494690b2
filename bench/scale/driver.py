"""The account-scale benchmark: the release CLI reconciling N targets through the quota proxy.

Run by scripts/bench-scale.sh, which builds the CLI first; see docs/benchmarks.md,
"Account scale". For each case and N it starts from fresh fixtures in moto (made directly,
not through the proxy), runs `autoscaler invoke events/scheduled.json` against the proxy
and reports what the proxy counted and what the CLI returned.

Cases (one shared alarm in ALARM whose rule is `{"set": 5}`: one DescribeAlarms call and
one alarm in moto, whatever N):
  a  every reservation is already 5: nothing to change;
  b  every reservation is 1: all N scale out to 5;
  c  case b under a 30 s deadline (when the CLI has --deadline-seconds), then a second
     invocation.

With --wait-goal every function also gets an SQS queue (empty: a steady, idle consumer), and
its target follows it with a drain-time goal (`target_wait_seconds` 15): the queue proposes
min, the alarm's set wins, and nothing may be written in case a.

With --deployment-rps R a deployment shares the account's quota while each invocation runs:
a thread sends `ListFunctions` (a control-plane call the autoscaler never makes) through
the proxy R times a second, evenly spaced and never retried, as a CloudFormation deployment
streams its calls; its calls and 429s are reported beside the autoscaler's.

With --mappings every function also gets an SQS queue and an event source mapping that
follows its reservation: in case a at MaximumConcurrency 5 (nothing to change), in cases b
and c without one (each target's mapping is lowered to 5, then its reservation raised: two
control-plane writes per target).
"""

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(ROOT, "scripts")]
from moto_fixtures import ACCOUNT, REGION, set_alarm  # noqa: E402
from moto_fixtures import client as moto_client  # noqa: E402
from proxy import QUOTAS  # noqa: E402

ROLE = "scale-bench-target"
ALARM = "scale-bench-backlog"
STATE_TABLE = "autoscaler-state"
DESIRED = 5
START = {"a": DESIRED, "b": 1, "c": 1}
DEADLINE_SECONDS = 30
BIN_DIR = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, process, name):
    for _ in range(300):
        if process.poll() is not None:
            sys.exit(f"{name} exited with status {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{name} did not listen on port {port} within 30 s")


def client(endpoint, service):
    """A boto3 client for fixtures: pooled for 16 threads, no retries (moto never throttles)."""
    return moto_client(endpoint, service, config=Config(max_pool_connections=16, retries={"total_max_attempts": 1}))


def function_name(i):
    return f"scale-bench-{i:04d}"


def make_fixtures(moto, n, reserved, mappings=False, queues=False):
    """A fresh moto: N tagged functions at `reserved`, the alarm in ALARM, the state table,
    and with `mappings` an SQS queue and mapping per function. Returns the seconds it took;
    fails if moto does not list all N functions afterwards."""
    start = time.perf_counter()
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST")).read()
    client(moto, "iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    lam = client(moto, "lambda")

    def create(i):
        lam.create_function(
            FunctionName=function_name(i),
            Runtime="provided.al2023",
            Role=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
            Handler="bootstrap",
            Code={"ZipFile": b"never run"},
            # Targets must be opted in (the deployed role reads only tagged functions), and the
            # scheduled event's discovery then finds all N and defers to the document.
            Tags={"autoscaler:enabled": "true"},
        )
        lam.put_function_concurrency(FunctionName=function_name(i), ReservedConcurrentExecutions=reserved)
        if queues and not mappings:
            client(moto, "sqs").create_queue(QueueName=function_name(i))
        if mappings:
            sqs = client(moto, "sqs")
            url = sqs.create_queue(QueueName=function_name(i))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            scaling = {"ScalingConfig": {"MaximumConcurrency": DESIRED}} if reserved == DESIRED else {}
            lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function_name(i), **scaling)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(n)))
    set_alarm(moto, ALARM, "ALARM")
    client(moto, "dynamodb").create_table(
        TableName=STATE_TABLE,
        AttributeDefinitions=[{"AttributeName": "function", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "function", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    listed = sum(len(page["Functions"]) for page in lam.get_paginator("list_functions").paginate())
    if listed != n:
        sys.exit(f"moto lists {listed} functions after creating {n}")
    return time.perf_counter() - start


def reservations_at(moto, n, value):
    """How many of the N functions moto holds at `value`: what was really applied."""
    lam = client(moto, "lambda")

    def reserved(i):
        return lam.get_function_concurrency(FunctionName=function_name(i)).get("ReservedConcurrentExecutions")

    with ThreadPoolExecutor(16) as pool:
        return sum(v == value for v in pool.map(reserved, range(n)))


def mappings_at(moto, n, value):
    """How many of the N functions' mappings moto holds at MaximumConcurrency `value`."""
    lam = client(moto, "lambda")
    found = [m.get("ScalingConfig", {}).get("MaximumConcurrency") for m in lam.list_event_source_mappings()["EventSourceMappings"]]
    return sum(v == value for v in found)


def write_policy(path, n, wait_goal=False):
    targets = [
        {"function": function_name(i), "min": 1, "max": 10, "alarms": [{"name": ALARM, "on_alarm": {"set": DESIRED}}]}
        for i in range(n)
    ]
    if wait_goal:
        for i, target in enumerate(targets):
            target["queue"] = {"name": function_name(i), "target_wait_seconds": 15}
    with open(path, "w") as f:
        json.dump({"targets": targets}, f)


def proxy_call(proxy, method, path):
    with urllib.request.urlopen(urllib.request.Request(f"{proxy}{path}", method=method)) as r:
        return json.load(r)


def invoke(binary, policy, proxy, extra_args, timeout, log_path, extra_env=()):
    """One CLI invocation through the proxy: (wall seconds, exit status or None if it ran
    out of time, the decision record or None, the last line of stderr)."""
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=proxy,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_EC2_METADATA_DISABLED="true",
        AUTOSCALER_STATE_TABLE=STATE_TABLE,
    )
    env.pop("AUTOSCALER_DRY_RUN", None)
    env.update(extra_env)
    command = [binary, "invoke", os.path.join(ROOT, "events/scheduled.json"), "--policy", policy, *extra_args]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        try:
            out, _ = child.communicate(timeout=timeout)
            status = child.returncode
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
            status = None
    wall = time.perf_counter() - start
    try:
        record = json.loads(out)
    except ValueError:
        record = None
    with open(log_path) as log:
        lines = [line.strip() for line in log if line.strip()]
    return wall, status, record, lines[-1] if lines else ""


class Deployment:
    """Another client of the account's Lambda quota (README "Scale"): `ListFunctions`
    through the proxy `rps` times a second, evenly spaced, never retried, until stopped."""

    def __init__(self, proxy, rps):
        self.lam = moto_client(proxy, "lambda", config=Config(retries={"total_max_attempts": 1}))
        self.rps = rps
        self.calls = self.throttled = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        due = time.monotonic()
        while not self.stop.is_set():
            try:
                self.lam.list_functions(MaxItems=1)
            except self.lam.exceptions.TooManyRequestsException:
                self.throttled += 1
            self.calls += 1
            due += 1 / self.rps
            self.stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()


def summarize(case, n, invocation, flags, wall, status, record, error, stats):
    decisions = record["decisions"] if record else []
    lam = stats["peaks"]
    peak = lambda quota, kind: lam.get(quota, {}).get(kind, {}).get("peak_per_second", 0)
    return {
        "case": case,
        "n": n,
        "invocation": invocation,
        "cli_flags": flags,
        "wall_seconds": round(wall, 2),
        "exit_status": status,  # None: stopped at the time limit
        "error": error if status != 0 else None,
        "calls": stats["calls"],
        "total_calls": stats["total_calls"],
        "throttled": stats["throttled"],
        "total_429": stats["total_throttled"],
        "peak_control_plane_per_second": {
            "attempted": peak("lambda:control-plane", "attempted"),
            "admitted": peak("lambda:control-plane", "admitted"),
        },
        "peak_get_function_per_second": {
            "attempted": peak("lambda:GetFunction", "attempted"),
            "admitted": peak("lambda:GetFunction", "admitted"),
        },
        "peak_windows": stats["peaks"],
        "decisions": len(decisions),
        "applied": sum(bool(d.get("applied")) for d in decisions),
        # The field may not exist yet: then nothing counts as deferred.
        "deferred": sum(d.get("deferred") is True for d in decisions),
    }


def lambda_calls(row):
    calls = row["calls"].get("lambda", {})
    throttled = row["throttled"].get("lambda", {})
    return ", ".join(
        f"{op} {n}" + (f" ({throttled[op]} x 429)" if op in throttled else "") for op, n in sorted(calls.items())
    )


def print_table(rows):
    header = f"{'case':<4} {'N':>5} {'inv':>3} {'wall s':>8} {'calls':>6} {'429s':>5} {'peak CP/s':>9} {'decided':>7} {'applied':>7} {'deferred':>8} {'exit':>4}  Lambda calls (a deployment's: ListFunctions)"
    print(header)
    for r in rows:
        peak = r["peak_control_plane_per_second"]
        status = "time" if r["exit_status"] is None else r["exit_status"]
        print(
            f"{r['case']:<4} {r['n']:>5} {r['invocation']:>3} {r['wall_seconds']:>8.2f} {r['total_calls']:>6} "
            f"{r['total_429']:>5} {peak['attempted']:>4}/{peak['admitted']:<4} {r['decisions']:>7} {r['applied']:>7} "
            f"{r['deferred']:>8} {status:>4}  {lambda_calls(r)}"
        )
        if r["error"]:
            print(f"{'':>10} error: {r['error'][:300]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the release autoscaler CLI")
    parser.add_argument("--n", help="comma-separated target counts (default: 1,100,1000 with case c at 1000 only)")
    parser.add_argument("--cases", default="a,b,c", help="comma-separated cases (default a,b,c)")
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--timeout", type=float, default=900, help="seconds one invocation may take before it is stopped")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/scale-results.json"))
    parser.add_argument("--mappings", action="store_true", help="an SQS event source mapping on every target")
    parser.add_argument("--wait-goal", action="store_true", help="every target follows a queue of its own with target_wait_seconds")
    parser.add_argument("--deployment-rps", type=float, help="a deployment's control-plane calls per second while each invocation runs")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the CLI, e.g. AUTOSCALER_READ_CONCURRENCY=4")
    args = parser.parse_args()
    cases = args.cases.split(",")
    extra_env = dict(item.split("=", 1) for item in args.env)
    if args.n:
        plan = [(case, int(n)) for n in args.n.split(",") for case in cases]
    else:
        plan = [(case, n) for n in (1, 100, 1000) for case in cases if case != "c" or n == 1000]
    for case, _ in plan:
        if case not in START:
            sys.exit(f"unknown case {case!r}: expected a, b or c")

    help_text = subprocess.run([args.binary, "invoke", "--help"], capture_output=True, text=True).stdout
    has_deadline = "--deadline-seconds" in help_text
    version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="bench-scale-")
    moto_port, proxy_port = free_port(), free_port()
    moto_log = open(os.path.join(work, "moto.log"), "w")
    moto_process = subprocess.Popen([os.path.join(BIN_DIR, "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)], stdout=moto_log, stderr=subprocess.STDOUT)
    proxy_process = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "proxy.py"), "--upstream", f"127.0.0.1:{moto_port}", "--port", str(proxy_port), "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.DEVNULL,
    )
    moto, proxy = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{proxy_port}"
    rows, fixtures = [], []
    try:
        wait_for(moto_port, moto_process, "moto_server")
        wait_for(proxy_port, proxy_process, "the proxy")
        for case, n in plan:
            seconds = make_fixtures(moto, n, START[case], args.mappings, args.wait_goal)
            fixtures.append({"case": case, "n": n, "seconds": round(seconds, 2)})
            print(f"case {case}, N={n}: fixtures in {seconds:.1f} s", flush=True)
            policy = os.path.join(work, f"policy-{n}.json")
            write_policy(policy, n, args.wait_goal)
            invocations = [[]]
            if case == "c":
                invocations = [["--deadline-seconds", str(DEADLINE_SECONDS)] if has_deadline else [], []]
            for number, flags in enumerate(invocations, 1):
                proxy_call(proxy, "POST", "/__proxy/reset")
                log = os.path.join(work, f"cli-{case}-{n}-{number}.log")
                if args.deployment_rps:
                    with Deployment(proxy, args.deployment_rps) as deployment:
                        wall, status, record, error = invoke(args.binary, policy, proxy, flags, args.timeout, log, extra_env)
                else:
                    wall, status, record, error = invoke(args.binary, policy, proxy, flags, args.timeout, log, extra_env)
                row = summarize(case, n, number, flags, wall, status, record, error, proxy_call(proxy, "GET", "/__proxy/stats"))
                if args.deployment_rps:
                    row["deployment"] = {"rps": args.deployment_rps, "calls": deployment.calls, "throttled": deployment.throttled}
                row["reservations_at_desired"] = reservations_at(moto, n, DESIRED)
                if args.mappings:
                    row["mappings_at_desired"] = mappings_at(moto, n, DESIRED)
                rows.append(row)
                mapped = f", {row['mappings_at_desired']}/{n} mappings at {DESIRED}" if args.mappings else ""
                deployed = ""
                if args.deployment_rps:
                    deployed = f"; the deployment: {deployment.calls} calls, {deployment.throttled} x 429"
                print(f"  invocation {number}: {wall:.1f} s, exit {status}, {row['total_429']} x 429, {row['reservations_at_desired']}/{n} at {DESIRED}{mapped}{deployed}", flush=True)
    finally:
        for process in (proxy_process, moto_process):
            process.terminate()
            process.wait()
    print()
    print_table(rows)
    if any(case == "c" for case, _ in plan) and not has_deadline:
        print(f"\ncase c: --deadline-seconds is not supported by this build ({version}); both invocations ran without it")
    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    result = {
        "account_scale": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"arch": platform.machine(), "cores": os.cpu_count()},
            "commit": commit,
            "binary": version,
            "deadline_flag_supported": has_deadline,
            "environment": extra_env,
            "mappings": args.mappings,
            "deployment_rps": args.deployment_rps,
            "wait_goal": args.wait_goal,
            "proxy": {"latency_ms": args.latency_ms, "quotas_per_second": QUOTAS, "window": "sliding 1 s"},
            "fixtures": fixtures,
            "runs": rows,
        }
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"\nresults: {os.path.relpath(args.out, ROOT)}; CLI logs: {work}")


if __name__ == "__main__":
    main()
