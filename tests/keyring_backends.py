"""Keyring backends for tests, selected with PYTHON_KEYRING_BACKEND=keyring_backends.<Name>.
Both keep their data in keyrings.alt's plain file under $XDG_DATA_HOME (a temp dir)."""

from __future__ import annotations

import time

from keyring.errors import PasswordSetError
from keyrings.alt.file import PlaintextKeyring

# Windows Credential Manager: 2560 bytes of UTF-16.
WINDOWS_LIMIT_CHARS = 1280


class CappedKeyring(PlaintextKeyring):
    """Refuses values longer than Windows Credential Manager keeps."""

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password) > WINDOWS_LIMIT_CHARS:
            raise PasswordSetError(f"value of {len(password)} characters is over the limit")
        super().set_password(service, username, password)


class HangingKeyring(PlaintextKeyring):
    """A keyring that never answers, like a locked D-Bus secret service."""

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(60)
        return None


class ReadOnlyKeyring(PlaintextKeyring):
    """Reads the same file as PlaintextKeyring but refuses every write (a locked keyring)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("the keyring is read-only")
