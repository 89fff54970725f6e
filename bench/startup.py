"""Start-up and warm-call benchmark: phonectl against the floors Python allows.

    python bench/startup.py [--runs N]

Each pair is run interleaved (A, B, A, B, ...) after a warm-up, and the medians compared;
it prints ratios, not verdicts. The warm update runs against `phonectl sandbox serve`
with PHONECTL_ACCESS_TOKEN set, beside a bare requests script sending the same PATCH.
"""

from __future__ import annotations

import argparse
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


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def compare(name: str, ours: list[str], floor: list[str], env: dict[str, str], runs: int) -> None:
    timed(ours, env), timed(floor, env)  # warm-up: disk cache, .pyc files
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        a.append(timed(ours, env))
        b.append(timed(floor, env))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:<44} {ma * 1000:7.1f} ms vs {mb * 1000:7.1f} ms   ratio {ma / mb:4.2f}x")


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
            print(f"\nHTTP requests made by one warm update: {one_call}")


if __name__ == "__main__":
    main()
