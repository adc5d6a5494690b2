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
     python3 scripts/tune_policy.py --goals POLICY_FILE [--seeds 1,2,3] [--iii-knobs JSON]
         (issue 14's goals for a "target_wait_seconds" target, as Markdown tables; below)
     python3 scripts/tune_policy.py --wait-goal [--show JSON | --random N --local N] [--top 3]
         (the search, or one setting, of a "target_wait_seconds" target, scored by goal (i))

Every candidate is run with `autoscaler simulate --algorithms policy --json` on every
built-in trace. The simulator runs the baselines (`hpa`, `step`) with the policy's own
bounds and `include_in_flight` (their target, messages per instance, is their own: the
simulator's `--baseline-messages-per-instance`, 1), so a candidate that changes `min`, `max`
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

--goals POLICY_FILE measures the first target of the file, whose queue has
"target_wait_seconds", on every built-in trace and seed (all runs in a Pool of --workers):
(i)   at real cadences (policy@10, hpa@15, step@60, oracle): the policy waits less than both
      baselines, holds no more concurrency-seconds than the cheaper one and makes no more
      writes than hpa;
(ii)  at one shared 60 s cadence, with target_wait_seconds W swept over SWEPT_WAITS: for each
      baseline, some W waits less and holds no more concurrency-seconds;
(iii) on a Poisson load of 30 messages a second for 20 minutes, then 120 for 40 (CSV traces
      drawn from random.Random(seed)), with W = 30 s (then --iii-knobs) and
      --service-seconds 1: at most 1.15 times the oracle's concurrency-seconds and a mean
      wait per message below 30 s;
(iv)  policy@10 waits at most half as long as policy@60, with no more concurrency-seconds.
It ends with a summary: per goal, the cases met and the worst shortfall.

--wait-goal searches WAIT_SPACE (the wait, the tolerances, the cooldowns, the stabilization
window, max_scale_out_step) with REFERENCE's bounds, scored by goal (i): criteria met over
every trace and seed, then the smaller total shortfall (each missed criterion relative to
its bar). Its baselines read only the bounds, which every candidate shares, so each run
holds its own.
"""

import argparse
import json
import math
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


def simulate(target, trace, seed, algorithms, options=()):
    """`autoscaler simulate` of one target on one trace: its JSON's "algorithms" object.
    options are further arguments, such as ("--interval", "60")."""
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.json"
        out = Path(tmp) / "out.json"
        policy.write_text(json.dumps({"targets": [target]}))
        subprocess.run(
            [BINARY, "simulate", "--policy", policy, "--trace", trace, "--seed", str(seed),
             "--algorithms", algorithms, *options, "--json", out],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return json.loads(out.read_text())["algorithms"]


# What the baselines depend on: the bounds and the queue settings they count the backlog by.
BASELINE_KEYS = ("min", "max", "include_in_flight")
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


# --- Issue 14's goals for a "target_wait_seconds" policy (--goals) --------------------------

# How each algorithm really runs: the policy scheduled every 10 s, the HPA's 15 s sync, step
# scaling's one-minute alarms.
REAL_CADENCES = Names("policy@10", "hpa@15", "step@60")
# Goal (ii): the waits swept at one shared 60 s cadence.
SWEPT_WAITS = [10, 15, 30, 60, 120, 300, 600]
SHARED_60 = ("--interval", "60")
# Goal (iii): a steady load that steps up, (messages a second, seconds) per phase.
STEP_UP_PHASES = ((30, 20 * 60), (120, 40 * 60))
STEP_UP_WAIT = 30
STEP_UP_OPTIONS = ("--service-seconds", "1", "--interval", "60")
STEP_UP_CONC_BOUND = 1.15  # x the oracle's concurrency-seconds
# Goal (iv): the policy at 10 s against itself at 60 s.
FAST, SLOW = "policy@10", "policy@60"


# The criteria a Case can miss, in the order the summary lists them ("point": goal (ii)'s).
CRITERIA = ["wait", "conc", "writes", "point"]


class Case(NamedTuple):
    """One trace and seed of one goal: whether it met the goal and, for each criterion that
    it missed, (how badly, as a number to rank by; the same in words)."""

    name: str
    met: bool
    misses: dict


def ratio(value, bar):
    """value / bar, where a bar of 0 is met only by 0."""
    if bar:
        return value / bar
    return 1.0 if value == 0 else math.inf


def near(value, bar, decimals=2):
    """`value` with `decimals` decimals, or more (up to 6) where fewer would print it as
    its bar: a miss or a pass by a hair must not read as the bar itself."""
    while decimals < 6 and value != bar and f"{value:.{decimals}f}" == f"{bar:.{decimals}f}":
        decimals += 1
    return f"{value:.{decimals}f}"


def times(value, bar=1.0):
    """A ratio as `1.12x`, with more decimals where two would print it as its bar."""
    return f"{near(value, bar)}x"


def with_overrides(target, overrides):
    """A copy of target with overrides applied: a key `queue.FIELD`, or the fields of a
    "queue" object, set the queue's fields; any other key sets the target's. A value of
    null removes the field (`"max_scale_out_step": null`: no step limit)."""
    changed = json.loads(json.dumps(target))
    for key, value in overrides.items():
        if key == "queue" and isinstance(value, dict):
            changed = with_overrides(changed, {f"queue.{k}": v for k, v in value.items()})
            continue
        owner, field = (changed["queue"], key[6:]) if key.startswith("queue.") else (changed, key)
        if value is None:
            owner.pop(field, None)
        else:
            owner[field] = value
    return changed


def with_wait(target, wait):
    """target with its queue's target_wait_seconds set to wait."""
    return with_overrides(target, {"queue.target_wait_seconds": wait})


def cells(*values):
    """A Markdown table row."""
    return "| " + " | ".join(str(v) for v in values) + " |"


def number(value):
    """A count with thousands separators; `never` for null (a drain that never ended)."""
    return "never" if value is None else f"{value:,}"


def reaction(result):
    """An algorithm's mean reaction in seconds, with the steps up it never covered."""
    mean, never = result["reaction_seconds_mean"], result["reaction_not_covered"]
    if mean is None:
        return f"{never} never" if never else "-"
    return f"{mean} ({never} never)" if never else str(mean)


def each(results, names, show):
    """`a / b / c`: show(result) for each name in names."""
    return " / ".join(show(results[n]) for n in names)


def cases_of(seeds):
    """Every (built-in trace, seed), in the order the tables list them."""
    return [(trace, seed) for trace in TRACES for seed in seeds]


def yes_or_no(ok, shortfall):
    return "yes" if ok else f"**no**: {shortfall}"


# (i) At real cadences.


class RealCadence(NamedTuple):
    """Goal (i) on one trace and seed: the policy against hpa and step, each at its own
    cadence. Met when the policy waits less than both, holds no more concurrency-seconds
    than the cheaper one and makes no more writes than hpa."""

    wait_ok: bool
    conc_ok: bool
    writes_ok: bool
    wait_ratio: float  # the policy's message-wait / the smaller of the baselines'
    conc_ratio: float  # the policy's concurrency-seconds / the cheaper baseline's
    writes_over: int  # the policy's writes - hpa's
    hpa_writes: int

    @property
    def met(self):
        return self.wait_ok + self.conc_ok + self.writes_ok

    @property
    def shortfall(self):
        """How far the missed criteria are from being met, each relative to its bar."""
        return (
            max(0.0, self.wait_ratio - 1)
            + max(0.0, self.conc_ratio - 1)
            + max(0, self.writes_over) / max(1, self.hpa_writes)
        )

    def misses(self):
        """{criterion: (badness, words)} for each criterion missed."""
        missed = {}
        if not self.wait_ok:
            missed["wait"] = (self.wait_ratio, f"wait {times(self.wait_ratio)} the smaller")
        if not self.conc_ok:
            missed["conc"] = (self.conc_ratio, f"conc {times(self.conc_ratio)} the cheaper")
        if not self.writes_ok:
            missed["writes"] = (self.writes_over, f"writes +{self.writes_over}")
        return missed


def judge_real_cadence(results, names=REAL_CADENCES):
    """Goal (i) of one run's results (keyed as names)."""
    p, h, s = (results[n] for n in names)
    wait_bar = min(h["message_wait_seconds"], s["message_wait_seconds"])
    conc_bar = min(h["concurrency_seconds"], s["concurrency_seconds"])
    return RealCadence(
        wait_ok=p["message_wait_seconds"] < wait_bar,
        conc_ok=p["concurrency_seconds"] <= conc_bar,
        writes_ok=p["writes"] <= h["writes"],
        wait_ratio=ratio(p["message_wait_seconds"], wait_bar),
        conc_ratio=ratio(p["concurrency_seconds"], conc_bar),
        writes_over=p["writes"] - h["writes"],
        hpa_writes=h["writes"],
    )


def real_cadence_jobs(target, seeds):
    algorithms = ",".join((*REAL_CADENCES, "oracle"))
    return [(target, trace, seed, algorithms) for trace, seed in cases_of(seeds)]


def real_cadence_table(results, seeds):
    """Prints goal (i)'s table; returns its cases."""
    names = REAL_CADENCES
    print(f"### (i) At real cadences: {', '.join(names)}, oracle\n")
    print(cells("trace", "seed", f"wait (msg-s): {' / '.join(names)}",
                "conc-s ÷ oracle's", "writes", "reaction mean (s)",
                "wait < both", "conc ≤ cheaper", "writes ≤ hpa"))
    print("|---|---:|---:|---:|---:|---:|:-:|:-:|:-:|")
    cases = []
    for (trace, seed), r in zip(cases_of(seeds), results):
        oracle = r["oracle"]["concurrency_seconds"]
        judged = judge_real_cadence(r)
        misses = judged.misses()
        print(cells(
            trace, seed,
            each(r, names, lambda x: number(x["message_wait_seconds"])),
            each(r, names, lambda x: f"{ratio(x['concurrency_seconds'], oracle):.2f}"),
            each(r, names, lambda x: str(x["writes"])),
            each(r, names, reaction),
            *(yes_or_no(c not in misses, misses.get(c, (0, ""))[1])
              for c in ("wait", "conc", "writes")),
        ))
        cases.append(Case(f"{trace}/{seed}", not misses, misses))
    print()
    return cases


# (ii) One shared 60 s cadence, the wait swept.


def sweep_jobs(target, seeds):
    return [
        (with_wait(target, wait), trace, seed, "policy,hpa,step,oracle", SHARED_60)
        for wait in SWEPT_WAITS
        for trace, seed in cases_of(seeds)
    ]


def dominating(curve, base):
    """The waits W whose point (message-wait, concurrency-s) waits less than base and holds
    no more concurrency-seconds."""
    return [
        w for w, p in curve.items()
        if p["message_wait_seconds"] < base["message_wait_seconds"]
        and p["concurrency_seconds"] <= base["concurrency_seconds"]
    ]


def closest(curve, base):
    """(badness, words) of the point nearest to dominating base: the smallest, over W, of
    the larger of its two ratios to base (wait, concurrency)."""
    def worse(w):
        p = curve[w]
        return max(ratio(p["message_wait_seconds"], base["message_wait_seconds"]),
                   ratio(p["concurrency_seconds"], base["concurrency_seconds"]))
    w = min(curve, key=lambda w: (worse(w), w))
    p = curve[w]
    return worse(w), (
        f"closest W={w}: wait {times(ratio(p['message_wait_seconds'], base['message_wait_seconds']))}, "
        f"conc {times(ratio(p['concurrency_seconds'], base['concurrency_seconds']))}"
    )


def point(result, oracle):
    """`message-wait / concurrency-s ÷ the oracle's`."""
    return f"{number(result['message_wait_seconds'])} / {ratio(result['concurrency_seconds'], oracle):.2f}"


def sweep_table(results, seeds):
    """Prints goal (ii)'s table; returns its cases, {baseline: [Case]}."""
    runs = dict(zip([(w, t, s) for w in SWEPT_WAITS for t, s in cases_of(seeds)], results))
    print("### (ii) One shared 60 s cadence: policy (W swept), hpa, step, oracle\n")
    print("Each point is message-wait (msg-s) / concurrency-s ÷ the oracle's.\n")
    print(cells("trace", "seed", "hpa", "step", *(f"W={w}" for w in SWEPT_WAITS),
                "W < hpa", "W < step"))
    print("|---|---:|---:|---:|" + "---:|" * len(SWEPT_WAITS) + "---|---|")
    cases = {"hpa": [], "step": []}
    for trace, seed in cases_of(seeds):
        first = runs[(SWEPT_WAITS[0], trace, seed)]
        for w in SWEPT_WAITS[1:]:  # the baselines do not read the policy's wait
            for name in ("hpa", "step", "oracle"):
                if runs[(w, trace, seed)][name] != first[name]:
                    sys.exit(f"{trace}/{seed}: {name} differs between W={SWEPT_WAITS[0]} and W={w}")
        oracle = first["oracle"]["concurrency_seconds"]
        curve = {w: runs[(w, trace, seed)]["policy"] for w in SWEPT_WAITS}
        verdicts = []
        for name in ("hpa", "step"):
            dominant = dominating(curve, first[name])
            if dominant:
                cases[name].append(Case(f"{trace}/{seed}", True, {}))
                verdicts.append(", ".join(str(w) for w in dominant))
            else:
                miss = closest(curve, first[name])
                cases[name].append(Case(f"{trace}/{seed}", False, {"point": miss}))
                verdicts.append(f"**none** ({miss[1]})")
        print(cells(trace, seed, point(first["hpa"], oracle), point(first["step"], oracle),
                    *(point(curve[w], oracle) for w in SWEPT_WAITS), *verdicts))
    print()
    return cases


# (iii) A steady load that steps up.


def poisson(rng, mean):
    """One Poisson draw with the given mean (Knuth's multiplication method). A mean above 30
    is drawn as the sum of equal parts of at most 30: a sum of independent Poisson draws is
    Poisson with the summed mean, and exp(-mean) stays far from underflow."""
    if mean > 30:
        parts = math.ceil(mean / 30)
        return sum(poisson(rng, mean / parts) for _ in range(parts))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def step_up_arrivals(seed):
    """Goal (iii)'s arrivals per second, drawn from random.Random(seed)."""
    rng = random.Random(seed)
    return [poisson(rng, rate) for rate, seconds in STEP_UP_PHASES for _ in range(seconds)]


def write_trace(path, arrivals):
    """A CSV trace (`second,arrivals`) with one row per second."""
    rows = ["second,arrivals"] + [f"{t},{n}" for t, n in enumerate(arrivals)]
    path.write_text("\n".join(rows) + "\n")


def step_up_target(target, knobs):
    """Goal (iii)'s target: the file's with the wait at STEP_UP_WAIT, then knobs. A
    tolerance the knobs lower to the narrowing's floor or below drops the narrowing (the
    band only narrows, so a floor not below the tolerance is refused)."""
    up = with_overrides(with_wait(target, STEP_UP_WAIT), knobs)
    tolerance = knobs.get("tolerance")
    if tolerance is not None and up.get("tolerance_narrows_to", -1) >= tolerance:
        up.pop("tolerance_narrows_to")
        up.pop("tolerance_narrowing_seconds", None)
    return up


def step_up_jobs(target, seeds, directory):
    """The runs of goal (iii), and the total arrivals of each seed's trace (written into
    directory)."""
    jobs, totals = [], []
    for seed in seeds:
        arrivals = step_up_arrivals(seed)
        path = Path(directory) / f"step-up-{seed}.csv"
        write_trace(path, arrivals)
        totals.append(sum(arrivals))
        # --seed does not move a CSV trace; it is passed for the record.
        jobs.append((target, str(path), seed, "policy,oracle", STEP_UP_OPTIONS))
    return jobs, totals


def step_up_table(results, totals, seeds, target, knobs):
    """Prints goal (iii)'s table; returns its cases."""
    (low, low_s), (high, high_s) = STEP_UP_PHASES
    print(f"### (iii) A steady load that steps up: Poisson {low}/s for {low_s // 60} min, "
          f"then {high}/s for {high_s // 60} min\n")
    print(f"`{' '.join(STEP_UP_OPTIONS)} --algorithms policy,oracle`; the wait set to "
          f"{STEP_UP_WAIT} s, then the overrides of --iii-knobs: {json.dumps(knobs) if knobs else 'none'}. "
          "The target used:\n")
    print(f"```json\n{json.dumps(target)}\n```\n")
    print(cells("seed", "arrivals", "wait (msg-s)", "mean wait (s)", "conc-s", "oracle conc-s",
                "conc ÷ oracle", "writes", "reaction (s)", f"conc ≤ {STEP_UP_CONC_BOUND}x oracle",
                f"mean wait < {STEP_UP_WAIT} s"))
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|")
    cases = []
    for seed, r, total in zip(seeds, results, totals):
        p, o = r["policy"], r["oracle"]
        conc = ratio(p["concurrency_seconds"], o["concurrency_seconds"])
        mean_wait = ratio(p["message_wait_seconds"], total)
        misses = {}
        if conc > STEP_UP_CONC_BOUND:
            misses["conc"] = (conc, f"conc {near(conc, STEP_UP_CONC_BOUND, 3)}x the oracle's")
        if mean_wait >= STEP_UP_WAIT:
            misses["wait"] = (mean_wait, f"mean wait {mean_wait:.1f} s")
        print(cells(seed, f"{total:,}", number(p["message_wait_seconds"]), f"{mean_wait:.2f}",
                    number(p["concurrency_seconds"]), number(o["concurrency_seconds"]),
                    near(conc, STEP_UP_CONC_BOUND, 3), p["writes"], reaction(p),
                    yes_or_no("conc" not in misses, misses.get("conc", (0, ""))[1]),
                    yes_or_no("wait" not in misses, misses.get("wait", (0, ""))[1])))
        cases.append(Case(f"step-up/{seed}", not misses, misses))
    print()
    return cases


# (iv) A faster cadence pays.


def cadence_jobs(target, seeds):
    algorithms = f"{FAST},{SLOW},oracle"
    return [(target, trace, seed, algorithms) for trace, seed in cases_of(seeds)]


def cadence_table(results, seeds):
    """Prints goal (iv)'s table; returns its cases."""
    print(f"### (iv) {FAST} against {SLOW}\n")
    print(cells("trace", "seed", f"wait (msg-s): {FAST} / {SLOW}", "wait ratio",
                f"conc-s: {FAST} / {SLOW}", "conc ratio", "conc ÷ oracle's",
                "wait ≤ 0.5x", "conc ≤ 1x"))
    print("|---|---:|---:|---:|---:|---:|---:|:-:|:-:|")
    cases = []
    for (trace, seed), r in zip(cases_of(seeds), results):
        fast, slow, oracle = r[FAST], r[SLOW], r["oracle"]["concurrency_seconds"]
        wait = ratio(fast["message_wait_seconds"], slow["message_wait_seconds"])
        conc = ratio(fast["concurrency_seconds"], slow["concurrency_seconds"])
        misses = {}
        if not fast["message_wait_seconds"] <= 0.5 * slow["message_wait_seconds"]:
            misses["wait"] = (wait, f"wait {times(wait, 0.5)}")
        if not fast["concurrency_seconds"] <= slow["concurrency_seconds"]:
            misses["conc"] = (conc, f"conc {times(conc)}")
        print(cells(trace, seed, each(r, (FAST, SLOW), lambda x: number(x["message_wait_seconds"])),
                    near(wait, 0.5), each(r, (FAST, SLOW), lambda x: number(x["concurrency_seconds"])),
                    near(conc, 1.0, 3), each(r, (FAST, SLOW), lambda x: f"{ratio(x['concurrency_seconds'], oracle):.2f}"),
                    yes_or_no("wait" not in misses, misses.get("wait", (0, ""))[1]),
                    yes_or_no("conc" not in misses, misses.get("conc", (0, ""))[1])))
        cases.append(Case(f"{trace}/{seed}", not misses, misses))
    print()
    return cases


def summary(goals_cases):
    """Prints, per goal, the cases met and the worst miss of each criterion."""
    print("### Summary\n")
    print(cells("goal", "met", "worst shortfall"))
    print("|---|---:|---|")
    for goal, cases in goals_cases:
        worst = {}
        for case in cases:
            for criterion, (badness, words) in case.misses.items():
                if criterion not in worst or badness > worst[criterion][0]:
                    worst[criterion] = (badness, f"{words} ({case.name})")
        order = sorted(worst, key=CRITERIA.index)
        shortfall = "; ".join(worst[c][1] for c in order) or "-"
        print(cells(goal, f"{sum(c.met for c in cases)} of {len(cases)}", shortfall))


def goals_report(policy_path, seeds, workers, step_up_knobs):
    """`--goals`: runs every simulation of goals (i) to (iv) for the policy file's first
    target in a Pool, then prints the four tables and the summary."""
    target = json.loads(Path(policy_path).read_text())["targets"][0]
    if "target_wait_seconds" not in target.get("queue", {}):
        sys.exit(f"{policy_path}: the first target's queue has no \"target_wait_seconds\"")
    up_target = step_up_target(target, step_up_knobs)
    with tempfile.TemporaryDirectory() as tmp, Pool(workers) as pool:
        up_jobs, totals = step_up_jobs(up_target, seeds, tmp)
        parts = [real_cadence_jobs(target, seeds), sweep_jobs(target, seeds), up_jobs,
                 cadence_jobs(target, seeds)]
        results = pool.starmap(simulate, [job for part in parts for job in part])
    chunks, start = [], 0
    for part in parts:
        chunks.append(results[start:start + len(part)])
        start += len(part)
    print(f"## Issue 14's goals: `{policy_path}`, seeds {', '.join(map(str, seeds))}\n")
    print(f"```json\n{json.dumps(target)}\n```\n")
    real = real_cadence_table(chunks[0], seeds)
    swept = sweep_table(chunks[1], seeds)
    up = step_up_table(chunks[2], totals, seeds, up_target, step_up_knobs)
    fast = cadence_table(chunks[3], seeds)
    per_criterion = [
        (f"(i) {label}", [Case(c.name, key not in c.misses, {k: v for k, v in c.misses.items() if k == key}) for c in real])
        for key, label in (("wait", "wait < both"), ("conc", "conc ≤ cheaper"), ("writes", "writes ≤ hpa"))
    ]
    summary([
        ("(i) at real cadences, all three", real), *per_criterion,
        ("(ii) some W dominates hpa", swept["hpa"]), ("(ii) some W dominates step", swept["step"]),
        ("(iii) steady load stepping up", up), (f"(iv) {FAST} against {SLOW}", fast),
    ])


# --- The searches' moves ------------------------------------------------------------------


def random_knobs(rng, space=SPACE):
    return {k: rng.choice(v) for k, v in space.items()}


def nearest(values, value):
    """The index of the grid value closest to value (None counts as the first)."""
    if value is None:
        return 0
    numbers = [(abs(v - value), i) for i, v in enumerate(values) if v is not None]
    return min(numbers)[1]


def neighbour(knobs, rng, space=SPACE):
    changed = dict(knobs)
    for _ in range(rng.choice([1, 1, 2])):
        key = rng.choice(list(space))
        values = space[key]
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


# --- The search for a "target_wait_seconds" goal (--wait-goal) -------------------------------

# The knobs searched with --wait-goal, and the values each may take (None: left out).
WAIT_SPACE = {
    "target_wait_seconds": [10, 15, 20, 30, 45, 60, 120],
    "tolerance": [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
    # None: `tolerance` holds increases too.
    "scale_out_tolerance": [None, 0, 0.02, 0.05, 0.1, 0.15],
    "scale_in_stabilization_seconds": [0, 60, 120, 180, 300, 600],
    "scale_in_cooldown_seconds": [0, 60, 120, 300],
    "scale_out_cooldown_seconds": [0, 15, 30, 60],
    "max_scale_out_step": [None, 50, 100, 250],
}


def wait_target_of(knobs):
    """A policy target from a point of WAIT_SPACE, with REFERENCE's bounds."""
    queue = {"name": "orders", "target_wait_seconds": knobs["target_wait_seconds"]}
    target = {"function": "orders-worker", "min": REFERENCE["min"], "max": REFERENCE["max"], "queue": queue}
    target.update({k: v for k, v in knobs.items() if k != "target_wait_seconds" and v is not None})
    return target


def score_wait(args):
    """Goal (i) of a WAIT_SPACE point on every built-in trace and seed: (criteria met,
    -total shortfall, knobs, {trace/seed: (the policy's result, RealCadence)}). Each run
    holds its own baselines; they read only the bounds, which every candidate shares."""
    knobs, seeds, names = args
    target = wait_target_of(knobs)
    met, shortfall, rows = 0, 0.0, {}
    for trace, seed in cases_of(seeds):
        result = simulate(target, trace, seed, ",".join(names))
        judged = judge_real_cadence(result, names)
        met, shortfall = met + judged.met, shortfall + judged.shortfall
        rows[f"{trace}/{seed}"] = (result[names.policy], judged)
    return met, -shortfall, knobs, rows


def report_wait(met, shortfall, knobs, rows, total):
    """report() for score_wait's results."""
    print(json.dumps({"met": met, "of": total, "shortfall": round(-shortfall, 3), "knobs": knobs}), flush=True)
    for name, (result, judged) in rows.items():
        print(
            f"  {name:12} wait {result['message_wait_seconds']:>9} x{judged.wait_ratio:.2f} "
            f"{'w' if judged.wait_ok else '-'}  conc {result['concurrency_seconds']:>8} "
            f"x{judged.conc_ratio:.2f} {'c' if judged.conc_ok else '-'}  writes "
            f"{result['writes']:>3} {judged.writes_over:+d} {'n' if judged.writes_ok else '-'}",
            file=sys.stderr,
        )


# --- The two searches ----------------------------------------------------------------------


class Mode(NamedTuple):
    """What a search varies and how it scores: score((knobs, seeds, names)) returns (goals
    met, -shortfall, knobs, rows), and report prints one such result."""

    space: dict
    defaults: dict  # for --show and --start: the fields they leave out
    score: object
    report: object
    names: Names  # the default --algorithms
    criteria: int  # goals per trace and seed


# Fields left out take the recommended policy's bounds and queue settings, and the decision
# core's defaults for the stability knobs.
MPI_MODE = Mode(
    space=SPACE,
    defaults={k: v[0] for k, v in SPACE.items()} | {
        "max": 250, "tolerance": 0.1, "scale_out_cooldown_seconds": 60,
        "scale_in_cooldown_seconds": 300, "scale_in_stabilization_seconds": 300,
    },
    score=score, report=report, names=DEFAULT_NAMES, criteria=3,
)
# The decision core's defaults, and a wait of 30 s.
WAIT_MODE = Mode(
    space=WAIT_SPACE,
    defaults={
        "target_wait_seconds": 30, "tolerance": 0.1, "scale_out_tolerance": None,
        "scale_in_stabilization_seconds": 300, "scale_in_cooldown_seconds": 300,
        "scale_out_cooldown_seconds": 60, "max_scale_out_step": None,
    },
    score=score_wait, report=report_wait, names=REAL_CADENCES, criteria=3,
)


def rank(result):
    """A search result's sort key: goals met, then the smaller shortfall."""
    return result[:2]


def search(mode, args, seeds, names, total):
    """A random search, then local searches around the best so far. Each better setting is
    reported as it is found; with --top N, the N best are listed on stderr at the end."""
    rng = random.Random(args.rng)
    best, seen = None, []
    with Pool(args.workers) as pool:
        candidates = [random_knobs(rng, mode.space) for _ in range(args.random)]
        if args.start:
            candidates.insert(0, mode.defaults | json.loads(args.start))
        jobs = [(k, seeds, names) for k in candidates]
        for result in pool.imap_unordered(mode.score, jobs, chunksize=4):
            seen.append(result)
            if best is None or rank(result) > rank(best):
                best = result
                mode.report(*best, total)
        # Local search: batches of neighbours of the best so far.
        tried = {json.dumps(k, sort_keys=True) for k in candidates}
        for _ in range(max(0, args.local) // 20):
            batch = []
            for _ in range(2000):  # a local optimum whose neighbours were all tried ends early
                if len(batch) == 20:
                    break
                k = neighbour(best[2], rng, mode.space)
                key = json.dumps(k, sort_keys=True)
                if key not in tried:
                    tried.add(key)
                    batch.append(k)
            if not batch:
                break
            for result in pool.imap_unordered(mode.score, [(k, seeds, names) for k in batch]):
                seen.append(result)
                if rank(result) > rank(best):
                    best = result
                    mode.report(*best, total)
    print(f"tried {len(tried)} settings", file=sys.stderr)
    if args.top:
        print(f"the {args.top} best:", file=sys.stderr)
        seen.sort(key=lambda r: (-r[0], -r[1], json.dumps(r[2], sort_keys=True)))
        for met, shortfall, knobs, _ in seen[:args.top]:
            print(json.dumps({"met": met, "of": total, "shortfall": round(-shortfall, 3), "knobs": knobs}),
                  file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--random", type=int, default=2000, help="random settings to try first")
    parser.add_argument("--local", type=int, default=2000, help="then neighbours of the best to try")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rng", type=int, default=1, help="the search's own seed")
    parser.add_argument("--start", help="a JSON object of knobs to start the local search from")
    parser.add_argument("--show", help="score one JSON object of knobs (the others: defaults below)")
    parser.add_argument("--top", type=int, default=0, help="after a search, list the N best settings on stderr")
    parser.add_argument("--table", help="print the comparison table of this policy file")
    parser.add_argument(
        "--goals", metavar="POLICY_FILE",
        help="measure issue 14's goals (i) to (iv) for the first target of this policy file, "
        "which has queue.target_wait_seconds, and print Markdown tables",
    )
    parser.add_argument(
        "--iii-knobs", default="{}", metavar="JSON",
        help="with --goals: target fields to override for goal (iii), as a JSON object such as "
        '{"tolerance": 0}; "queue.FIELD" sets a field of the queue, and null removes a field',
    )
    parser.add_argument(
        "--wait-goal", action="store_true",
        help="search (or --show) the knobs of a queue.target_wait_seconds goal, scored by goal (i)",
    )
    parser.add_argument(
        "--algorithms", type=Names.parse, default=None,
        help="the policy and the baselines as `autoscaler simulate --algorithms` names them, "
        "each optionally with its own cadence: policy@10,hpa@15,step@60 (default policy,hpa,step; "
        "with --wait-goal policy@10,hpa@15,step@60; --goals ignores it)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: cargo build --bin autoscaler (with the same CARGO_TARGET_DIR)")
    if args.table:
        table(args.table, seeds, args.algorithms or DEFAULT_NAMES)
        return
    if args.goals:
        goals_report(args.goals, sorted(set(seeds)), args.workers, json.loads(args.iii_knobs))
        return
    mode = WAIT_MODE if args.wait_goal else MPI_MODE
    names = args.algorithms or mode.names
    total = mode.criteria * len(TRACES) * len(seeds)
    if args.show:
        mode.report(*mode.score((mode.defaults | json.loads(args.show), seeds, names)), total)
        return
    search(mode, args, seeds, names, total)


if __name__ == "__main__":
    main()
