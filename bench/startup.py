"""Start-up and warm-call benchmark: phonectl against the floors Python allows.

    python bench/startup.py [--runs N]

Each pair is run interleaved (A, B, A, B, ...) after a warm-up, and the medians compared;
it prints ratios, not verdicts. The warm update runs against `phonectl sandbox serve`
with PHONECTL_ACCESS_TOKEN set, beside a bare requests script sending the same PATCH; then
what importing Typer costs on top of requests, as a share of that script's time (what any
Typer command that sends a request pays before it does anything).

    python bench/startup.py --instructions [--record]

also counts, with valgrind, the instructions the warm update and its floors execute: a
measure the machine's noise does not move (times here moved by 20% between runs).
--record keeps the output in bench/results/startup.txt, which docs/performance.md quotes.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from record import recorded
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


def compare(
    name: str, ours: list[str], floor: list[str], env: dict[str, str], runs: int
) -> tuple[float, float]:
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
    return ca, cb


def instructions(cmd: list[str], env: dict[str, str]) -> int:
    """Instructions one run executes, counted by valgrind (callgrind): unlike time, the same
    from run to run on a noisy machine (hash seed fixed)."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        env={**env, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        sys.exit(f"no instruction count from valgrind: {done.stderr[-500:]}")
    return int(match.group(1))


def count_instructions(url: str, update_env: dict[str, str], env: dict[str, str]) -> None:
    """The warm update and the floors in instructions, as ratios to the bare script."""
    bare = [PY, "-c", BARE_PATCH, f"{url}/beta/me/profile/phones/{PHONE}"]
    counted = {
        "bare requests PATCH": instructions(bare, update_env),
        "python -c 'import requests'": instructions([PY, "-c", "import requests"], env),
        "python -c 'import requests, typer'": instructions(
            [PY, "-c", "import requests, typer"], env
        ),
    }
    for output in ("json", "table"):
        update = [PY, PHONECTL, "update", PHONE, "--type", "mobile", "-o", output]
        counted[f"warm update -o {output}"] = instructions(update, update_env)
    base = counted["bare requests PATCH"]
    print("\ninstructions (valgrind callgrind), ratio to the bare requests script:")
    for name, count in counted.items():
        print(f"{name:<52} {count / 1e6:8.1f} M  {count / base:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the warm update's instructions and its floors' with valgrind",
    )
    parser.add_argument(
        "--record", action="store_true", help="also keep the output in bench/results"
    )
    args = parser.parse_args()
    runs = args.runs
    command = "python bench/startup.py " + " ".join(sys.argv[1:])
    with recorded("startup", args.record, command), tempfile.TemporaryDirectory() as tmp:
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
            bare_cpu = []
            for output in ("json", "table"):
                bare_cpu.append(
                    compare(
                        f"warm update -o {output:5}  vs  bare requests PATCH",
                        [PHONECTL, "update", PHONE, "--type", "mobile", "-o", output],
                        [PY, "-c", BARE_PATCH, f"{url}/beta/me/profile/phones/{PHONE}"],
                        update_env,
                        runs,
                    )[1]
                )
            # What Typer (the design's parser) costs on top of requests: a pair that does
            # no HTTP, so neither side runs after a request the emulator is still finishing.
            with_typer, without = compare(
                "python -c 'import requests, typer'  vs  'import requests'",
                [PY, "-c", "import requests, typer"],
                [PY, "-c", "import requests"],
                env,
                runs,
            )
            typer_ms = (with_typer - without) * 1000
            bare_ms = statistics.median(bare_cpu) * 1000
            print(
                f"Typer's import on top of requests: {typer_ms:.1f} ms CPU, "
                f"{typer_ms / bare_ms:.2f}x of the bare script's {bare_ms:.1f} ms"
            )
            print(f"\nHTTP requests made by one warm update: {one_call}")
            if args.instructions:
                count_instructions(url, update_env, env)


if __name__ == "__main__":
    main()
