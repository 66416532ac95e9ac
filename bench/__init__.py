"""Benchmarks: each measures MV Studio beside its baseline in the same run and prints
the ratio. Run them all with `make bench`, or one: `python -m bench stitching`."""
