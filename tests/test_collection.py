"""A bulk run's garbage collection (phonectl.apply.collection): automatic collection off
while the rounds run, each round's cycles collected when it ends, and the collector as it
was afterwards, whatever ended the run."""

import gc
import weakref

import pytest

from phonectl.apply.collection import collected_by_round, round_done


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def _cycle() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


def test_a_rounds_cycles_live_until_the_round_ends_then_are_collected() -> None:
    with collected_by_round():
        assert not gc.isenabled()
        made = [_cycle() for _ in range(2000)]  # past any automatic threshold
        assert all(ref() is not None for ref in made)
        round_done()
        assert all(ref() is None for ref in made)
    assert gc.isenabled()


def test_the_collector_is_back_on_after_a_run_that_raised() -> None:
    with pytest.raises(KeyboardInterrupt), collected_by_round():
        raise KeyboardInterrupt
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collected_by_round():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_a_run_froze_is_collectable_again_after_it() -> None:
    gc.disable()  # no automatic pass may take the cycle before the run starts
    try:
        before = _cycle()  # garbage already when the run starts: frozen with the rest
        with collected_by_round():
            round_done()
            assert before() is not None
        gc.collect()
        assert before() is None
    finally:
        gc.enable()
