"""apply --backup, through the command line's main() (in process) against the emulator: a
backup only ever goes to a new file, names every user it holds (those with no phones too),
marks what was empty, holds any value Graph holds, and its undo (`apply BACKUP --prune`)
puts back exactly what was."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import EXAMPLE_PHONE_ID, ME_ID, Run, add_users, change_phone, phones_of
from support import written_items as writes

from phonectl.sandbox.server import GraphEmulator

ME_UPN = "innocenty.popov@contoso.com"


def export(phonectl: Run, *users: str) -> list[dict[str, Any]]:
    """The users' export (JSON Lines) with ids set aside: a re-added phone gets a new one."""
    args = [a for user in users for a in ("--user", user)]
    done = phonectl("export", *args, "--format", "jsonl")
    assert done.exit_code == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return sorted((row | {"id": None} for row in rows), key=json.dumps)


def test_an_existing_backup_file_is_never_replaced_and_nothing_is_read(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,type,number\n{ME_UPN},pager,+1 2\n")
    earlier = tmp_path / "backup.csv"
    earlier.write_text("the first run's backup\n")
    done = phonectl("apply", str(rows), "--backup", str(earlier))
    assert done.exit_code == 2
    assert "exists" in done.stderr and "nothing was read or sent" in done.stderr
    assert earlier.read_text() == "the first run's backup\n"
    assert list(graph.requests) == []
    # Nor through a symlink, even a dangling one.
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "nowhere.csv")
    through = phonectl("apply", str(rows), "--backup", str(link))
    assert through.exit_code == 2
    assert "nothing was read or sent" in through.stderr
    assert not (tmp_path / "nowhere.csv").exists()
    assert list(graph.requests) == []


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_the_backup_is_never_the_input_file(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, spelling: str
) -> None:
    rows = tmp_path / "rows.csv"
    text = f"user,type,number\n{ME_UPN},pager,+1 2\n"
    rows.write_text(text)
    named = str(rows) if spelling == "same" else str(tmp_path / "." / "rows.csv")
    done = phonectl("apply", str(rows), "--backup", named)
    assert done.exit_code == 2
    assert f"--backup {named} is the input file" in done.stderr
    assert rows.read_text() == text
    assert list(graph.requests) == []


def test_the_undo_clears_what_was_empty_and_removes_what_was_added_to_a_user_with_none(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    add_users(graph, 1, phones_each=0)  # user0 has no phones
    change_phone(graph, EXAMPLE_PHONE_ID, displayName=None, allowedAudiences=None)
    before = export(phonectl, ME_UPN, "user0@contoso.com")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "user,id,type,number,displayName,allowedAudiences\n"
        f"{ME_UPN},{EXAMPLE_PHONE_ID},,,Renamed,everyone\n"
        "user0@contoso.com,,pager,+1 7,New,\n"
    )
    backup = tmp_path / "backup.csv"
    done = phonectl("apply", str(bad), "--backup", str(backup))
    assert done.exit_code == 0, done.stderr
    assert os.stat(backup).st_mode & 0o777 == 0o600
    lines = backup.read_text().splitlines()
    assert "user0@contoso.com,,,,," in lines  # the user with no phones, named alone
    assert not any(line.startswith(",") for line in lines)  # every user named
    mine = next(line for line in lines if EXAMPLE_PHONE_ID in line)
    assert mine.endswith(",','"), lines  # empty name and audience: marked, so undone
    assert export(phonectl, ME_UPN, "user0@contoso.com") != before
    undo = phonectl("apply", str(backup), "--prune", "-o", "json")
    assert undo.exit_code == 0, undo.stderr
    assert export(phonectl, ME_UPN, "user0@contoso.com") == before
    assert phones_of(graph, "user0@contoso.com") == []


def test_values_graph_holds_but_refuses_in_a_new_phone_survive_prune_and_restore(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path
) -> None:
    first, second = (p["id"] for p in phones_of(graph, ME_ID))
    change_phone(graph, first, type="unknownFutureValue", displayName="Desk\tphone\x07")
    change_phone(graph, second, displayName='=HYPERLINK("http://x")')
    before = export(phonectl, ME_UPN)
    exported = phonectl("export", "--user", ME_UPN)
    assert "'=HYPERLINK" in exported.stdout  # never a live formula in a spreadsheet
    # A file that names neither phone, with --prune: neither may go (the first could not
    # come back from the backup), and the backup restores what the run changed.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"user,type,number\n{ME_UPN},pager,+1 9\n")
    backup = tmp_path / "backup.csv"
    done = phonectl("apply", str(bad), "--prune", "--backup", str(backup), "-o", "json")
    assert done.exit_code == 0, done.stderr
    results = {r["id"]: r["result"] for r in json.loads(done.stdout)}
    assert results[second] == "deleted"
    assert first not in results or results[first] == "unchanged"
    assert any(p["id"] == first for p in phones_of(graph, ME_ID))
    assert "--prune kept 1 phone that no row wants, which a backup could not add back" in (
        done.stderr
    )  # kept, and said so
    undo = phonectl("apply", str(backup), "--prune", "-o", "json")
    assert undo.exit_code == 0, undo.stderr
    assert export(phonectl, ME_UPN) == before
    # And the export itself applies back writing nothing.
    path = tmp_path / "export.csv"
    path.write_text(phonectl("export", "--user", ME_UPN).stdout)
    graph.requests.clear()
    again = phonectl("apply", str(path), "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert {r["result"] for r in json.loads(again.stdout)} == {"unchanged"}
    assert writes(graph) == []
