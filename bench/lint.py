"""Lint benchmark, in one run:

1. `phonectl lint --all-users --fixes F` over 50,000 phones of 5,000 users (--users x
   --phones) against `phonectl sandbox serve`, numbers of 15 regions spelled four ways
   (E.164, international with spaces, a leading 00, an extension): phonectl's CPU time,
   peak RSS and HTTP requests, beside `phonectl export --all-users` of the same phones (the
   same reading through $batch: what lint adds is the judging);
2. in this process, over the same 50,000 numbers: phonectl's cost per number
   (phonectl.numbers.check, its cache emptied first; then lint's whole judgement,
   phonectl.lint.find_problems) beside phonenumbers' own cost alone (parse, possible?,
   valid?, format: the floor), as ratios.

    python bench/lint.py [--users 5000] [--phones 10]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bulk import MEASURE
from sandbox_server import (
    PHONECTL,
    bench_user,
    clean_env,
    control,
    post_users,
    requests_seen,
    sandbox_server,
)

# One number a region: the part before {x} is fixed, {x} four digits. 15 regions.
TEMPLATES = (
    "+1 425 707 {x}",
    "+44 20 7946 {x}",
    "+49 30 1234{x}",
    "+33 1 23 45 {x}",
    "+91 98765 4{x}",
    "+81 3 1234 {x}",
    "+55 11 91234 {x}",
    "+61 2 9374 {x}",
    "+7 499 342 {x}",
    "+86 10 1234 {x}",
    "+27 21 123 {x}",
    "+52 55 1234 {x}",
    "+34 912 34 {x}",
    "+39 06 1234 {x}",
    "+31 20 123 {x}",
)


def spelled(n: int) -> str:
    """The n-th number: region n % 15, spelled one of four ways by n // 15 % 4."""
    text = TEMPLATES[n % len(TEMPLATES)].format(x=f"{n // len(TEMPLATES) % 10000:04}")
    style = n // len(TEMPLATES) % 4
    if style == 0:
        return "+" + "".join(c for c in text if c.isdigit())
    if style == 2:
        return "00" + text[1:]
    if style == 3:
        return f"{text} x{n % 100}"
    return text


def seed(url: str, users: int, phones: int) -> list[str]:
    """users x phones phones; every number, in order."""
    numbers = [spelled(n) for n in range(users * phones)]
    post_users(
        url,
        (
            bench_user(
                u,
                "lint",
                [
                    {"id": f"lint-{u}-{p}", "type": "other", "number": numbers[u * phones + p]}
                    for p in range(phones)
                ],
            )
            for u in range(users)
        ),
    )
    return numbers


def measured(cmd: list[str], env: dict[str, str], report: Path) -> dict[str, Any]:
    """cmd's exit code, CPU time and peak RSS (bench/bulk.py's MEASURE); 0 and 1 are fine
    (lint exits 1 with findings)."""
    subprocess.run([sys.executable, "-c", MEASURE, str(report), *cmd], env=env, check=True)
    found: dict[str, Any] = json.loads(report.read_text())
    if found["code"] not in (0, 1):
        sys.exit(f"{cmd[:2]} failed ({found['code']}): {found['errors']}")
    return found


def per_number_costs(numbers: list[str]) -> tuple[float, float, float]:
    """Microseconds a number: phonenumbers alone, phonectl.numbers.check, lint's judgement."""
    import phonenumbers

    from phonectl.lint import Held, find_problems
    from phonectl.numbers import NumberRules, check
    from phonectl.phones import UserRef

    # The floor: the library's own work on the same numbers, each given with its + (the
    # work phonectl adds for a leading 00 is in phonectl's time, not here).
    plus = ["+" + n[2:] if n.startswith("00") else n for n in numbers]
    e164 = phonenumbers.PhoneNumberFormat.E164

    def library_alone() -> float:
        started = time.process_time()
        for text in plus:
            number = phonenumbers.parse(text, None)
            phonenumbers.is_possible_number_with_reason(number)
            phonenumbers.is_valid_number(number)
            phonenumbers.format_number(number, e164)
        return time.process_time() - started

    library_alone()  # once untimed: each region's metadata loads on first use
    floor = library_alone()

    rules = NumberRules()
    check.cache_clear()
    started = time.process_time()
    for text in numbers:
        check(text, rules)
    checked = time.process_time() - started

    held = [Held(UserRef(f"u{n // 10}"), str(n), text, {}) for n, text in enumerate(numbers)]
    check.cache_clear()
    started = time.process_time()
    find_problems(held, rules)
    judged = time.process_time() - started
    scale = 1e6 / len(numbers)
    return floor * scale, checked * scale, judged * scale


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--phones", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        with sandbox_server(env) as url:
            env.update({"PHONECTL_GRAPH_URL": url, "PHONECTL_ACCESS_TOKEN": "bench"})
            numbers = seed(url, args.users, args.phones)
            control(url, "DELETE", "requests")
            fixes = Path(tmp) / "fixes.csv"
            cmd = [PHONECTL, "lint", "--all-users", "-o", "json", "--fixes", str(fixes)]
            started = time.perf_counter()
            lint = measured(cmd, env, Path(tmp) / "lint.json")
            lint_wall = time.perf_counter() - started
            lint_requests = len(requests_seen(url))
            fixed = len(fixes.read_text().splitlines()) - 1
            control(url, "DELETE", "requests")
            out = Path(tmp) / "export.csv"
            cmd = [PHONECTL, "export", "--all-users", "--out", str(out)]
            export = measured(cmd, env, Path(tmp) / "export.json")
            export_requests = len(requests_seen(url))
    floor, checked, judged = per_number_costs(numbers)
    phones = len(numbers)
    print(f"lint of {phones} phones over {args.users} users against sandbox serve:")
    print(
        f"lint --all-users: {lint_wall:6.2f} s wall  {lint['cpu']:5.2f} s CPU  "
        f"peak RSS {lint['rss_kb'] / 1024:.0f} MB  {lint_requests} HTTP requests  "
        f"{fixed} fixes written"
    )
    print(
        f"export --all-users (the same reading): {export['cpu']:5.2f} s CPU  "
        f"peak RSS {export['rss_kb'] / 1024:.0f} MB  {export_requests} HTTP requests; "
        f"lint/export CPU {lint['cpu'] / export['cpu']:.2f}x"
    )
    print(f"per number, over the same {phones} numbers, in one process:")
    print(f"  phonenumbers alone (parse, possible, valid, format): {floor:6.1f} us  (floor)")
    print(f"  phonectl.numbers.check:                              {checked:6.1f} us  "
          f"{checked / floor:.2f}x")  # fmt: skip
    print(f"  lint's whole judgement (find_problems):              {judged:6.1f} us  "
          f"{judged / floor:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
