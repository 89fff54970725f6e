"""Garbage collection in a bulk run: once a round, not every 700 allocations.

A 50,000-row apply allocates some 50 million container objects (rows, plans, answers,
results), and the cyclic collector examines each one that lives past a few hundred
allocations: about a tenth of the run's CPU, for garbage it almost never makes (nothing in
a round's work refers back to itself). So while the rounds run, what start-up built is
frozen (never examined again: it lives as long as the process), the automatic collector is
off, and each round ends with one collection of what the run made, which bounds any cyclic
garbage by a round's (the same idea as mypy's raised collection threshold, taken further
because apply knows where its rounds end)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collected_by_round() -> Iterator[None]:
    """Start-up's objects frozen and automatic collection off, until the block ends."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()  # what the run froze is collectable again (a caller may run on)
        if enabled:
            gc.enable()


def round_done() -> None:
    """A round's garbage, cycles included, collected (a few milliseconds: only what the run
    made since start-up is examined)."""
    gc.collect()
