"""Output and arguments whatever the locale: what stdout's encoding cannot show
(PYTHONIOENCODING=latin-1 or ascii, a C locale) is escaped, never an error that ends the
output; json stays valid JSON that reads back exactly; valid UTF-8 arguments are accepted
under a C locale. Real processes, piped and on a pseudo-terminal."""

from __future__ import annotations

import json

import pytest
from support import EXAMPLE_PHONE_ID, change_phone, phone_in_state, run_on_terminal, run_phonectl

from phonectl.sandbox.server import GraphEmulator

NAME = "Zoë ☎ Ωmega 東京"
# Python reads a C locale as ASCII only when its UTF-8 mode is off (PEP 540 turns it on).
LOCALES = {
    "latin-1": {"PYTHONIOENCODING": "latin-1"},
    "ascii": {"PYTHONIOENCODING": "ascii"},
    "C locale": {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    "C locale, UTF-8 mode": {"LC_ALL": "C"},
}


def encoding_of(env: dict[str, str]) -> str:
    return env.get("PYTHONIOENCODING") or ("ascii" if env.get("PYTHONUTF8") == "0" else "utf-8")


@pytest.fixture
def named(graph: GraphEmulator) -> GraphEmulator:
    change_phone(graph, EXAMPLE_PHONE_ID, displayName=NAME)
    return graph


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "args", [["list"], ["get", EXAMPLE_PHONE_ID], ["list", "-o", "tsv"]], ids=" ".join
)
def test_what_the_encoding_cannot_show_is_escaped_not_fatal(
    named: GraphEmulator, locale: str, args: list[str]
) -> None:
    env = LOCALES[locale]
    done = run_phonectl(*args, env=env, text=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    text = done.stdout.decode(encoding_of(env))  # every byte is in the stream's encoding
    if encoding_of(env) == "utf-8":
        assert NAME in text
    else:
        assert "\\u260e" in text and "\\u6771\\u4eac" in text  # ☎, 東京
        assert ("Zoë" if encoding_of(env) == "latin-1" else "Zo\\xeb") in text
    assert EXAMPLE_PHONE_ID in text  # nothing cut off after the name
    assert text.endswith("\n")


@pytest.mark.parametrize("locale", LOCALES)
def test_json_in_any_encoding_reads_back_exactly(named: GraphEmulator, locale: str) -> None:
    env = LOCALES[locale]
    for args in (["list", "-o", "json"], ["get", EXAMPLE_PHONE_ID, "-o", "json"]):
        done = run_phonectl(*args, env=env, text=False)
        assert done.returncode == 0, done.stderr
        value = json.loads(done.stdout.decode(encoding_of(env)))
        phone = value[0] if isinstance(value, list) else value
        assert phone["displayName"] == NAME


@pytest.mark.parametrize("locale", LOCALES)
def test_errors_in_any_encoding_are_whole_lines_with_their_exit_code(
    graph: GraphEmulator, locale: str
) -> None:
    done = run_phonectl("get", "nämlich-☎", env=LOCALES[locale], text=False)
    assert done.returncode == 5
    stderr = done.stderr.decode(encoding_of(LOCALES[locale]))
    assert stderr.startswith("error: Graph refused GET")
    assert "hint: check the user and phone id" in stderr
    assert "Traceback" not in stderr and "standard output is closed" not in stderr


@pytest.mark.parametrize("locale", ["ascii", "C locale"])
def test_a_terminal_that_cannot_show_a_name_sees_it_escaped(
    named: GraphEmulator, locale: str
) -> None:
    code, screen = run_on_terminal(
        ["get", EXAMPLE_PHONE_ID], {**LOCALES[locale], "COLUMNS": "80", "NO_COLOR": "1"}
    )
    assert code == 0, screen
    text = screen.decode("ascii")
    assert "Zo\\xeb \\u260e \\u03a9mega \\u6771\\u4eac" in text
    assert "+7 499 342 22 13" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_utf8_arguments_are_accepted_in_any_locale(graph: GraphEmulator, locale: str) -> None:
    done = run_phonectl(
        "update", EXAMPLE_PHONE_ID, "--display-name", NAME, "-o", "json", env=LOCALES[locale]
    )
    assert done.returncode == 0, done.stderr
    assert phone_in_state(graph, EXAMPLE_PHONE_ID)["displayName"] == NAME


def test_arguments_that_are_not_utf8_are_still_refused_in_a_c_locale(
    graph: GraphEmulator,
) -> None:
    done = run_phonectl(
        "update", EXAMPLE_PHONE_ID, b"--display-name", b"Zo\xeb", env=LOCALES["C locale"]
    )
    assert done.returncode == 2
    assert "an argument is not valid UTF-8 text" in done.stderr
    assert phone_in_state(graph, EXAMPLE_PHONE_ID)["displayName"] != "Zoë"
