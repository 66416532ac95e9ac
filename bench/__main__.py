"""`python -m bench [name ...] [--quick]`: run benchmarks and print one table.

Every row with a bar says PASS or MISS; the exit status is 1 when any bar is missed (or a
benchmark crashed), 0 otherwise."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from bench.common import Row, machine, print_table, setup_django, verdict

ALL = ["stitching", "restitch", "audio", "music", "groundtruth", "plan", "memory", "pages", "fanout", "load", "imports"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of: {', '.join(ALL)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="skip the slowest baselines (MoviePy defaults), shorter load")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in ALL]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ALL)}")
    setup_django()
    rows: list[Row] = []
    for name in args.names or ALL:
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows.extend(module.run(args))
        except Exception as exc:  # a crashed benchmark is a missed bar, not a silent gap
            traceback.print_exc()
            rows.append(Row(name, "benchmark crashed", f"{exc.__class__.__name__}: {exc}"[:80], "-", "-", "runs", False))
    print()
    print(f"Machine: {machine()}")
    print_table(rows)
    missed = [r for r in rows if verdict(r) == "MISS"]
    passed = sum(1 for r in rows if verdict(r) == "PASS")
    print()
    if missed:
        print(f"MISSED {len(missed)} of {len(missed) + passed} bars:")
        for r in missed:
            print(f"  MISS  {r.bench}: {r.what}: {r.value} (bar {r.bar})")
        return 1
    print(f"All {passed} bars met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
