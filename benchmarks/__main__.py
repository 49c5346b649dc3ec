"""Run every benchmark row against one loopback server and print one table of ratios.

Usage: ``python -m benchmarks [--quick] [--json FILE] [--only create,sync,...]``
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence

from . import Row
from ._servers import ServerHandle

ROWS = (
    "create",
    "sync",
    "paging",
    "limiter",
    "redis_limiter",
    "requests",
    "import",
    "dial_journal",
    "dial_workers",
    "export_memory",
    "campaign_outcomes",
    "reserve",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    return {
        "cpus": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other processes skew the figures; the load average at the start tells how quiet it was.
        "load": f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?",
    }


def render(rows: Sequence[Row]) -> str:
    """The results as a plain-text table with aligned columns."""
    header = ("row", "measured", "ratio", "target", "met")
    lines = [
        (
            r.row,
            r.measured,
            "-" if r.ratio is None else f"{r.ratio:.3g}{r.unit}" if r.unit else f"{r.ratio:g}",
            str(r.target) if r.target else "info",
            "-" if r.met is None else "yes" if r.met else "NO",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected rows; return 0 when every row ran (targets missed are not errors)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run of a few seconds)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--only", metavar="ROWS", help=f"comma-separated subset of {','.join(ROWS)}")
    args = parser.parse_args(argv)
    selected = ROWS if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = set(selected) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")

    info = machine()
    print(
        f"voicekit benchmarks ({'quick' if args.quick else 'full'}): {info['cpus']} CPUs, "
        f"{info['cpu']}, Python {info['python']}",
        flush=True,
    )
    rows: list[Row] = []
    failed = False
    started = time.perf_counter()
    with ServerHandle() as server:
        for name in selected:
            t0 = time.perf_counter()
            try:
                module = importlib.import_module(f"benchmarks.bench_{name}")
                new = module.run(server, args.quick)
            except Exception as exc:  # noqa: BLE001 - report the row as failed, run the rest
                traceback.print_exc()
                new = [Row(f"{name}: FAILED", f"{type(exc).__name__}: {exc}"[:100], None)]
                failed = True
            rows.extend(new)
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"
    print()
    print(render(rows))
    print(f"\n(total {total:.1f} s; 1-minute load average {info['load']} at start, {load} at end)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "quick": args.quick,
                    "seconds": total,
                    "load_at_end": load,
                    "rows": [r.as_dict() for r in rows],
                },
                f,
                indent=2,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
