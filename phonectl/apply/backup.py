"""What guards a real apply: --backup (the phones of the users each round is about to
change, saved before its first write) and the lock that keeps two applies over one tenant
from overlapping on this machine."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from phonectl.errors import InvalidInput

if TYPE_CHECKING:
    from phonectl.apply.run import Before
    from phonectl.graph import GraphClient
    from phonectl.phones import UserRef
    from phonectl.settings import Settings


def check_backup_path(backup: str, file: str) -> None:
    """--backup names a new file, never an existing one (an earlier run's backup, or the
    input itself): replacing it would lose what it alone can restore."""
    import os

    if backup == "-":
        raise InvalidInput("--backup needs a file name, not -")
    if os.path.lexists(backup):
        raise InvalidInput(
            f"the backup file {backup} exists; nothing was read or sent",
            hint="name each run's backup anew, e.g. backup-$(date +%F-%H%M%S).csv",
        )
    if file != "-" and os.path.abspath(backup) == os.path.abspath(file):
        raise InvalidInput(f"--backup {backup} is the input file")


class Backup:
    """--backup: the phones of the users each round of apply is about to change (a user
    with none as a row of the user alone), as export writes them, every user named. The
    first round creates the file (never over another: it is linked into place, which fails
    if the name is taken); later rounds add theirs, each time written whole and renamed
    into place, so after every round the file restores everything changed so far, and it
    is complete on disk before the round's first write. The text so far is kept (a few MB
    at 50,000 phones), not read back. `users`: how many users' phones it holds."""

    def __init__(self, path: str, client: GraphClient) -> None:
        self.path = path
        self.client = client
        self.users = 0
        self.text = ""

    def __call__(self, before: Before) -> None:
        from pathlib import Path

        from phonectl.apply.export import named
        from phonectl.apply.rows import format_for_output, phone_rows_text
        from phonectl.files import create_new_private_file, write_private_file

        entries: list[tuple[UserRef, dict[str, Any] | None]] = []
        for key, phones in before.phones.items():
            owner = named(self.client, before.owners[key])
            entries += [(owner, phone) for phone in phones] or [(owner, None)]
        fmt = format_for_output(self.path, None)
        first = not self.text
        self.text += phone_rows_text(entries, fmt, header=first)
        if first:
            create_new_private_file(Path(self.path), self.text, "the backup file")
        else:
            write_private_file(Path(self.path), self.text, "the backup file")
        self.users += len(before.phones)


def one_apply_at_a_time(settings: Settings, file: str) -> AbstractContextManager[None]:
    """Two applies over one tenant never overlap on this machine: a cron run that overruns
    into the next one would plan against state the other is changing (duplicate phones)."""
    import hashlib

    from phonectl.files import exclusive_lock
    from phonectl.token_store import lock_dir

    target = "sandbox" if settings.sandbox else f"{settings.graph_url}|{settings.tenant}"
    name = hashlib.sha256(target.encode()).hexdigest()[:16]
    return exclusive_lock(
        lock_dir() / f"apply-{name}.lock",
        wait=settings.timeout,
        holder=f"phonectl apply {file}",
    )
