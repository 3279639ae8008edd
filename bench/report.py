"""The bench's outputs: a table on stdout, the same as JSON, and a PNG chart of the ratios.

`python -m bench.report bench/results/latest.json` prints the table of a saved run and
redraws its chart.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Result = dict[str, Any]

FOREIGN_WARNING = 15  # % of a pinned core used by processes outside the bench

HEADER = (
    "#",
    "scenario",
    "ours",
    "p50 ms",
    "p99 ms",
    "theirs",
    "p50 ms",
    "p99 ms",
    "ratio",
    "target",
    "errors",
)


def _value(side: Result, unit: str) -> str:
    value = side["value"]
    return f"{value:,.0f} {unit}" if unit == "req/s" else f"{value:,.1f} {unit}"


def rows(scenarios: Sequence[Result]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = []
    for s in scenarios:
        if "failed" in s:
            table.append((str(s["id"]), s["title"], "FAILED", "", "", "", "", "", "", "", "1"))
            continue
        ours, theirs, unit = s["ours"], s["theirs"], s["unit"]
        ratio = "-" if s["ratio"] is None else f"{s['ratio']:.2f}x"
        target = "-" if s["target_ratio"] is None else f">= {s['target_ratio']}x"
        table.append(
            (
                str(s["id"]),
                s["title"],
                _value(ours, unit),
                f"{ours['p50_ms']:.2f}",
                f"{ours['p99_ms']:.2f}",
                f"{theirs['label']} {_value(theirs, unit)}",
                f"{theirs['p50_ms']:.2f}",
                f"{theirs['p99_ms']:.2f}",
                ratio,
                target,
                str(s["errors"]),
            )
        )
    return table


def format_table(data: Result) -> str:
    table = [HEADER, *rows(data["scenarios"])]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    right = {2, 3, 4, 6, 7, 8, 10}

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [line(HEADER), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in table[1:]]
    notes = []
    for s in data["scenarios"]:
        if "failed" in s:
            notes.append(f"{s['id']}: FAILED: {s['failed']}")
        notes += [f"{s['id']}: {note}" for note in s.get("notes", [])]
        for key in ("ours", "theirs"):
            side = s.get(key) or {}
            if side.get("errors"):
                notes.append(f"{s['id']}: {side['label']} errors: {_error_detail(side)}")
            if "cpu_percent" in side:
                per_request = side.get("cpu_us_per_request", {})
                cpu = ", ".join(
                    f"{k} {v}% ({per_request.get(k)} us/req)"
                    for k, v in side["cpu_percent"].items()
                )
                busy = "; ".join(
                    f"{core}: " + ", ".join(f"{k} {v}%" for k, v in shares.items())
                    for core, shares in side.get("core_busy_percent", {}).items()
                )
                notes.append(f"{s['id']}: {side['label']} CPU: {cpu}; {busy}")
            warning = _foreign_warning(data, side)
            if warning:
                notes.append(f"{s['id']}: WARNING {side['label']}: {warning}")
    machine = data.get("machine", {})
    out += ["", f"{machine.get('cpus', '?')} CPUs, {machine.get('pinning', '')}"]
    settings = data.get("settings", {})
    out.append(
        f"{settings.get('duration')} s per run after {settings.get('warmup')} s warm-up, "
        f"wrk -t1 -c{settings.get('connections')} keep-alive"
        + (" (smoke)" if settings.get("smoke") else "")
    )
    out.append(
        "nginx with proxy_cache on the content service's locations"
        if settings.get("nginx_cache")
        else "nginx without proxy_cache (--nginx-cache turns it on)"
    )
    if settings.get("proxy_env"):
        out.append(f"our proxy with {' '.join(settings['proxy_env'])}")
    return "\n".join(out + notes)


def _foreign_warning(data: Result, side: Result) -> str | None:
    """Say so when other processes on the machine took enough CPU to skew a figure.

    On the systems' core any foreign share does; on the load generator's core only when the
    core was also nearly full (others move there when the systems' core is busy).
    """
    pinning = data.get("machine", {}).get("cores") or {}
    foreign = side.get("foreign_cpu_percent", {})
    busy = side.get("core_busy_percent", {})
    sut, load = pinning.get("sut"), pinning.get("load")
    problems = []
    if foreign.get(f"core{sut}", 0) > FOREIGN_WARNING:
        problems.append(f"{foreign[f'core{sut}']}% of the systems' core {sut}")
    load_busy = sum(busy.get(f"core{load}_load", {}).values())
    if load_busy >= 95 and foreign.get(f"core{load}", 0) > FOREIGN_WARNING:
        problems.append(f"{foreign[f'core{load}']}% of the full load generator's core {load}")
    if not problems:
        return None
    return f"other processes on this machine took {' and '.join(problems)}: figure unreliable"


def _error_detail(side: Result) -> str:
    parts = [f"{k} {v}" for k, v in side["wrk"]["errors"].items() if v]
    held = side.get("hold")
    if held and held["error_count"]:
        parts.append(f"held connections {held['errors']} {held['error_samples']}")
    return ", ".join(parts) or "none"


def write_json(path: Path, data: Result) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_png(path: Path, data: Result) -> None:
    """A bar per scenario: ours / theirs on a log scale, with the 1.0 line and the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    done = [s for s in data["scenarios"] if s.get("ratio")]
    done.reverse()  # scenario 1 at the top
    labels = [f"{s['id']}. {s.get('short', s['title'])}\nvs {s['theirs']['label']}" for s in done]
    ratios = [s["ratio"] for s in done]
    colors = [
        "#9e9e9e"
        if s["target_ratio"] is None
        else "#2a9d8f"
        if s["ratio"] >= s["target_ratio"]
        else "#e76f51"
        for s in done
    ]
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.75 * max(len(done), 1)), dpi=100)
    ax.barh(range(len(done)), ratios, color=colors, height=0.6)
    ax.set_xscale("log", base=2)
    for i, s in enumerate(done):
        ax.annotate(f" {s['ratio']:.2f}x", (s["ratio"], i), va="center", ha="left", fontsize=9)
        if s["target_ratio"] is not None:
            ax.vlines(s["target_ratio"], i - 0.38, i + 0.38, colors="black", linestyles="dotted")
    ax.axvline(1.0, color="black", linewidth=1)
    low = min([*ratios, 0.5]) / 1.5
    high = max([*ratios, 2.0]) * 2
    ax.set_xlim(low, high)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
    ax.set_yticks(range(len(done)), labels, fontsize=8)
    ax.set_xlabel(
        "ours / theirs, throughput (higher is better); dotted: issue 4 target (grey: none)"
    )
    smoke = " (smoke run)" if data.get("settings", {}).get("smoke") else ""
    ax.set_title(
        f"Gatehouse vs nginx / StaticFiles, {data.get('generated', '')}{smoke}", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m bench.report RESULTS.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    data = json.loads(path.read_text())
    print(format_table(data))
    write_png(path.with_suffix(".png"), data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
