"""Charts of the report with matplotlib (Agg, no display): PNG for decks, SVG for pages.

Each chart is drawn from the report object alone (plus the follow-up times for the
distribution), so a chart always shows the figures of the JSON beside it. Output is
reproducible: no creation date in the files and a fixed SVG id salt.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

# Figures are made without pyplot, so no GUI backend is ever loaded; Agg draws the PNGs.
matplotlib.rcParams["svg.hashsalt"] = "leadsla"
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable

SIZE = (7.0, 3.6)
COLOR = "#2f6fb0"
ACCENT = "#d9822b"
# Business hours of follow-up, bins of the distribution chart (the last is open-ended).
FOLLOW_UP_BINS_HOURS = (0, 1, 2, 4, 8, 16, 40)


def _figure(title: str) -> tuple[Figure, Any]:
    figure = Figure(figsize=SIZE, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def compliance_trend(report: Mapping[str, Any]) -> Figure | None:
    """Compliance of each policy by month (SPEC §8 ``by_month``)."""
    months = sorted(report.get("by_month", {}))
    if not months:
        return None
    figure, axes = _figure("SLA compliance by month")
    policies = sorted({p for m in months for p in report["by_month"][m]["compliance"]})
    for policy in policies:
        values = [report["by_month"][m]["compliance"].get(policy) for m in months]
        shown = [np.nan if v is None else 100 * v for v in values]
        axes.plot(months, shown, marker="o", label=policy)
    axes.set_ylim(0, 105)
    axes.set_ylabel("met / (met + breached), %")
    axes.legend(frameon=False)
    return figure


def burn_up(entry: Mapping[str, Any]) -> Figure:
    """Cumulative count of a commitment's period against its target and pace."""
    days = entry["days"]
    figure, axes = _figure(f"{entry['name']}: {entry['period']['label']}")
    x = np.arange(len(days))
    counts = [d["count"] for d in days]
    axes.step(x, counts, where="post", color=COLOR, label="cumulative")
    target = float(entry["target"])
    axes.axhline(target, color="#888", linestyle="--", label=f"target {entry['target']}")
    period_days = _period_days(entry)
    pace_x = np.arange(period_days + 1)
    axes.plot(pace_x, target * pace_x / period_days, color=ACCENT, linestyle=":", label="pace")
    ticks = list(range(0, len(days), max(1, len(days) // 6)))
    axes.set_xticks(ticks, [days[t]["date"] for t in ticks], fontsize=8)
    axes.set_xlim(0, period_days)
    axes.set_ylabel(entry["metric"])
    axes.legend(frameon=False, loc="center left")
    return figure


def _period_days(entry: Mapping[str, Any]) -> int:
    start = date.fromisoformat(entry["period"]["start"][:10])
    end = date.fromisoformat(entry["period"]["end"][:10])
    return max(1, (end - start).days)


def follow_up_distribution(seconds: npt.NDArray[np.int64]) -> Figure:
    """How many follow-ups took how long, in business hours."""
    edges = [h * 3600 for h in FOLLOW_UP_BINS_HOURS] + [np.iinfo(np.int64).max]
    counts, _ = np.histogram(seconds, bins=np.array(edges, dtype=np.float64))
    labels = [f"{a}–{b} h" for a, b in itertools.pairwise(FOLLOW_UP_BINS_HOURS)]
    labels.append(f"> {FOLLOW_UP_BINS_HOURS[-1]} h")
    figure, axes = _figure("Time to follow-up (business hours)")
    bars = axes.bar(labels, counts, color=COLOR)
    axes.bar_label(bars, fontsize=8)
    axes.set_ylabel("follow-ups")
    return figure


def waterfall(report: Mapping[str, Any]) -> Figure | None:
    overall = report.get("waterfall", {}).get("overall")
    if overall is None:
        return None
    stages = [
        ("inquiries", "Inquiry", None),
        ("mqls", "MQL", "inquiry_to_mql"),
        ("sals", "SAL", "mql_to_sal"),
        ("opportunities", "Opportunity", "sal_to_opportunity"),
        ("won", "Won", "opportunity_to_won"),
    ]
    figure, axes = _figure("Demand waterfall (leads)")
    counts = [overall[key] for key, _, _ in stages]
    bars = axes.bar([label for _, label, _ in stages], counts, color=COLOR)
    rates = [_percent(overall[rate]) if rate else "" for _, _, rate in stages]
    axes.bar_label(
        bars, labels=[f"{c}\n{r}" if r else str(c) for c, r in zip(counts, rates, strict=True)]
    )
    axes.set_ylim(0, max([*counts, 1]) * 1.25)
    axes.set_ylabel("leads")
    return figure


def speed_to_lead(report: Mapping[str, Any]) -> Figure | None:
    speed = report.get("speed_to_lead")
    if speed is None:
        return None
    buckets = speed["buckets"]
    clock = "business" if speed.get("clock") == "business" else "wall-clock"
    figure, axes = _figure(f"Conversion to opportunity by {clock} time to first touch")
    rates = [100 * (b["conversion"] or 0.0) for b in buckets]
    low = [100 * (b["conversion_low"] or 0.0) for b in buckets]
    high = [100 * (b["conversion_high"] or 0.0) for b in buckets]
    errors = np.array([np.subtract(rates, low), np.subtract(high, rates)])
    bars = axes.bar(
        [b["label"] for b in buckets], rates, yerr=errors, capsize=3, color=COLOR, ecolor="#555"
    )
    axes.bar_label(bars, labels=[f"n={b['leads']}" for b in buckets], fontsize=8, padding=2)
    axes.set_ylim(0, 105)
    axes.set_ylabel("% reaching opportunity (95 % CI)")
    return figure


def touch_decay(report: Mapping[str, Any]) -> Figure | None:
    """The monotone fit of conversion against business hours to first touch, its 95 %
    bootstrap band and each bin's observed rate (``touch_decay``)."""
    decay = report.get("touch_decay")
    points = [p for p in (decay or {}).get("points", []) if p["fit"] is not None]
    if decay is None or not points:
        return None
    figure, axes = _figure("Conversion to opportunity by business hours to first touch")
    hours = [p["hours"] for p in points]
    axes.fill_between(
        hours,
        [100 * (p["fit_low"] or 0.0) for p in points],
        [100 * (p["fit_high"] or p["fit"]) for p in points],
        color=COLOR,
        alpha=0.2,
        linewidth=0,
        label="95 % band",
    )
    sizes = np.array([p["leads"] for p in points], dtype=np.float64)
    axes.scatter(
        hours,
        [100 * p["conversion"] for p in points],
        s=8 + 40 * sizes / sizes.max(),
        color=ACCENT,
        alpha=0.6,
        label="observed",
    )
    axes.plot(hours, [100 * p["fit"] for p in points], color=COLOR, label="monotone fit")
    loss = decay["loss_per_hour"]
    axes.set_xlabel(
        f"business hours to first touch; one more hour costs {_percent(loss)} of opportunities"
    )
    axes.set_ylabel("% reaching opportunity")
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False)
    return figure


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f} %"


def report_charts(
    report: Mapping[str, Any], follow_up_seconds: npt.NDArray[np.int64] | None
) -> Iterator[tuple[str, Figure]]:
    """``(file stem, figure)`` of every chart the report has data for."""
    charts: list[tuple[str, Figure | None]] = [
        ("compliance-trend", compliance_trend(report)),
        ("waterfall", waterfall(report)),
        ("speed-to-lead", speed_to_lead(report)),
        ("touch-decay", touch_decay(report)),
    ]
    if follow_up_seconds is not None:
        charts.append(("time-to-follow-up", follow_up_distribution(follow_up_seconds)))
    for entry in report.get("burn_up", []):
        charts.append((f"burn-up-{_slug(entry['name'])}", burn_up(entry)))
    for stem, figure in charts:
        if figure is not None:
            yield stem, figure


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "commitment"


def save_charts(charts: Sequence[tuple[str, Figure]], directory: Path) -> list[Path]:
    """Each chart as ``STEM.png`` and ``STEM.svg`` in ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, figure in charts:
        for suffix in ("png", "svg"):
            path = directory / f"{stem}.{suffix}"
            figure.savefig(path, format=suffix, dpi=120, metadata=_metadata(suffix))
            written.append(path)
    return written


def svg_text(figure: Figure) -> str:
    """The chart as an inline ``<svg>`` element (no XML prolog), for one-file HTML."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata=_metadata("svg"))
    text = out.getvalue()
    return text[text.index("<svg") :]


def _metadata(suffix: str) -> dict[str, Any]:
    # No creation date or software version: the same report gives the same bytes.
    if suffix == "svg":
        return {"Date": None, "Creator": None}
    return {"Software": None}
