"""The run's Terminal: read once from the streams and the environment (NO_COLOR and
FORCE_COLOR as documented), and what the renderer makes of one built by hand: no pty needed
to see a table at a terminal 40 columns wide. (The pty tests in test_output.py,
test_redaction.py and test_auth.py run the real thing.)"""

from __future__ import annotations

import io
import sys

import pytest

from phonectl import render
from phonectl.choices import OutputFormat
from phonectl.results import PhoneList, PhoneShown
from phonectl.terminal import Terminal, is_terminal

LONG_NAME = "The phone on the desk by the window of the third floor meeting room"
PHONE = {"id": "p1", "type": "business", "number": "+1 425 555 0100", "displayName": LONG_NAME}


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


class ClosedStream(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize(
    ("stdout_is_terminal", "env", "colour"),
    [
        (True, {}, True),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # set but empty: not set
        (False, {}, False),
        (False, {"FORCE_COLOR": "1"}, True),
        (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins
        (True, {"FORCE_COLOR": "", "NO_COLOR": ""}, True),
    ],
)
def test_colour_follows_the_terminal_force_color_and_no_color(
    stdout_is_terminal: bool, env: dict[str, str], colour: bool
) -> None:
    stdout = TerminalStream() if stdout_is_terminal else io.StringIO()
    terminal = Terminal.of(io.StringIO(), stdout, io.StringIO(), {"COLUMNS": "90", **env})
    assert terminal.colour is colour
    assert terminal.width == (90 if stdout_is_terminal else None)  # a pipe: whole columns


def test_prompting_needs_stdin_and_stderr_at_a_terminal() -> None:
    both = Terminal.of(TerminalStream(), io.StringIO(), TerminalStream(), {})
    assert both.can_prompt and both.shows_progress and not both.stdout
    assert not Terminal.of(io.StringIO(), io.StringIO(), TerminalStream(), {}).can_prompt
    assert not Terminal.of(TerminalStream(), io.StringIO(), io.StringIO(), {}).can_prompt


def test_a_missing_or_closed_stream_is_no_terminal() -> None:
    assert not is_terminal(None)
    assert not is_terminal(ClosedStream())
    assert Terminal.of(None, None, None, {}) == Terminal(False, False, False, None, False)


def test_a_table_fits_a_terminal_40_columns_wide_without_a_pty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    narrow = Terminal(stdin=False, stdout=True, stderr=False, width=40, colour=False)
    render.show(PhoneList([PHONE]), OutputFormat.table, at=narrow)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines and all(len(line) <= 40 for line in lines)
    assert "p1" in out and "+1 425 555 0100" in out  # ids and numbers are never cut
    assert "\x1b[" not in out  # no colour


def test_the_same_table_piped_keeps_every_value_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    piped = Terminal(stdin=False, stdout=False, stderr=False)
    render.show(PhoneList([PHONE]), OutputFormat.table, at=piped)
    assert LONG_NAME in capsys.readouterr().out


def test_colour_styles_a_card(capsys: pytest.CaptureFixture[str]) -> None:
    styled = Terminal(stdin=False, stdout=True, stderr=False, width=60, colour=True)
    render.show(PhoneShown(PHONE), OutputFormat.table, at=styled)
    assert "\x1b[" in capsys.readouterr().out


def test_within_a_run_everything_goes_by_the_terminal_read_at_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_start = Terminal(stdin=True, stdout=True, stderr=True, width=50, colour=False)
    with render.run_at(at_start):
        # The streams changing under the run (a progress bar's proxy) changes nothing.
        monkeypatch.setattr(sys, "stderr", io.StringIO())
        assert render.terminal() is at_start
        with render.progress(3, "testing") as advance:
            # A bar is up: decided by the terminal at the start (stderr is a StringIO now,
            # which would have meant no bar).
            assert len(render._bars) == 1
            advance(1)
        assert render._bars == []
    assert not render.terminal().stderr  # after the run: the streams as they are now
