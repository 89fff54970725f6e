"""What guards a real apply: --backup (the phones of the users each round is about to
change, saved before its first write) and the lock that keeps two applies over one tenant
from overlapping on this machine."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from phonectl.errors import InvalidInput, PhonectlError

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
    # The input exists too: asked first, so that its own words say what went wrong.
    if file != "-" and os.path.abspath(backup) == os.path.abspath(file):
        raise InvalidInput(f"--backup {backup} is the input file; nothing was read or sent")
    if os.path.lexists(backup):
        raise InvalidInput(
            f"the backup file {backup} exists; nothing was read or sent",
            hint="name each run's backup anew, e.g. backup-$(date +%F-%H%M%S).csv",
        )


class Backup:
    """--backup: the phones of the users the run is about to change (a user with none as a
    row of the user alone), as export writes them, every user named. Each round's rows are
    appended, as apply hears them, to a private temporary file beside the backup (0600);
    complete(), before the first write, syncs it and links it into place under its name
    (never over another file, nor through a symlink: an existing name stops the run before
    anything is written). Only a round's rows are ever in memory: the file is not kept,
    reread or rewritten. A run stopped before complete() leaves no file (close() removes the
    temporary one). `users`: how many users' phones it holds."""

    def __init__(self, path: str, client: GraphClient) -> None:
        self.path = path
        self.client = client
        self.users = 0
        self.fd: int | None = None
        self.temporary: str | None = None
        self.written = False  # complete, under its name

    def __call__(self, before: Before) -> None:
        from phonectl.apply.export import named
        from phonectl.apply.rows import format_for_output, phone_rows_text
        from phonectl.files import append_synced

        entries: list[tuple[UserRef, dict[str, Any] | None]] = []
        for key, phones in before.phones.items():
            owner = named(self.client, before.owners[key])
            entries += [(owner, phone) for phone in phones] or [(owner, None)]
        fmt = format_for_output(self.path, None)
        data = phone_rows_text(entries, fmt, header=self.fd is None).encode("utf-8")
        del entries
        try:
            if self.fd is None:
                self._open_temporary()
            assert self.fd is not None
            append_synced(self.fd, data)
        except OSError as exc:
            raise PhonectlError(
                f"could not write the backup {self.path}: {exc.strerror or exc}; "
                "nothing was written to Graph",
                hint="free space (or pick another directory for --backup) and run it again",
            ) from None
        self.users += len(before.phones)

    def _open_temporary(self) -> None:
        import os
        import tempfile
        from pathlib import Path

        from phonectl.files import ensure_private_dir

        final = Path(self.path)
        ensure_private_dir(final.parent)
        # mkstemp: created now, mode 0600, a name no other process has.
        self.fd, self.temporary = tempfile.mkstemp(
            dir=final.parent, prefix=f".{final.name}-", suffix=".partial"
        )
        os.set_inheritable(self.fd, False)

    def complete(self) -> None:
        """The backup under its name, whole and on disk (nothing was appended: no file)."""
        from pathlib import Path

        from phonectl.files import link_into_place

        if self.temporary is None:
            return
        link_into_place(Path(self.temporary), Path(self.path), "the backup file")
        self.written = True
        self.close()

    def close(self) -> None:
        import os
        from contextlib import suppress

        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)
        if self.temporary is not None:
            temporary, self.temporary = self.temporary, None
            with suppress(OSError):
                os.unlink(temporary)  # after complete(), the backup's other name


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
