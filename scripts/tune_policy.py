#!/usr/bin/env python3
"""Searches the recommended policy's knobs against the simulator (docs/simulation.md).

Run: python3 scripts/tune_policy.py [--seeds 1,2,3] [--random N] [--local N] [--workers 2]
     python3 scripts/tune_policy.py --show '{"tolerance": 0.25, ...}'   (score one setting)
     python3 scripts/tune_policy.py --table examples/recommended-policy.json [--seeds 1,2,3]
         (the two Markdown tables of docs/simulation.md: the policy file against the
          baselines that `autoscaler simulate` runs beside it, then the other columns)
     Each takes --algorithms policy@10,hpa@15,step@60 to run the policy and the baselines
     at cadences of their own (`autoscaler simulate`'s NAME@SECONDS; default: every one at
     the simulator's --interval, 60 s).

Every candidate is run with `autoscaler simulate --algorithms policy --json` on every
built-in trace. The simulator runs the baselines (`hpa`, `step`) with the policy's own
bounds and queue settings, so a candidate that changes `min`, `max`, `messages_per_instance`
or `include_in_flight` also moves the bar it is measured against. A candidate is therefore
measured against two sets of baselines, and a goal counts as met only when it is met
against both:
- the reference: the baselines with the bounds and queue settings of REFERENCE below
  (examples/recommended-policy.json before this search), the same for every candidate;
- its own: the baselines with the candidate's bounds and queue settings, as
  `autoscaler simulate --policy CANDIDATE` prints them.

The goals, per trace and seed: (a) less message-wait than both baselines, (b) at most 10 %
more concurrency-seconds than the cheaper one, (c) fewer writes than either. The score is
the number of goals met, then the smaller total shortfall. The best settings go to stdout as
JSON lines, best last; their per-trace numbers go to stderr.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
# A copy of the binary can be pinned with AUTOSCALER_BIN: a target directory shared with
# other checkouts may be rebuilt from other sources while a long search runs.
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BINARY = Path(os.environ.get("AUTOSCALER_BIN", TARGET_DIR / "debug" / "autoscaler"))
TRACES = ["step", "spike", "diurnal", "sawtooth", "bursty"]


class Names(NamedTuple):
    """The entries of `autoscaler simulate --algorithms` for the policy and the two
    baselines, as its JSON keys them: `policy`, or `policy@10` for a cadence of its own."""

    policy: str
    hpa: str
    step: str

    @staticmethod
    def parse(text):
        entries = [e.strip() for e in text.split(",")]
        by_base = {e.split("@", 1)[0]: e for e in entries}
        if len(entries) != 3 or sorted(by_base) != ["hpa", "policy", "step"]:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected policy, hpa and step once each, each optionally with "
                "@SECONDS (policy@10,hpa@15,step@60)"
            )
        return Names(by_base["policy"], by_base["hpa"], by_base["step"])


DEFAULT_NAMES = Names("policy", "hpa", "step")

# The reference bounds and queue settings of the baselines (see the docstring).
REFERENCE = {"min": 1, "max": 250, "messages_per_instance": 1, "include_in_flight": True}

# The knobs searched, and the values each may take (None: the field is left out).
SPACE = {
    "min": [1, 2, 3, 5, 8, 10, 12, 14, 15, 16, 18, 20, 22, 25, 30],
    "max": [100, 125, 150, 175, 200, 225, 250],
    "messages_per_instance": [1, 2, 3, 4],
    "include_in_flight": [True, False],
    "activation": [0, 5, 10, 20, 50, 100, 200],
    "tolerance": [round(0.05 * i, 2) for i in range(19)],
    "scale_out_cooldown_seconds": [0, 30, 60, 90, 120, 180, 240, 300],
    "scale_in_cooldown_seconds": [0, 30, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200],
    "scale_in_stabilization_seconds": [0, 60, 120, 180, 240, 300, 360, 420, 480, 600, 720, 900, 1200, 1500, 1800],
    "max_scale_out_step": [None, 10, 20, 30, 40, 50, 60, 75, 90, 100, 125, 150, 200],
    "max_scale_in_step": [None, 2, 5, 10, 15, 20, 30, 50, 75, 100],
    "max_scale_out_step_percent": [None, 25, 50, 100, 150, 200, 300, 500, 1000],
    "max_scale_in_step_percent": [None, 10, 20, 25, 33, 50, 66, 75, 90],
}
QUEUE_KNOBS = ("messages_per_instance", "include_in_flight", "activation")


def target_of(knobs):
    """A policy target from a point of SPACE."""
    queue = {"name": "orders"}
    queue.update({k: knobs[k] for k in QUEUE_KNOBS})
    target = {"function": "orders-worker", "queue": queue}
    target.update({k: v for k, v in knobs.items() if k not in QUEUE_KNOBS and v is not None})
    return target


def simulate(target, trace, seed, algorithms):
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.json"
        out = Path(tmp) / "out.json"
        policy.write_text(json.dumps({"targets": [target]}))
        subprocess.run(
            [BINARY, "simulate", "--policy", policy, "--trace", trace, "--seed", str(seed),
             "--algorithms", algorithms, "--json", out],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return json.loads(out.read_text())["algorithms"]


# What the baselines depend on: the bounds and the queue settings they count the backlog by.
BASELINE_KEYS = ("min", "max", "messages_per_instance", "include_in_flight")
_baselines = {}


def baselines(knobs, seeds, names):
    """{(trace, seed): {names.hpa: ..., names.step: ...}} with the bounds and queue settings
    of knobs (cached: each worker process computes each combination once)."""
    key = (tuple(knobs[k] for k in BASELINE_KEYS), tuple(seeds), names)
    if key not in _baselines:
        fixed = {k: knobs[k] for k in BASELINE_KEYS}
        # Every other knob at its default: the baselines read only the bounds and the queue.
        target = target_of(fixed | {"activation": 0})
        both = f"{names.hpa},{names.step}"
        _baselines[key] = {(t, s): simulate(target, t, s, both) for t in TRACES for s in seeds}
    return _baselines[key]


def goals(policy, bases, names):
    """(goals met, shortfall, per-goal flags) of one trace's policy metrics against every
    set of baselines in bases: each bar is the strictest of them."""
    pairs = [(b[names.hpa], b[names.step]) for b in bases]
    wait_bar = min(min(h["message_wait_seconds"], s["message_wait_seconds"]) for h, s in pairs)
    conc_ratio = policy["concurrency_seconds"] / min(
        min(h["concurrency_seconds"], s["concurrency_seconds"]) for h, s in pairs
    )
    writes_bar = min(min(h["writes"], s["writes"]) for h, s in pairs)
    a = policy["message_wait_seconds"] < wait_bar
    b = conc_ratio <= 1.1
    c = policy["writes"] < writes_bar
    shortfall = (
        max(0.0, policy["message_wait_seconds"] / wait_bar - 1)
        + max(0.0, conc_ratio - 1.1)
        + max(0.0, (policy["writes"] - writes_bar + 1) / writes_bar)
    )
    return a + b + c, shortfall, (a, b, c, conc_ratio)


def score(args):
    knobs, seeds, names = args
    target = target_of(knobs)
    reference, own = baselines(REFERENCE, seeds, names), baselines(knobs, seeds, names)
    met, shortfall, rows = 0, 0.0, {}
    for trace in TRACES:
        for seed in seeds:
            result = simulate(target, trace, seed, names.policy)[names.policy]
            bases = [reference[(trace, seed)], own[(trace, seed)]]
            m, s, flags = goals(result, bases, names)
            met, shortfall = met + m, shortfall + s
            rows[f"{trace}/{seed}"] = (result, flags)
    return met, -shortfall, knobs, rows


def table(policy_path, seeds, names):
    """docs/simulation.md's comparison: per trace and seed, what `autoscaler simulate
    --policy POLICY_PATH` reports for policy, hpa and step, and the goals."""
    target = json.loads(Path(policy_path).read_text())["targets"][0]
    p_, h_, s_ = names
    print(
        f"| trace | seed | {p_} wait | {h_} wait | {s_} wait | (a) | {p_} conc-s | {h_} conc-s "
        f"| {s_} conc-s | (b) {p_} / cheaper | {p_} writes | {h_} writes | {s_} writes | (c) |"
    )
    print("|---|---:|---:|---:|---:|:-:|---:|---:|---:|:-:|---:|---:|---:|:-:|")
    for trace in TRACES:
        for seed in seeds:
            r = simulate(target, trace, seed, ",".join(names))
            p, h, st = r[names.policy], r[names.hpa], r[names.step]
            _, _, (a, b, c, ratio) = goals(p, [r], names)
            yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
            cells = [trace, seed]
            for key in ("message_wait_seconds",):
                cells += [f"{x[key]:,}" for x in (p, h, st)]
            cells.append(yes(a))
            cells += [f"{x['concurrency_seconds']:,}" for x in (p, h, st)]
            cells.append(f"{yes(b)}: {ratio:.2f}")
            cells += [x["writes"] for x in (p, h, st)]
            cells.append(yes(c))
            print("| " + " | ".join(str(x) for x in cells) + " |")
    print()
    print("| trace | seed | algorithm | max backlog | drain (s) | direction changes | concurrency-s |")
    print("|---|---:|---|---:|---:|---:|---:|")
    every = (*names, "oracle")
    for trace in TRACES:
        for seed in seeds:
            r = simulate(target, trace, seed, ",".join(every))
            column = lambda key: " / ".join(  # noqa: E731
                "never" if r[n][key] is None else f"{r[n][key]:,}" for n in every
            )
            cells = [trace, seed, " / ".join(every), column("max_backlog"),
                     column("drain_seconds"), column("direction_changes"),
                     f"oracle {r['oracle']['concurrency_seconds']:,}"]
            print("| " + " | ".join(str(x) for x in cells) + " |")


def random_knobs(rng):
    return {k: rng.choice(v) for k, v in SPACE.items()}


def nearest(values, value):
    """The index of the grid value closest to value (None counts as the first)."""
    if value is None:
        return 0
    numbers = [(abs(v - value), i) for i, v in enumerate(values) if v is not None]
    return min(numbers)[1]


def neighbour(knobs, rng):
    changed = dict(knobs)
    for _ in range(rng.choice([1, 1, 2])):
        key = rng.choice(list(SPACE))
        values = SPACE[key]
        # A start outside the grid moves from the nearest grid value.
        i = values.index(changed[key]) if changed[key] in values else nearest(values, changed[key])
        changed[key] = values[max(0, min(len(values) - 1, i + rng.choice([-2, -1, 1, 2])))]
    return changed


def report(met, shortfall, knobs, rows, total):
    print(json.dumps({"met": met, "of": total, "shortfall": round(-shortfall, 3), "knobs": knobs}), flush=True)
    for name, (result, (a, b, c, ratio)) in rows.items():
        print(
            f"  {name:12} wait {result['message_wait_seconds']:>9} {'a' if a else '-'}  "
            f"conc {result['concurrency_seconds']:>8} x{ratio:.2f} {'b' if b else '-'}  "
            f"writes {result['writes']:>3} {'c' if c else '-'}",
            file=sys.stderr,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--random", type=int, default=2000, help="random settings to try first")
    parser.add_argument("--local", type=int, default=2000, help="then neighbours of the best to try")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rng", type=int, default=1, help="the search's own seed")
    parser.add_argument("--start", help="a JSON object of knobs to start the local search from")
    parser.add_argument("--show", help="score one JSON object of knobs (the others: defaults below)")
    parser.add_argument("--table", help="print the comparison table of this policy file")
    parser.add_argument(
        "--algorithms", type=Names.parse, default=DEFAULT_NAMES,
        help="the policy and the baselines as `autoscaler simulate --algorithms` names them, "
        "each optionally with its own cadence: policy@10,hpa@15,step@60 (default policy,hpa,step)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: cargo build --bin autoscaler (with the same CARGO_TARGET_DIR)")
    if args.table:
        table(args.table, seeds, args.algorithms)
        return
    total = 3 * len(TRACES) * len(seeds)
    defaults = {k: v[0] for k, v in SPACE.items()} | {
        "max": 250, "tolerance": 0.1, "scale_out_cooldown_seconds": 60,
        "scale_in_cooldown_seconds": 300, "scale_in_stabilization_seconds": 300,
    }
    if args.show:
        report(*score((defaults | json.loads(args.show), seeds, args.algorithms)), total)
        return
    rng = random.Random(args.rng)
    best = None
    with Pool(args.workers) as pool:
        candidates = [random_knobs(rng) for _ in range(args.random)]
        if args.start:
            candidates.insert(0, defaults | json.loads(args.start))
        jobs = [(k, seeds, args.algorithms) for k in candidates]
        for result in pool.imap_unordered(score, jobs, chunksize=4):
            if best is None or result[:2] > best[:2]:
                best = result
                report(*best, total)
        # Local search: batches of neighbours of the best so far.
        tried = {json.dumps(k, sort_keys=True) for k in candidates}
        for _ in range(max(0, args.local) // 20):
            batch = []
            for _ in range(2000):  # a local optimum whose neighbours were all tried ends early
                if len(batch) == 20:
                    break
                k = neighbour(best[2], rng)
                key = json.dumps(k, sort_keys=True)
                if key not in tried:
                    tried.add(key)
                    batch.append(k)
            if not batch:
                break
            for result in pool.imap_unordered(score, [(k, seeds, args.algorithms) for k in batch]):
                if result[:2] > best[:2]:
                    best = result
                    report(*best, total)
    print(f"tried {len(tried)} settings", file=sys.stderr)


if __name__ == "__main__":
    main()
