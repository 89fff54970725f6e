"""Properties of redaction, through the renderer itself: for any value holding a secret and
any terminal width, no result type in any view writes a 12-character run of the secret that
the same output with the secret already replaced would not hold; and the search finds every
occurrence of every secret, as a plain search for each would.

The renderer writes to a plain terminal-like buffer here, not through the redacting streams:
what is shown holds only because values are redacted before they are laid out."""

from __future__ import annotations

import io
import string
import sys
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonectl import render, safe_output
from phonectl.apply.plan import Change, Outcome
from phonectl.apply.run import ApplyReport, RowResult
from phonectl.auth import AuthStatus, ProfileSummary
from phonectl.choices import OutputFormat
from phonectl.phones import UserRef
from phonectl.results import (
    ApplyResult,
    AuthReport,
    PhoneDeleted,
    PhoneList,
    PhoneShown,
    ProfileList,
    RequestPlanned,
    Said,
    SetPlanned,
)
from phonectl.safe_output import REDACTED, SecretSet

if TYPE_CHECKING:
    from phonectl.results import Result

RUN = 12
# What bearer tokens, refresh tokens and most passwords are made of.
TOKEN_CHARS = string.ascii_letters + string.digits + "-_.~+/="
PHONE_ID = "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f"


class Terminal(io.StringIO):
    """A buffer that says it is a terminal, so the renderer fits its layout to COLUMNS."""

    def isatty(self) -> bool:
        return True


def results_holding(value: str) -> list[Result]:
    """One result of each type, `value` in every free-text place it has."""
    phone: dict[str, Any] = {
        "id": PHONE_ID,
        "type": "other",
        "number": "+1 425 555 0100",
        "displayName": value,
        "allowedAudiences": "organization",
        "source": {"type": [value, "HR"]},
        "lastModifiedBy": {"user": {"displayName": value}},
        "lastModifiedDateTime": "2026-12-06T03:00:00Z",
    }
    rows = (
        RowResult(
            1, UserRef(value), PHONE_ID, Outcome.updated, (Change("displayName", value, "x"),)
        ),
        RowResult(2, UserRef("adelev@contoso.com"), None, Outcome.failed, error=value),
    )
    status = AuthStatus(value, "contoso", "global", None, (), "env", None, value, value, value)
    request = {"method": "PATCH", "url": f"https://graph/{value}", "body": {"displayName": value}}
    return [
        PhoneShown(phone),
        PhoneList([phone, {**phone, "id": "second"}]),
        RequestPlanned(
            "PATCH", f"https://graph.microsoft.com/beta/{value}", {"displayName": value}
        ),
        ApplyResult(ApplyReport(rows, writes_sent=1, requests_sent=1, dry_run=False)),
        AuthReport(status),
        Said((f"Signed out of {value}",), warnings=(value,)),
        PhoneDeleted(value, UserRef(value)),
        SetPlanned("would-update", PHONE_ID, value, (("displayName", value, "x"),), request),
        ProfileList([ProfileSummary(value, value, "contoso", "global", True, True, value)]),
    ]


def rendered(result: Result, fmt: OutputFormat, width: int) -> str:
    out, err = Terminal(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", str(width))
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        render.show(result, fmt)
    return out.getvalue() + err.getvalue()


def runs(text: str, secret: str) -> set[str]:
    return {
        secret[i : i + RUN] for i in range(len(secret) - RUN + 1) if secret[i : i + RUN] in text
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=st.text(TOKEN_CHARS, min_size=RUN, max_size=300),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    width=st.integers(min_value=10, max_value=200),
)
def test_no_rendering_holds_a_run_of_a_held_secret(
    secret: str, before: str, after: str, width: int
) -> None:
    secrets = SecretSet()
    secrets.add(secret)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(safe_output, "SECRETS", secrets)
        for holding, baseline in zip(
            results_holding(before + secret + after),
            results_holding(before + REDACTED + after),
            strict=True,
        ):
            for fmt in OutputFormat:
                shown = rendered(holding, fmt, width)
                # Runs the rest of the data holds by itself are not the secret's doing.
                assert runs(shown, secret) <= runs(rendered(baseline, fmt, width), secret), (
                    fmt,
                    shown,
                )


def reference_redaction(text: str, secrets: list[str]) -> str:
    """Every occurrence of every secret (overlapping ones together) replaced, found one
    secret at a time with str.find."""
    spans = []
    for secret in secrets:
        start = text.find(secret)
        while start >= 0:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    parts, done = [], 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start >= done:
            parts += [text[done:start], REDACTED]
        done = end
    return "".join([*parts, text[done:]])


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text("abc.-", min_size=6, max_size=12), min_size=1, max_size=6),
    text=st.text("abc.-x", max_size=80),
)
def test_the_search_finds_what_a_search_for_each_secret_finds(
    secrets: list[str], text: str
) -> None:
    """A small alphabet, so secrets overlap, nest and share their tails."""
    found = SecretSet()
    for secret in secrets:
        found.add(secret)
    assert found.redact(text) == reference_redaction(text, secrets)
