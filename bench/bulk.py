"""Bulk benchmark: `phonectl apply` of 1000 rows over 100 users against `phonectl sandbox
serve`, beside the same changes made by separate `phonectl update` processes.

    python bench/bulk.py [--users 100] [--phones 10] [--loop N]

--loop runs only N of the separate processes and scales their time to all rows (say so in
what you report); by default all of them run, which takes a couple of minutes.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox_server import PHONECTL, clean_env, control, requests_seen, sandbox_server


def seed(url: str, users: int, phones: int) -> list[tuple[str, str]]:
    """Users with `phones` phones each; the (user, phone id) of every phone."""
    targets = []
    for u in range(users):
        upn = f"bench{u}@contoso.com"
        items = []
        for p in range(phones):
            phone_id = f"bench-{u}-{p}"
            items.append(
                {
                    "id": phone_id,
                    "type": "other",
                    "number": f"+1 555 {u:03}{p:02}",
                    "displayName": "before",
                    "allowedAudiences": "organization",
                }
            )
            targets.append((upn, phone_id))
        control(
            url,
            "POST",
            "users",
            {
                "id": f"00000000-0000-4000-8000-{u:012}",
                "userPrincipalName": upn,
                "displayName": f"Bench {u}",
                "phones": items,
            },
        )
    return targets


def apply_run(url: str, env: dict[str, str], csv_path: Path) -> tuple[float, int, int]:
    """Wall time, HTTP requests and write items of one `phonectl apply`."""
    control(url, "DELETE", "requests")
    started = time.perf_counter()
    done = subprocess.run(
        [PHONECTL, "apply", str(csv_path), "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"apply failed ({done.returncode}): {done.stderr}")
    seen = requests_seen(url)
    write_items = sum(1 for r in seen for item in r["body"]["requests"] if item["method"] != "GET")
    return elapsed, len(seen), write_items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--phones", type=int, default=10)
    parser.add_argument("--loop", type=int, default=0, help="separate processes to run (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        with sandbox_server(env) as url:
            env.update({"PHONECTL_GRAPH_URL": url, "PHONECTL_ACCESS_TOKEN": "bench"})
            targets = seed(url, args.users, args.phones)
            rows = len(targets)
            csv_path = Path(tmp) / "rows.csv"
            csv_path.write_text(
                "user,id,number,displayName\n"
                + "".join(
                    f"{upn},{pid},+44 20 7946 {n:04},after\n"
                    for n, (upn, pid) in enumerate(targets)
                )
            )
            first, first_requests, first_writes = apply_run(url, env, csv_path)
            second, second_requests, second_writes = apply_run(url, env, csv_path)

            loop_rows = targets if not args.loop else targets[: args.loop]
            control(url, "DELETE", "requests")
            started = time.perf_counter()
            for n, (upn, pid) in enumerate(loop_rows):
                subprocess.run(
                    [
                        PHONECTL,
                        "update",
                        pid,
                        "--user",
                        upn,
                        "--number",
                        f"+33 1 {n:04}",
                        "--display-name",
                        "loop",
                        "-o",
                        "json",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
            loop = (time.perf_counter() - started) * rows / len(loop_rows)
            loop_requests = len(requests_seen(url)) * rows // len(loop_rows)
    scaled = "" if len(loop_rows) == rows else f" (measured {len(loop_rows)}, scaled)"
    print(f"{rows} rows over {args.users} users, every row changing")
    print(
        f"apply, first run:   {first:7.2f} s  {first_requests:5} HTTP requests  "
        f"{first_writes} writes"
    )
    print(
        f"apply, second run:  {second:7.2f} s  {second_requests:5} HTTP requests  "
        f"{second_writes} writes"
    )
    print(f"{rows} x phonectl update: {loop:7.2f} s  {loop_requests:5} HTTP requests{scaled}")
    print(f"speed-up of apply over the loop: {loop / first:.0f}x")


if __name__ == "__main__":
    main()
