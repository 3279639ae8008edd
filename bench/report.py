"""The bench's outputs: a table on stdout, the same as JSON and as Markdown (for the README),
and a PNG chart of the ratios.

`python -m bench.report bench/results/latest.json` prints the table of a saved run and
rewrites its Markdown and chart.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import stats

Result = dict[str, Any]

FOREIGN_WARNING = 15  # % of a pinned core used by processes outside the bench

HEADER = (
    "#",
    "scenario",
    "ours",
    "spread",
    "p50 ms",
    "p99 ms",
    "theirs",
    "spread",
    "p50 ms",
    "p99 ms",
    "ratio",
    "target",
    "errors",
)
RIGHT = {2, 3, 4, 5, 7, 8, 9, 10, 12}  # numeric columns


def _key(unit: str) -> str:
    return "mb_s" if unit == "MB/s" else "rps"


def _value(side: Result, unit: str) -> str:
    value = side["value"]
    return f"{value:,.0f} {unit}" if unit == "req/s" else f"{value:,.1f} {unit}"


def _spread(side: Result, unit: str) -> str:
    """Lowest and highest round against the median, e.g. `-3/+5%`; empty for one round."""
    spread = side.get("spread", {}).get(_key(unit))
    if not spread or len(side.get("rounds", [])) < 2:
        return ""
    return f"-{spread['minus_percent']:.0f}/+{spread['plus_percent']:.0f}%"


def comparisons(s: Result) -> list[Result]:
    """A scenario's rows: ours against its yardstick, then against any other (row 1c...)."""
    main = {
        "row": str(s["id"]),
        "theirs": s["theirs"],
        "ratio": s["ratio"],
        "target_ratio": s["target_ratio"],
    }
    others = s.get("others", [])
    main["errors"] = s["errors"] - sum(int(o["theirs"]["errors"]) for o in others)
    return [main, *({**o, "errors": o["theirs"]["errors"]} for o in others)]


