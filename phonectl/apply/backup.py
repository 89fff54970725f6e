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
    first round creates the file (O_EXCL: never over another, nor through a symlink);
    every round appends its users' rows and syncs them to disk before its first write, so
    after every round the file restores everything changed so far. Only a round's rows
    are ever in memory: the file is not kept, reread or rewritten (a 1,000,000-row run
    writes it once). An append that fails is cut back off, and the error stops the run.
    `users`: how many users' phones it holds. close() when the run is over."""

    def __init__(self, path: str, client: GraphClient) -> None:
        self.path = path
        self.client = client
        self.users = 0
        self.fd: int | None = None

    def __call__(self, before: Before) -> None:
        from pathlib import Path

        from phonectl.apply.export import named
        from phonectl.apply.rows import format_for_output, phone_rows_text
        from phonectl.files import append_synced, open_new_private_file

        entries: list[tuple[UserRef, dict[str, Any] | None]] = []
        for key, phones in before.phones.items():
            owner = named(self.client, before.owners[key])
            entries += [(owner, phone) for phone in phones] or [(owner, None)]
        fmt = format_for_output(self.path, None)
        first = self.fd is None
        data = phone_rows_text(entries, fmt, header=first).encode("utf-8")
        del entries
        if self.fd is None:
            self.fd = open_new_private_file(Path(self.path), "the backup file")
        append_synced(self.fd, data)
        self.users += len(before.phones)

    def close(self) -> None:
        import os

        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


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
