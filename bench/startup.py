"""Start-up and warm-call benchmark: phonectl against the floors Python allows.

    python bench/startup.py [--runs N]

Each pair is run interleaved (A, B, A, B, ...) after a warm-up, and the medians compared;
it prints ratios, not verdicts. The warm update runs against `phonectl sandbox serve`
with PHONECTL_ACCESS_TOKEN set, beside a bare requests script sending the same PATCH, and
that script beside merely importing requests and typer (the floor of any Typer command
that sends a request).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from sandbox_server import PHONECTL, PY, clean_env, requests_seen, sandbox_server

PHONE = "0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f"
BARE_PATCH = """
import sys, requests
r = requests.patch(sys.argv[1], json={"type": "mobile"},
                   headers={"Authorization": "Bearer bench"}, timeout=30)
r.raise_for_status()
print(r.text)
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and the process's own CPU time (user + system)."""
    started = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{cmd} failed ({process.returncode})")
    return wall, usage.ru_utime + usage.ru_stime


def compare(name: str, ours: list[str], floor: list[str], env: dict[str, str], runs: int) -> None:
    """Medians of interleaved runs: wall time, and CPU time, which a busy machine disturbs
    less (the wall ratio moved by 0.1 between runs on the 2-core CI machine)."""
    timed(ours, env), timed(floor, env)  # warm-up: disk cache, .pyc files
    a: list[tuple[float, float]] = []
    b: list[tuple[float, float]] = []
    for _ in range(runs):
        a.append(timed(ours, env))
        b.append(timed(floor, env))
    wa, wb = (statistics.median(w for w, _ in x) for x in (a, b))
    ca, cb = (statistics.median(c for _, c in x) for x in (a, b))
    print(
        f"{name:<52} {wa * 1000:6.1f} vs {wb * 1000:6.1f} ms wall  {wa / wb:4.2f}x   "
        f"CPU {ca * 1000:6.1f} vs {cb * 1000:6.1f} ms  {ca / cb:4.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        print(f"python {sys.version.split()[0]}, {runs} runs each, medians\n")
        compare(
            "phonectl --version  vs  python -c pass",
            [PHONECTL, "--version"],
            [PY, "-c", "pass"],
            env,
            runs,
        )
        compare(
            "phonectl --help  vs  python -c 'import typer'",
            [PHONECTL, "--help"],
            [PY, "-c", "import typer"],
            env,
            runs,
        )
        completion_env = {
            **env,
            "_PHONECTL_COMPLETE": "bash_complete",
            "COMP_WORDS": "phonectl update x --type m",
            "COMP_CWORD": "4",
        }
        compare(
            "completion (--type m)  vs  python -c 'import typer'",
            [PHONECTL],
            [PY, "-c", "import typer"],
            completion_env,
            runs,
        )

        with sandbox_server(env) as url:
            update_env = {**env, "PHONECTL_GRAPH_URL": url, "PHONECTL_ACCESS_TOKEN": "bench"}
            before = len(requests_seen(url))
            subprocess.run(
                [PHONECTL, "update", PHONE, "--type", "mobile", "-o", "json"],
                env=update_env,
                stdout=subprocess.DEVNULL,
                check=True,
            )
            one_call = len(requests_seen(url)) - before
            for output in ("json", "table"):
                compare(
                    f"warm update -o {output:5}  vs  bare requests PATCH",
                    [PHONECTL, "update", PHONE, "--type", "mobile", "-o", output],
                    [PY, "-c", BARE_PATCH, f"{url}/beta/me/profile/phones/{PHONE}"],
                    update_env,
                    runs,
                )
            # The floor of any phonectl command that calls Graph: Typer parses (the design)
            # and requests sends; importing the two, with no call at all, against the script.
            compare(
                "python -c 'import requests, typer'  vs  bare requests PATCH",
                [PY, "-c", "import requests, typer"],
                [PY, "-c", BARE_PATCH, f"{url}/beta/me/profile/phones/{PHONE}"],
                update_env,
                runs,
            )
            print(f"\nHTTP requests made by one warm update: {one_call}")


if __name__ == "__main__":
    main()
