"""The report as a table (for people), CSV (``metric,value`` rows, for spreadsheets) or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def flatten(report: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(dotted.metric, value)`` pairs; list items are keyed by their node, or hour and queue."""
    def walk(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            for item in value:
                key = item["node"] if "node" in item else ".".join(str(item[k]) for k in ("hour", "queue") if k in item)
                rest = {k: v for k, v in item.items() if k not in ("node", "hour", "queue")}
                yield from walk(f"{prefix}.{key}", rest)
        else:
            yield prefix, value
    yield from walk("", report)


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for key, value in flatten(report):
        writer.writerow([key, "" if value is None else value])
    return out.getvalue()


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]


def as_table(report: dict[str, Any]) -> str:
    sl, ab, aht, occ, cb = (report["service_level"], report["abandonment"], report["aht"], report["occupancy"],
                            report["callbacks"])
    con = report["containment"]
    asa = "-" if report["asa"] is None else f"{report['asa']:.1f} s"
    handle = "-" if aht["aht_seconds"] is None else f"{aht['aht_seconds']:.1f} s"
    only = f"  queue {report['queue']}" if report["queue"] else ""
    lines = [f"Report {report['since']} .. {report['until']}{only}",
             "",
             f"Calls into the IVR  {report['calls']}   "
             + "  ".join(f"{k} {v}" for k, v in report["outcomes"].items()),
             f"Containment         {_pct(con['rate'])}  ({con['self_served']} self-served of {con['calls']})",
             f"Service level SL1   {_pct(sl['sl1'])}  ({sl['answered_within']} answered within threshold of "
             f"{sl['offered']} offered)",
             f"Service level SL2   {_pct(sl['sl2'])}  ({sl['answered_within']} + {sl['abandoned_within']} "
             f"abandoned within, of {sl['answered']} answered + {sl['abandoned']} abandoned)",
             f"ASA                 {asa}  (over {sl['answered']} answered)",
             f"Abandonment         {_pct(ab['rate'])}  ({ab['abandoned']} of {ab['offered']}; short abandons "
             f"{ab['short_abandons']} and callbacks {ab['callbacks']} apart)",
             f"AHT                 {handle}  "
             f"(talk {aht['talk_seconds']:.1f} + hold {aht['hold_seconds']:.1f} + wrap-up "
             f"{aht['wrap_seconds']:.1f} s over {aht['calls']} calls)",
             f"Occupancy           {_pct(occ['occupancy'])}  ({occ['handling_seconds']:.0f} s talk + wrap-up of "
             f"{occ['working_seconds']:.0f} s logged in and available)",
             f"Callbacks           offered {cb['offered']}  accepted {cb['accepted']}  completed {cb['completed']}  "
             f"failed {cb['failed']}  pending {cb['pending']}  cancelled {cb['cancelled']}",
             ""]
    if occ["agents"]:
        lines += [*_table(["agent", "occupancy", "talk+wrap s", "available s"],
                          [[login, _pct(a["occupancy"]), f"{a['handling_seconds']:.0f}", f"{a['working_seconds']:.0f}"]
                           for login, a in occ["agents"].items()]), ""]
    if report["ivr_funnel"]:
        lines += [*_table(["node", "reached", "hung up", "handed off", "turns", "no-match", "no-input", "confidence"],
                          [[n["node"], str(n["reached"]), str(n["hung_up"]), str(n["handed_off"]), str(n["turns"]),
                            _pct(n["no_match_rate"]), _pct(n["no_input_rate"]), _value(n["mean_confidence"])]
                           for n in report["ivr_funnel"]]), ""]
    if report["hourly"]:
        lines += [*_table(["hour", "calls", "self-served", "containment", "queued", "answered", "abandoned", "SL1",
                           "SL2"],
                          [[h["hour"], str(h["calls"]), str(h["self_served"]), _pct(h["containment"]), str(h["queued"]),
                            str(h["answered"]), str(h["abandoned"]), _pct(h["sl1"]), _pct(h["sl2"])]
                           for h in report["hourly"]]), ""]
    if report["staffing"]:
        lines += _table(["hour", "queue", "calls", "AHT s", "erlangs", "agents needed", "expected SL"],
                        [[h["hour"], h["queue"], str(h["calls"]), _value(h["aht_seconds"]),
                          _value(h["traffic_erlangs"]), _value(h["agents_needed"]), _pct(h["expected_service_level"])]
                         for h in report["staffing"]])
    return "\n".join(lines).rstrip() + "\n"


def render(report: dict[str, Any], fmt: str) -> str:
    return {"table": as_table, "csv": as_csv, "json": as_json}[fmt](report)
