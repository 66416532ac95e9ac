"""`python -m bench [name ...] [--quick]`: run benchmarks and print one table."""

from __future__ import annotations

import argparse
import importlib

from bench.common import machine, print_table, setup_django

ALL = ["stitching", "audio", "memory", "pages", "fanout", "load"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of: {', '.join(ALL)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="skip the slowest baselines (MoviePy defaults), shorter load")
    args = parser.parse_args()
    setup_django()
    rows = []
    for name in args.names or ALL:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        rows.extend(module.run(args))
    print()
    print(f"Machine: {machine()}")
    print_table(rows)


if __name__ == "__main__":
    main()
