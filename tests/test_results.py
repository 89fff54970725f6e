"""Each result type's shape, pinned: its JSON (what scripts parse), its tsv cells, its view,
its stderr notes and its exit code; and render.show() writing any result in any format."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from phonectl import render
from phonectl.apply.plan import Change, Outcome
from phonectl.apply.run import ApplyReport, RowResult, Tally
from phonectl.auth import AuthStatus
from phonectl.choices import OutputFormat
from phonectl.errors import ExitCode, SignInRequired, Terminated
from phonectl.phones import SIGNED_IN, UserRef
from phonectl.results import (
    ApplyResult,
    AuthReport,
    Card,
    Lines,
    Nothing,
    PhoneDeleted,
    PhoneList,
    PhoneShown,
    RequestPlanned,
    Said,
    Table,
)

if TYPE_CHECKING:
    from phonectl.results import Result

PHONE = {
    "@odata.context": "https://graph.microsoft.com/beta/$metadata#users('x')/profile/phones/$entity",
    "id": "p1",
    "type": "mobile",
    "number": "+1 555 0100",
    "displayName": "Work",
    "allowedAudiences": "organization,federatedOrganizations",
    "source": {"type": ["AAD", "MsGraph"]},
    "isSearchable": True,
    "createdBy": {"user": {"displayName": "Adele Vance", "id": "u"}},
    "createdDateTime": "2024-01-02T03:04:05.1234567Z",
}
STATUS = AuthStatus(
    account="adele@contoso.com",
    tenant="contoso.onmicrosoft.com",
    cloud="global",
    client_id="c1",
    scopes=("User.ReadWrite",),
    token_source="keyring",
    expires_on=1_700_000_000,
    cache="keyring",
    problem=None,
)
ROWS = (
    RowResult(
        2, UserRef("adele@contoso.com"), "p1", Outcome.updated, (Change("number", "+1", "+2"),)
    ),
    RowResult(3, SIGNED_IN, None, Outcome.failed, (), "404 NotFound: gone", ExitCode.FAILED),
)


def test_a_phone_list() -> None:
    result = PhoneList([PHONE, {"id": "p2"}])
    assert result.json() == [PHONE, {"id": "p2"}]  # Graph's objects, untouched
    assert list(result.tsv()) == [
        ("p1", "mobile", "+1 555 0100", "Work", "organization,federatedOrganizations"),
        ("p2", None, None, None, None),  # absent: an empty cell
    ]
    view = result.view()
    assert isinstance(view, Table)
    assert [c.header for c in view.columns] == [
        "ID",
        "Type",
        "Number",
        "Display name",
        "Audience",
        "Source",
        "Last modified",
    ]
    assert next(iter(view.rows))[:6] == (
        "p1",
        "mobile",
        "+1 555 0100",
        "Work",
        "organization, federatedOrganizations",
        "AAD, MsGraph",
    )
    assert PhoneList([]).view() == Nothing("no phones")
    assert (result.exit_code, result.notes, result.problem) == (ExitCode.OK, (), None)


def test_one_phone_is_graphs_object_and_a_card() -> None:
    result = PhoneShown(PHONE)
    assert result.json() is PHONE
    view = result.view()
    assert isinstance(view, Card)
    assert dict(view.pairs) == {
        "ID": "p1",
        "Type": "mobile",
        "Number": "+1 555 0100",
        "Display name": "Work",
        "Audience": "organization, federatedOrganizations",
        "Source": "AAD, MsGraph",
        "Searchable": "yes",
        "Created": "Adele Vance, 2024-01-02 03:04 UTC",
        "Last modified": "",
    }


@pytest.mark.parametrize(("user", "shown"), [(SIGNED_IN, None), (UserRef("me"), "me")])
def test_a_deleted_phone(user: UserRef, shown: str | None) -> None:
    result = PhoneDeleted("p1", user)
    assert result.json() == {"id": "p1", "user": shown, "deleted": True}
    assert list(result.tsv()) == [("p1", "deleted")]
    assert result.view() == Nothing()
    assert result.notes == (f"deleted phone p1 of {shown or 'the signed-in user'}",)


def test_a_planned_request() -> None:
    result = RequestPlanned("PATCH", "https://g/beta/me/profile/phones/p1", {"type": "home"})
    assert result.json() == {
        "method": "PATCH",
        "url": "https://g/beta/me/profile/phones/p1",
        "body": {"type": "home"},
    }
    assert list(result.tsv()) == [
        ("PATCH", "https://g/beta/me/profile/phones/p1", '{"type": "home"}')
    ]
    assert result.view() == Lines(
        ("PATCH https://g/beta/me/profile/phones/p1", "{", '  "type": "home"', "}")
    )
    assert result.notes == ("dry run: nothing was sent",)
    assert list(RequestPlanned("DELETE", "u", None).tsv()) == [("DELETE", "u", "")]


def test_an_auth_report_and_its_problem() -> None:
    usable = AuthReport(STATUS)
    assert usable.json() == {
        "account": "adele@contoso.com",
        "tenant": "contoso.onmicrosoft.com",
        "cloud": "global",
        "clientId": "c1",
        "scopes": ["User.ReadWrite"],
        "tokenSource": "keyring",
        "accessTokenExpires": "2023-11-14T22:13:20+00:00",
        "cache": "keyring",
        "usable": True,
        "problem": None,
    }
    assert (usable.exit_code, usable.problem) == (ExitCode.OK, None)
    assert ("scopes", "User.ReadWrite") in list(usable.tsv())
    broken = AuthReport(STATUS._replace(problem="the refresh token expired", hint=None))
    assert broken.exit_code is ExitCode.SIGN_IN
    assert isinstance(broken.problem, SignInRequired)
    assert broken.problem.hint == "run 'phonectl auth login'"
    assert broken.json()["usable"] is False


def test_said_prints_nothing_on_stdout_in_any_format(capsys: pytest.CaptureFixture[str]) -> None:
    result = Said(("done",), ("alice: 404",), ExitCode.FAILED)
    for fmt in OutputFormat:
        assert render.show(result, fmt) is ExitCode.FAILED
        out, err = capsys.readouterr()
        assert (out, err) == ("", "warning: alice: 404\ndone\n")


def test_an_apply_result() -> None:
    result = ApplyResult(ApplyReport(ROWS, writes_sent=1, requests_sent=3, dry_run=False))
    assert list(result.json()) == [
        {
            "line": 2,
            "user": "adele@contoso.com",
            "id": "p1",
            "result": "updated",
            "changed": ["number"],
            "changes": [{"field": "number", "old": "+1", "new": "+2"}],
            "error": None,
        },
        {
            "line": 3,
            "user": None,
            "id": None,
            "result": "failed",
            "changed": [],
            "changes": [],
            "error": "404 NotFound: gone",
        },
    ]
    assert next(iter(result.tsv())) == (
        2,
        "adele@contoso.com",
        "p1",
        "updated",
        'number: "+1" -> "+2"',
        None,
    )
    assert result.exit_code is ExitCode.FAILED
    assert result.notes == [
        "apply: 2 rows: 1 updated, 1 failed; 1 write in 3 HTTP requests",  # 1 write, not 1 writes
        "hint: run the same command again once the cause is fixed: it does only what is left",
    ]
    stopped = ApplyResult(result.report._replace(complete=False), Terminated())
    assert stopped.exit_code is ExitCode.TERMINATED
    assert stopped.notes[-1] == "terminated"
    # Every row has its result: nothing is said to be unsent.
    assert stopped.notes[0] == "apply: 2 rows: 1 updated, 1 failed; 1 write in 3 HTTP requests"
    one_unsent = Tally({Outcome.not_sent: 1}, frozenset({ExitCode.FAILED}))
    cut_short = ApplyResult(
        result.report._replace(complete=False, handed_on=one_unsent), Terminated()
    )
    assert cut_short.notes[0] == (
        "apply: 3 rows: 1 updated, 1 failed, 1 not-sent; 1 write in 3 HTTP requests; "
        "stopped before the end: not-sent rows were never sent"
    )


ALL: list[Result] = [
    PhoneList([PHONE]),
    PhoneShown(PHONE),
    PhoneDeleted("p1", SIGNED_IN),
    RequestPlanned("DELETE", "u", None),
    AuthReport(STATUS),
    Said(("x",)),
    ApplyResult(ApplyReport(ROWS, 1, 3, False)),
]


@pytest.mark.parametrize("result", ALL, ids=lambda r: type(r).__name__)
@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_result_renders_in_every_format(
    result: Result, fmt: OutputFormat, capsys: pytest.CaptureFixture[str]
) -> None:
    code = render.show(result, fmt)
    out, _ = capsys.readouterr()
    assert code is result.exit_code
    if fmt is OutputFormat.json and result.json() is not None:
        assert json.loads(out) is not None  # one JSON value, whatever the result
    if fmt is OutputFormat.tsv:
        rows = list(result.tsv())
        lines = out.splitlines()
        assert len(lines) == len(rows)
        assert all(
            len(line.split("\t")) == len(cells) for line, cells in zip(lines, rows, strict=True)
        )


@pytest.mark.parametrize("result", ALL, ids=lambda r: type(r).__name__)
def test_results_are_immutable(result: Any) -> None:
    with pytest.raises(AttributeError):
        setattr(result, result._fields[0], None)
    with pytest.raises(AttributeError):
        result.anything = 1


def test_counts_read_in_the_singular_for_one() -> None:
    from phonectl.words import counted

    assert counted(1, "phone") == "1 phone"
    assert counted(0, "phone") == "0 phones"
    assert counted(2, "HTTP request") == "2 HTTP requests"
    assert counted(1, "user's", "users'") == "1 user's"
    assert counted(3, "user's", "users'") == "3 users'"
