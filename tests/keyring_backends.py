"""Keyring backends for tests, selected with PYTHON_KEYRING_BACKEND=keyring_backends.<Name>.
All keep their data in keyrings.alt's plain file under $XDG_DATA_HOME (a temp dir)."""

from __future__ import annotations

import time
from typing import Any

from jaraco.classes.properties import classproperty
from keyring.errors import KeyringLocked, PasswordSetError
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


# -- backends that misbehave as real ones do (tests/test_keyring_failures.py) ----------------


class DBusErrorKeyring(PlaintextKeyring):
    """Every call raises RuntimeError, as SecretService does when D-Bus goes away."""

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown: no secret service")

    set_password = delete_password = get_password


class MissingFileKeyring(PlaintextKeyring):
    """Every call raises a bare OSError, as a backend whose socket or file is gone."""

    def get_password(self, service: str, username: str) -> str | None:
        raise FileNotFoundError(2, "No such file or directory")

    set_password = delete_password = get_password


class LockedKeyring(PlaintextKeyring):
    """A locked keyring that the user declined to unlock (keyring's own error)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    set_password = delete_password = get_password


class OddErrorKeyring(PlaintextKeyring):
    """Raises an exception type no one expects, with no message."""

    def get_password(self, service: str, username: str) -> str | None:
        raise LookupError

    set_password = delete_password = get_password


class BytesKeyring(PlaintextKeyring):
    """Answers bytes instead of text (a backend decoding nothing)."""

    def get_password(self, service: str, username: str) -> Any:
        value = super().get_password(service, username)
        return None if value is None else value.encode()


class WrongTypeKeyring(PlaintextKeyring):
    """Answers an object that is not text at all."""

    def get_password(self, service: str, username: str) -> Any:
        return {"password": super().get_password(service, username)}


class UnavailableKeyring(PlaintextKeyring):
    """Chosen with PYTHON_KEYRING_BACKEND but not usable here (keyring asks `priority`)."""

    @classproperty
    def priority(cls) -> float:
        raise RuntimeError("this backend needs a desktop session")


class SlowKeyring(PlaintextKeyring):
    """Answers every call, each a little late: many calls must share one deadline."""

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(0.2)
        value: str | None = super().get_password(service, username)
        return value


class SaveFailsKeyring(PlaintextKeyring):
    """Reads the cache; every write raises RuntimeError (a D-Bus error while saving)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("org.freedesktop.DBus.Error.NoReply: did not receive a reply")


class FailsMidWriteKeyring(PlaintextKeyring):
    """Stores one value of a write, then fails (a keyring that locks part way)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        if getattr(self, "_wrote", False):
            raise OSError(28, "No space left on device")
        self._wrote = True
        super().set_password(service, username, password)


class LocksMidRunKeyring(PlaintextKeyring):
    """Answers the first look at the cache, then fails (a keyring locked while a run goes on)."""

    def get_password(self, service: str, username: str) -> str | None:
        if username == "token-cache":
            self.header_reads = getattr(self, "header_reads", 0) + 1
            if self.header_reads > 1:
                raise RuntimeError("org.freedesktop.DBus.Error.NoReply: the collection is locked")
        value: str | None = super().get_password(service, username)
        return value
