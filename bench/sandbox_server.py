"""What the benchmarks share: the installed phonectl, a clean environment, and
`phonectl sandbox serve` running for the length of a `with` block."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PY = sys.executable
PHONECTL = shutil.which("phonectl", path=str(Path(PY).parent)) or "phonectl"


def clean_env(home: str) -> dict[str, str]:
    """This environment without PHONECTL_*, with config and data under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONECTL_")}
    # Measured as installed: with PYTHONDONTWRITEBYTECODE (set in some shells and CI images)
    # an editable checkout is compiled from source on every run, 35-40 ms and 350 M
    # instructions that no `pip install` pays. The warm-up run writes the bytecode.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home, "NO_COLOR": "1"})
    return env


@contextmanager
def sandbox_server(env: dict[str, str]) -> Iterator[str]:
    """`phonectl sandbox serve` in the background; its URL."""
    server = subprocess.Popen(
        [PHONECTL, "sandbox", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait()


def control(url: str, method: str, what: str, body: object = None) -> object:
    """A call to the emulator's control API (/_sandbox/...)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/_sandbox/{what}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as reply:
        content = reply.read()
    return json.loads(content) if content else None


def requests_seen(url: str) -> list[dict[str, Any]]:
    return control(url, "GET", "requests")["value"]  # type: ignore[index,no-any-return]


def bench_user(n: int, prefix: str, phones: list[dict[str, Any]]) -> dict[str, Any]:
    """User n of a benchmark's tenant (a fixed id, `{prefix}{n}@contoso.com`)."""
    return {
        "id": f"00000000-0000-4000-8000-{n:012}",
        "userPrincipalName": f"{prefix}{n}@contoso.com",
        "displayName": f"{prefix.title()} {n}",
        "phones": phones,
    }


def post_users(url: str, users: Iterable[dict[str, Any]]) -> None:
    """Add users through the control API, 500 a call (a request body stays small)."""
    chunk: list[dict[str, Any]] = []
    for user in users:
        chunk.append(user)
        if len(chunk) == 500:
            control(url, "POST", "users", chunk)
            chunk = []
    if chunk:
        control(url, "POST", "users", chunk)