def rows(scenarios: Sequence[Result]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = []
    for s in scenarios:
        if "failed" in s:
            table.append((str(s["id"]), s["title"], "FAILED", *[""] * 9, "1"))
            continue
        ours, unit = s["ours"], s["unit"]
        for c in comparisons(s):
            theirs = c["theirs"]
            table.append(
                (
                    c["row"],
                    s["title"],
                    _value(ours, unit),
                    _spread(ours, unit),
                    f"{ours['p50_ms']:.2f}",
                    f"{ours['p99_ms']:.2f}",
                    f"{theirs['label']} {_value(theirs, unit)}",
                    _spread(theirs, unit),
                    f"{theirs['p50_ms']:.2f}",
                    f"{theirs['p99_ms']:.2f}",
                    "-" if c["ratio"] is None else f"{c['ratio']:.2f}x",
                    "-" if c["target_ratio"] is None else f">= {c['target_ratio']}x",
                    str(c["errors"]),
                )
            )
    return table


def _sides(s: Result) -> list[Result]:
    return [s.get("ours") or {}, s.get("theirs") or {}, *(o["theirs"] for o in s.get("others", []))]


def format_table(data: Result) -> str:
    table = [HEADER, *rows(data["scenarios"])]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if i in RIGHT else cell.ljust(width)
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
        for side in _sides(s):
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
    return "\n".join([*out, "", *_settings_lines(data), *notes])


def _settings_lines(data: Result) -> list[str]:
    machine = data.get("machine", {})
    settings = data.get("settings", {})
    rounds = settings.get("rounds")  # absent from runs made before there were rounds
    lines = [
        f"{machine.get('cpus', '?')} CPUs, {machine.get('pinning', '')}",
        f"{settings.get('duration')} s per run after {settings.get('warmup')} s warm-up, "
        f"wrk -t1 -c{settings.get('connections')} keep-alive"
        + (" (smoke)" if settings.get("smoke") else ""),
    ]
    if rounds:
        lines.append(
            f"{rounds} round{'s' if rounds != 1 else ''} per side, the order alternating each "
            "round; figures are medians, spread is the lowest and highest round against it, "
            "ratio is median / median"
        )
    lines += [
        "nginx with proxy_cache on the content service's locations in every scenario"
        if settings.get("nginx_cache")
        else "nginx without proxy_cache, except rows 1c and 2c (--nginx-cache: everywhere)",
    ]
    if settings.get("proxy_env"):
        lines.append(f"our proxy with {' '.join(settings['proxy_env'])}")
    return lines


def format_markdown(data: Result) -> str:
    """The table for the README: one row per comparison, medians with their spread."""
    out = [
        "| # | scenario | Gatehouse | nginx / StaticFiles | ours / theirs | target | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows(data["scenarios"]):
        number, title, ours, ours_spread = row[:4]
        theirs, theirs_spread = row[6:8]
        ratio, target, errors = row[10:]
        ours_cell = f"{ours} ({ours_spread})" if ours_spread else ours
        theirs_cell = f"{theirs} ({theirs_spread})" if theirs_spread else theirs
        cells = [number, title, ours_cell, theirs_cell, ratio, target, errors]
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join([*out, "", *(f"- {line}" for line in _settings_lines(data))]) + "\n"


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


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data: Result) -> None:
    _write(path, json.dumps(data, indent=2) + "\n")


def write_markdown(path: Path, data: Result) -> None:
    _write(path, format_markdown(data))


def _ratio_range(ours: Result, theirs: Result, unit: str) -> tuple[float, float] | None:
    key = _key(unit)
    spreads = [side.get("spread", {}).get(key) for side in (ours, theirs)]
    if not all(spreads):
        return None
    ours_spread, theirs_spread = (
        stats.Spread(s["median"], s["min"], s["max"])  # type: ignore[index]
        for s in spreads
    )
    return stats.ratio_range(ours_spread, theirs_spread)


def write_png(path: Path, data: Result) -> None:
    """A bar per comparison: ours / theirs (medians) on a log scale, a whisker from the
    rounds' worst to best ratio, the 1.0 line and the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    bars = [
        (s, c) for s in data["scenarios"] if "failed" not in s for c in comparisons(s) if c["ratio"]
    ]
    bars.reverse()  # scenario 1 at the top
    labels = [
        f"{c['row']}. {s.get('short', s['title'])}\nvs {c['theirs']['label']}" for s, c in bars
    ]
    ratios = [c["ratio"] for _, c in bars]
    colors = [
        "#9e9e9e"
        if c["target_ratio"] is None
        else "#2a9d8f"
        if c["ratio"] >= c["target_ratio"]
        else "#e76f51"
        for _, c in bars
    ]
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.75 * max(len(bars), 1)), dpi=100)
    ax.barh(range(len(bars)), ratios, color=colors, height=0.6)
    ax.set_xscale("log", base=2)
    extremes = list(ratios)
    for i, (s, c) in enumerate(bars):
        label_at = c["ratio"]
        whisker = _ratio_range(s["ours"], c["theirs"], s["unit"])
        if whisker and len(s["ours"].get("rounds", [])) > 1:
            ax.hlines(i, *whisker, colors="black", linewidth=1)
            extremes += whisker
            label_at = max(label_at, whisker[1])  # past the whisker, not over it
        ax.annotate(f" {c['ratio']:.2f}x", (label_at, i), va="center", ha="left", fontsize=9)
        if c["target_ratio"] is not None:
            ax.vlines(c["target_ratio"], i - 0.38, i + 0.38, colors="black", linestyles="dotted")
    ax.axvline(1.0, color="black", linewidth=1)
    low = min([*extremes, 0.5]) / 1.5
    high = max([*extremes, 2.0]) * 2
    ax.set_xlim(low, high)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
    ax.set_yticks(range(len(bars)), labels, fontsize=8)
    rounds = data.get("settings", {}).get("rounds", 1)
    ax.set_xlabel(
        f"ours / theirs, median throughput of {rounds} round(s) (higher is better); "
        "line: worst to best round;\ndotted: issue 4 target (grey: none)",
        fontsize=9,
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
    write_markdown(path.with_suffix(".md"), data)
    write_png(path.with_suffix(".png"), data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
