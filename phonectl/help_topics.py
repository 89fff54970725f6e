"""`phonectl help TOPIC`: the exit codes and the environment, written from the code's own
tables (errors.ExitCode, settings.SETTINGS), so a new code or variable is in help at once."""

from __future__ import annotations

import textwrap

WIDTH = 79
INDENT = "    "

# Variables phonectl honours but does not define (read by requests, keyring, the terminal).
STANDARD_VARIABLES = (
    ("HTTPS_PROXY", "the proxy for HTTPS requests (HTTP_PROXY, NO_PROXY likewise)"),
    ("REQUESTS_CA_BUNDLE", "a file of CA certificates to trust instead of certifi's"),
    ("PYTHON_KEYRING_BACKEND", "the keyring backend to keep the token cache in"),
    ("NO_COLOR", "set: no colour or bold, even at a terminal"),
)

# Read by the built-in emulator, which keeps apart from phonectl's settings.
EMULATOR_VARIABLES = (
    (
        "PHONECTL_SANDBOX_SEED",
        "the order the emulator runs a $batch's requests in, as a whole-number seed "
        "(default: random, so that no client comes to rely on one order)",
    ),
)


def exit_codes() -> str:
    from phonectl.errors import ExitCode

    lines = ["Exit codes of phonectl (scripts can rely on them):", ""]
    for code in ExitCode:
        lines += _entry(f"{int(code):<5}", code.meaning, hanging=True)
    return "\n".join(lines) + "\n"


def environment() -> str:
    from phonectl.settings import SETTINGS, default_in_words

    lines = [
        "Environment variables phonectl reads. A flag beats its variable, a variable",
        "beats what 'phonectl auth login' remembered, and that beats the default.",
        "",
    ]
    for row in SETTINGS:
        if row.env is None:
            continue
        facts = [f"default: {default_in_words(row)}"]
        if row.flag:
            facts.insert(0, f"flag: {row.flag}")
        if row.remembered:
            facts.append("remembered by auth login")
        lines.append(row.env)
        lines += _entry(INDENT, f"{_sentence(row.help)} ({'; '.join(facts)}).")
    lines += ["", "The built-in emulator (--sandbox, phonectl sandbox serve) reads:", ""]
    for name, meaning in EMULATOR_VARIABLES:
        lines.append(name)
        lines += _entry(INDENT, _sentence(meaning) + ".")
    lines += ["", "Standard variables phonectl honours:", ""]
    for name, meaning in STANDARD_VARIABLES:
        lines.append(name)
        lines += _entry(INDENT, _sentence(meaning) + ".")
    return "\n".join(lines) + "\n"


TOPICS = {"exit-codes": exit_codes, "environment": environment}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _entry(lead: str, text: str, *, hanging: bool = False) -> list[str]:
    """`text` wrapped to WIDTH after `lead` (`hanging`: on the lead's first line)."""
    pad = " " * len(lead)
    if hanging:
        return textwrap.wrap(text, WIDTH, initial_indent="  " + lead, subsequent_indent="  " + pad)
    return textwrap.wrap(text, WIDTH, initial_indent=lead, subsequent_indent=pad)
