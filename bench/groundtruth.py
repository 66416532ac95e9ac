"""Placeholder until the ground-truth set lands (see below)."""


def analysed_pieces():
    return []
