"""Bulk benchmark, in one run:

1. `phonectl apply` of 1000 rows over 100 users against `phonectl sandbox serve`, beside the
   same changes made by separate `phonectl update` processes;
2. the same apply with Graph's latency modelled (0.3 s per $batch request, the emulator's
   delay fault): one batch at a time vs --concurrency 4, beside the ideal (rounds x 0.3 s);
3. 50,000 rows over 5,000 users (--scale-users x --phones) against `phonectl sandbox serve`:
   phonectl's CPU time and peak RSS, wall vs CPU, json vs table output time, the floor
   (bench/floor_client.py: bare requests and urllib3 clients sending the same requests and
   decoding the same answers), and the emulator's own time per write $batch beside the same
   at 1,000 rows.

4. a dry run of 1,000,000 rows (--dry-run-rows) over 10,000 users, 100 rows each (ten types,
   each added then changed again): phonectl's peak RSS and CPU time.
5. with --per-row 10000,50000,200000 (alone: --only-per-row): apply's CPU per row at each
   size (--phones rows a user, every row changing), beside the bare requests client's.

    python bench/bulk.py [--users 100] [--phones 10] [--loop N] [--scale-users 5000]
                         [--dry-run-rows 1000000] [--only-dry-run]
                         [--per-row 10000,50000,200000] [--only-per-row]

--loop runs only N of the separate processes and scales their time to all rows (say so in
what you report); by default all of them run, which takes a couple of minutes.
--scale-users 0 skips part 3, --dry-run-rows 0 part 4.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from record import recorded
from sandbox_server import (
    PHONECTL,
    bench_user,
    clean_env,
    control,
    post_users,
    requests_seen,
    sandbox_server,
)

from phonectl.commands.apply import DEFAULT_CONCURRENCY
from phonectl.phones import PhoneType


def seed(url: str, users: int, phones: int) -> list[tuple[str, str]]:
    """Users with `phones` phones each; the (user, phone id) of every phone."""
    targets = [
        (f"bench{u}@contoso.com", f"bench-{u}-{p}") for u in range(users) for p in range(phones)
    ]
    post_users(
        url,
        (
            bench_user(
                u,
                "bench",
                [
                    {
                        "id": f"bench-{u}-{p}",
                        "type": "other",
                        "number": f"+1 555 {u:03}{p:02}",
                        "displayName": "before",
                        "allowedAudiences": "organization",
                    }
                    for p in range(phones)
                ],
            )
            for u in range(users)
        ),
    )
    return targets


DELAY_PER_BATCH = 0.3


def write_rows(path: Path, targets: list[tuple[str, str]], value: str) -> None:
    """Rows that set every target's number and displayName (to `value`)."""
    path.write_text(
        "user,id,number,displayName\n"
        + "".join(
            f"{upn},{pid},+44 20 7946 {n:04},{value}\n" for n, (upn, pid) in enumerate(targets)
        )
    )


