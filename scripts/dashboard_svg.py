#!/usr/bin/env python3
"""Draws the layout of the CloudWatch dashboard that template.yaml defines, as an SVG.

Run: python3 scripts/dashboard_svg.py [--template template.yaml] [--out docs/dashboard.svg]
     python3 scripts/dashboard_svg.py --check    (exit 1 if docs/dashboard.svg is out of date)

Standard library only. The dashboard body is the `DashboardBody: !Sub |` block of the
AWS::CloudWatch::Dashboard resource (or the first item, `- |`, of its list form); its ${...}
placeholders are replaced with the example values in EXAMPLE (the template's defaults, so
no watcher), then the JSON is parsed. Each widget is drawn at
its grid position (CloudWatch's grid is 24 units wide) with its title and what it shows: the
metrics and expressions of a metric widget, the query of a log widget.
"""

import argparse
import json
import re
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = {
    "AWS::Region": "us-east-1",
    "AWS::StackName": "lambda-autoscaler",
    "MetricNamespace": "LambdaAutoscaler",
    "AutoscalerLogGroup": "/aws/lambda/lambda-autoscaler",
    # WatchSeconds 0: the log widgets read the autoscaler's group only.
    "WatcherLogSource": "",
}
UNIT_X, UNIT_Y, MARGIN, GAP = 40, 34, 16, 4
FONT = "font-family='Helvetica, Arial, sans-serif'"
MONO = "font-family='DejaVu Sans Mono, Menlo, monospace'"


class BodyError(Exception):
    pass


def dashboard_body_text(template_text):
    """The text of the dashboard's `DashboardBody: !Sub |` block scalar (or of the `- |` that
    starts its list form), dedented."""
    lines = template_text.splitlines()
    in_dashboard = False
    for i, line in enumerate(lines):
        if re.match(r"^  \S.*:\s*$", line):
            in_dashboard = False  # a new resource (or section entry) starts
        if re.match(r"^\s+Type:\s*AWS::CloudWatch::Dashboard\s*$", line):
            in_dashboard = True
        match = re.match(r"^(\s+)DashboardBody:\s*!Sub\s*\|\s*$", line)
        list_form = re.match(r"^\s+DashboardBody:\s*!Sub\s*$", line)
        if in_dashboard and list_form and i + 1 < len(lines):
            i += 1
            match = re.match(r"^(\s+)-\s*\|\s*$", lines[i])
        if in_dashboard and match:
            indent = len(match.group(1))
            block = []
            for body_line in lines[i + 1:]:
                if body_line.strip() and len(body_line) - len(body_line.lstrip()) <= indent:
                    break
                block.append(body_line)
            width = min(len(b) - len(b.lstrip()) for b in block if b.strip())
            return "\n".join(b[width:] for b in block)
    raise BodyError("no AWS::CloudWatch::Dashboard with `DashboardBody: !Sub |` in the template")


def resolve(text, values):
    """Fn::Sub: ${Name} from values, ${!Literal} to ${Literal}; an unknown name is an error."""

    def replace(match):
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name not in values:
            raise BodyError(f"the dashboard body uses ${{{name}}}, which has no example value")
        return values[name]

    return re.sub(r"\$\{([^}]+)\}", replace, text)


def body(template_path):
    text = resolve(dashboard_body_text(template_path.read_text(encoding="utf-8")), EXAMPLE)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        raise BodyError(f"the dashboard body is not JSON once resolved: {e}") from e
    widgets = parsed.get("widgets")
    if not isinstance(widgets, list) or not widgets:
        raise BodyError("the dashboard body has no widgets")
    for n, w in enumerate(widgets):
        missing = [k for k in ("type", "x", "y", "width", "height") if k not in w]
        if missing:
            raise BodyError(f"widget {n} lacks {', '.join(missing)}")
    return parsed


def described(widget):
    """Lines saying what a widget shows."""
    props = widget.get("properties") or {}
    if widget["type"] == "log":
        return [line.strip() for line in re.split(r"\n|(?=\| )", props.get("query", "")) if line.strip()]
    lines = []
    for metric in props.get("metrics", []):
        options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
        if "expression" in options:
            lines.append(f"{options.get('label', options['id'])}: {options['expression']}")
        else:
            names = [m for m in metric if isinstance(m, str)]
            stat = options.get("stat", props.get("stat", "Average"))
            lines.append(f"{options.get('label', names[-1])}: {' / '.join(names)} ({stat})")
    return lines


def wrapped(line, chars):
    out = []
    while len(line) > chars:
        cut = line.rfind(" ", 0, chars)
        cut = cut if cut > chars // 2 else chars
        out.append(line[:cut])
        line = "  " + line[cut:].lstrip()
    return out + [line]


def svg(parsed):
    widgets = parsed["widgets"]
    rows = max(w["y"] + w["height"] for w in widgets)
    width, height = 24 * UNIT_X + 2 * MARGIN, rows * UNIT_Y + 2 * MARGIN + 28
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}'>",
        f"<rect width='{width}' height='{height}' fill='#f2f3f3'/>",
        f"<text x='{MARGIN}' y='{MARGIN + 12}' {FONT} font-size='15' font-weight='bold' "
        f"fill='#16191f'>Dashboard {escape(EXAMPLE['AWS::StackName'])} (CreateDashboard=true): "
        f"widget layout</text>",
    ]
    top = MARGIN + 28
    for w in widgets:
        x = MARGIN + w["x"] * UNIT_X + GAP / 2
        y = top + w["y"] * UNIT_Y + GAP / 2
        box_w, box_h = w["width"] * UNIT_X - GAP, w["height"] * UNIT_Y - GAP
        props = w.get("properties") or {}
        kind = "Logs Insights table" if w["type"] == "log" else f"metric graph ({props.get('view', 'timeSeries')})"
        out.append(f"<rect x='{x}' y='{y}' width='{box_w}' height='{box_h}' rx='4' fill='white' stroke='#aab7b8'/>")
        out.append(
            f"<text x='{x + 10}' y='{y + 20}' {FONT} font-size='14' font-weight='bold' fill='#16191f'>"
            f"{escape(props.get('title', '(untitled)'))}</text>"
        )
        out.append(
            f"<text x='{x + 10}' y='{y + 37}' {FONT} font-size='11' fill='#5f6b7a'>"
            f"{escape(kind)}; x {w['x']}, y {w['y']}, {w['width']} x {w['height']}</text>"
        )
        chars = int((box_w - 20) / 6.6)
        line_y = y + 56
        for line in described(w):
            for part in wrapped(line, chars):
                if line_y > y + box_h - 8:
                    break
                out.append(f"<text x='{x + 10}' y='{line_y}' {MONO} font-size='11' fill='#232f3e'>{escape(part)}</text>")
                line_y += 15
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.svg")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args()
    try:
        drawing = svg(body(args.template))
    except (BodyError, OSError) as e:
        sys.exit(f"dashboard_svg: {args.template}: {e}")
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != drawing:
            sys.exit(f"dashboard_svg: {args.out} does not match {args.template}; run scripts/dashboard_svg.py")
        print(f"{args.out} matches {args.template}")
        return
    args.out.write_text(drawing, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