def apply_run(url: str, env: dict[str, str], csv_path: Path, *extra: str) -> tuple[float, int, int]:
    """Wall time, HTTP requests and write items of one `phonectl apply`."""
    control(url, "DELETE", "requests")
    started = time.perf_counter()
    done = subprocess.run(
        [PHONECTL, "apply", str(csv_path), "-o", "json", *extra],
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


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--phones", type=int, default=10)
    parser.add_argument("--loop", type=int, default=0, help="separate processes to run (0: all)")
    parser.add_argument("--scale-users", type=int, default=5000, help="0: skip the 50,000 rows")
    parser.add_argument("--dry-run-rows", type=int, default=1_000_000, help="0: skip part 4")
    parser.add_argument("--only-dry-run", action="store_true", help="run part 4 alone")
    parser.add_argument("--per-row", default="", help="row counts for part 5, e.g. 10000,50000")
    parser.add_argument("--only-per-row", action="store_true", help="run part 5 alone")
    parser.add_argument("--record", metavar="NAME", help="also keep the output, bench/results")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    command = "python bench/bulk.py " + " ".join(sys.argv[1:])
    with recorded(args.record or "bulk", bool(args.record), command):
        run(args)


def run(args: argparse.Namespace) -> None:
    sizes = [int(n) for n in args.per_row.split(",") if n]
    if args.only_dry_run:
        dry_run_memory(args.dry_run_rows)
        return
    if args.only_per_row:
        per_row(sizes, args.phones)
        return
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

            fault = {"status": None, "delay": DELAY_PER_BATCH, "path_contains": "$batch"}
            control(url, "POST", "faults", {**fault, "count": 1_000_000})
            write_rows(csv_path, targets, "one")
            one_at_a_time, _, _ = apply_run(url, env, csv_path, "--concurrency", "1")
            write_rows(csv_path, targets, "four")
            four, four_requests, _ = apply_run(url, env, csv_path, "--concurrency", "4")
            control(url, "DELETE", "faults")
            rounds = math.ceil(math.ceil(args.users / 20) / 4) + math.ceil(math.ceil(rows / 20) / 4)
            ideal = rounds * DELAY_PER_BATCH
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
    print()
    print(f"with {DELAY_PER_BATCH} s per $batch request ({four_requests} requests):")
    print(f"apply --concurrency 1: {one_at_a_time:7.2f} s")
    print(
        f"apply --concurrency 4: {four:7.2f} s   ideal {ideal:.2f} s ({rounds} rounds)  "
        f"ratio {four / ideal:.2f}x"
    )
    if args.scale_users:
        scale(args.scale_users, args.phones)
    if args.dry_run_rows:
        dry_run_memory(args.dry_run_rows)
    if sizes:
        per_row(sizes, args.phones)


def per_row(sizes: list[int], phones: int) -> None:
    """apply's CPU per row (start-up included) at each size, every row changing, beside
    the bare requests client sending the same requests: flat if nothing grows with the
    file."""
    print()
    print(f"apply -o json, every row changing, {phones} rows a user: CPU per row")
    for rows in sizes:
        users = max(rows // phones, 1)
        measured, floors, _ = sandbox_apply(users, phones, ["json"], export=False)
        cpu = measured["json"].cpu
        floor, same_in_flight = floors[FLOORS[0]], floors[FLOORS[1]]
        print(
            f"{users * phones:8} rows: phonectl {cpu:6.2f} s CPU, "
            f"{1e6 * cpu / (users * phones):5.1f} us a row; bare requests client "
            f"{floor:6.2f} s, {1e6 * floor / (users * phones):5.1f} us a row; "
            f"{cpu / floor:.2f}x; at {APPLY_IN_FLIGHT} in flight {same_in_flight:6.2f} s, "
            f"{cpu / same_in_flight:.2f}x  peak RSS {measured['json'].peak_rss_mb:.0f} MB"
        )


ROWS_PER_USER = 100
TEN_TYPES = [t.value for t in PhoneType]  # Graph's ten phone types


def dry_run_memory(rows: int) -> None:
    """`apply --dry-run` of `rows` rows over rows/100 users who have no phones yet: each
    user's first row of a type plans an add, the next rows of that type change it again.
    What it costs in memory is the rows and their results, read, planned and reported."""
    users = max(rows // ROWS_PER_USER, 1)
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        with sandbox_server(env) as url:
            env.update({"PHONECTL_GRAPH_URL": url, "PHONECTL_ACCESS_TOKEN": "bench"})
            for start in range(0, users, 500):
                chunk = [
                    {
                        "id": f"00000000-0000-4000-8000-{u:012}",
                        "userPrincipalName": f"dry{u}@contoso.com",
                        "displayName": f"Dry {u}",
                        "phones": [],
                    }
                    for u in range(start, min(start + 500, users))
                ]
                control(url, "POST", "users", chunk)
            csv_path = Path(tmp) / "million.csv"
            with csv_path.open("w") as out:
                out.write("user,type,number,displayName\n")
                for n in range(rows):
                    user, r = divmod(n, ROWS_PER_USER)
                    out.write(f"dry{user}@contoso.com,{TEN_TYPES[r % 10]},+1 555 {n:07},row {r}\n")
            started = time.perf_counter()
            measured = measured_run(
                [PHONECTL, "apply", str(csv_path), "--dry-run", "-o", "json"],
                env,
                csv_path.with_suffix(".measured.json"),
            )
            wall = time.perf_counter() - started
    print()
    print(
        f"apply --dry-run of {rows} rows over {users} users: peak RSS "
        f"{measured['rss_kb'] / 1024:.0f} MB ({measured['rss_kb'] * 1024 / rows:.0f} bytes a "
        f"row), {measured['cpu']:.1f} s CPU, {wall:.1f} s wall"
    )


@dataclass
class Measured:
    wall: float
    cpu: float  # phonectl's own, user + system
    peak_rss_mb: float  # phonectl's own
    requests: int
    batch_ms: float  # the emulator's time answering one write $batch, mean


# Runs a command and reports its own CPU time and peak RSS. A small process in between:
# a child forked straight from this benchmark (which holds every recorded request) would
# count this process's memory as its own peak RSS (Linux carries it over through exec).
MEASURE = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
errors = child.stderr.read().decode(errors="replace")
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"code": os.waitstatus_to_exitcode(status), "errors": errors[-2000:],
               "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss}, out)
"""


def measured_run(cmd: list[str], env: dict[str, str], report: Path) -> dict[str, Any]:
    """Runs cmd through MEASURE: its exit code, CPU time and peak RSS, and its stderr's end."""
    subprocess.run([sys.executable, "-c", MEASURE, str(report), *cmd], env=env, check=True)
    measured: dict[str, Any] = json.loads(report.read_text())
    if measured["code"] != 0:
        sys.exit(f"{cmd[:2]} failed ({measured['code']}): {measured['errors']}")
    return measured


def measured_apply(url: str, env: dict[str, str], csv_path: Path, fmt: str) -> Measured:
    """One `phonectl apply -o fmt`, with the CPU and peak RSS of that process alone."""
    control(url, "DELETE", "requests")
    started = time.perf_counter()
    measured = measured_run(
        [PHONECTL, "apply", str(csv_path), "-o", fmt], env, csv_path.with_suffix(".measured.json")
    )
    wall = time.perf_counter() - started
    seen = requests_seen(url)
    writes = [
        r["seconds"] for r in seen if any(item["method"] != "GET" for item in r["body"]["requests"])
    ]
    return Measured(
        wall=wall,
        cpu=measured["cpu"],
        peak_rss_mb=measured["rss_kb"] / 1024,
        requests=len(seen),
        batch_ms=1000 * sum(writes) / len(writes),
    )


def floor_cpu(
    url: str, env: dict[str, str], csv_path: Path, batches: Path, floor: tuple[str, int]
) -> float:
    """CPU time of bench/floor_client.py (a bare client of `floor`'s kind, that many batches
    in flight) sending `batches` (the $batch requests an apply sent, in its order): what the
    HTTP and JSON work alone costs."""
    kind, in_flight = floor
    client = str(Path(__file__).with_name("floor_client.py"))
    cmd = [sys.executable, client, kind, url, str(batches), str(csv_path), str(in_flight)]
    return float(measured_run(cmd, env, csv_path.with_suffix(".floor.json"))["cpu"])


# The bare clients: requests one batch at a time (the floor #22's figure is set against),
# requests with apply's default --concurrency in flight (the same work as apply's, threads
# included), and urllib3 one at a time (the transport under requests).
APPLY_IN_FLIGHT = DEFAULT_CONCURRENCY
FLOORS = (("requests", 1), ("requests", APPLY_IN_FLIGHT), ("urllib3", 1))


def floor_name(floor: tuple[str, int]) -> str:
    return f"bare {floor[0]} client, {floor[1]} in flight"


def sandbox_apply(
    users: int, phones: int, formats: list[str], *, export: bool = True
) -> tuple[dict[str, Measured], dict[tuple[str, int], float], tuple[float, int, int]]:
    """A fresh `phonectl sandbox serve` holding users x phones; an apply changing every row
    in each format (after the json one, the floors: bare clients sending its requests);
    then `export --all-users` (wall time, HTTP requests, phones written)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        with sandbox_server(env) as url:
            env.update({"PHONECTL_GRAPH_URL": url, "PHONECTL_ACCESS_TOKEN": "bench"})
            targets = seed(url, users, phones)
            results = {}
            floors: dict[tuple[str, int], float] = {}
            for fmt in formats:
                csv_path = Path(tmp) / f"scale-{fmt}.csv"
                write_rows(csv_path, targets, fmt)
                results[fmt] = measured_apply(url, env, csv_path, fmt)
                if fmt == "json":  # the requests it sent, before the floors send them again
                    batches = csv_path.with_suffix(".batches.json")
                    batches.write_text(json.dumps([r["body"] for r in requests_seen(url)]))
                    floors = {f: floor_cpu(url, env, csv_path, batches, f) for f in FLOORS}
            if not export:
                return results, floors, (0.0, 0, 0)
            control(url, "DELETE", "requests")
            started = time.perf_counter()
            out = Path(tmp) / "export.csv"
            subprocess.run(
                [PHONECTL, "export", "--all-users", "--out", str(out)],
                env=env,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            exported = (
                time.perf_counter() - started,
                len(requests_seen(url)),
                len(out.read_text().splitlines()) - 1,
            )
    return results, floors, exported


def scale(users: int, phones: int) -> None:
    """apply of users x phones rows, every row changing, against `phonectl sandbox serve`,
    beside the same at 100 x 10 (the emulator's cost per write batch should not grow)."""
    small = sandbox_apply(100, phones, ["json"])[0]["json"]
    big, floors, (export_wall, export_requests, exported) = sandbox_apply(
        users, phones, ["json", "table"]
    )
    rows = users * phones
    print()
    print(f"{rows} rows over {users} users, every row changing, against sandbox serve:")
    for fmt, m in big.items():
        print(
            f"apply -o {fmt:5}: {m.wall:6.2f} s wall  {m.cpu:5.2f} s phonectl CPU  "
            f"wall/CPU {m.wall / m.cpu:.2f}x  {m.requests} HTTP requests  "
            f"peak RSS {m.peak_rss_mb:.0f} MB"
        )
    print(f"table vs json: {big['table'].wall / big['json'].wall:.2f}x")
    for floor, cpu in floors.items():
        print(
            f"floor, a {floor_name(floor)}, sending the same requests: {cpu:5.2f} s CPU; "
            f"phonectl (json) {big['json'].cpu / cpu:.2f}x"
        )
    all_users = users + 2  # the sandbox's own two
    budget = math.ceil(all_users / 20) + math.ceil(all_users / 100)
    print(
        f"export --all-users: {export_wall:.2f} s, {exported} phones of {all_users} users in "
        f"{export_requests} HTTP requests (users/20 + pages of 100 users: {budget})"
    )
    print(
        f"emulator per write $batch: {small.batch_ms:.2f} ms at {100 * phones} phones, "
        f"{big['json'].batch_ms:.2f} ms at {rows}: "
        f"{big['json'].batch_ms / small.batch_ms:.2f}x"
    )


if __name__ == "__main__":
    main()
