"""The floor under a bulk apply: a bare client that reads the same CSV, sends the same
$batch requests phonectl sent (as the emulator recorded them), decodes every answer and
prints a JSON line per item, and does nothing else: no checks, retries, deadline, plan,
redaction or progress. What phonectl costs above it is phonectl's own.

    python bench/floor_client.py requests|urllib3 GRAPH_URL BATCHES_JSON ROWS_CSV [IN_FLIGHT]

requests: one requests.Session, as a careful script would write it;
urllib3: one urllib3 connection pool, the transport under requests, with nothing above it.
IN_FLIGHT (1 by default): batches in flight at once, as apply's --concurrency; above 1 a
thread pool sends them (a careful script's ThreadPoolExecutor.map) and the answers are
decoded and printed in order, so the floor pays for threads what apply pays for them.
"""

import csv
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

HEADERS = {
    "Authorization": "Bearer bench",
    "Accept": "application/json",
    "Content-Type": "application/json",
}

Send = Callable[[bytes], bytes]


def requests_sender(graph_url: str) -> Send:
    import requests

    session = requests.Session()
    session.headers.update(HEADERS)

    def send(body: bytes) -> bytes:
        reply = session.post(f"{graph_url}/beta/$batch", data=body, timeout=60)
        reply.raise_for_status()
        return reply.content

    return send


def urllib3_sender(graph_url: str) -> Send:
    import urllib3

    parts = urlsplit(graph_url)
    pool = urllib3.HTTPConnectionPool(parts.hostname or "", parts.port, maxsize=8)

    def send(body: bytes) -> bytes:
        reply = pool.request("POST", "/beta/$batch", body=body, headers=HEADERS, timeout=60)
        if reply.status != 200:
            raise SystemExit(f"$batch answered {reply.status}")
        return reply.data

    return send


def answers(send: Send, batches: list[dict[str, Any]], in_flight: int) -> Iterator[Any]:
    """Each batch's decoded answer, in order, with `in_flight` batches sent at once."""

    def exchange(batch: dict[str, Any]) -> Any:
        return json.loads(send(json.dumps(batch).encode()))

    if in_flight <= 1:
        yield from map(exchange, batches)
        return
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        yield from pool.map(exchange, batches)


def main() -> None:
    kind, graph_url, batches_path, rows_path = sys.argv[1:5]
    in_flight = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    send = {"requests": requests_sender, "urllib3": urllib3_sender}[kind](graph_url)
    with open(rows_path, newline="", encoding="utf-8") as rows_file:
        rows = sum(1 for _ in csv.DictReader(rows_file))
    with open(batches_path, encoding="utf-8") as batches_file:
        batches: list[dict[str, Any]] = json.load(batches_file)
    answered = 0
    out = sys.stdout
    for answer in answers(send, batches, in_flight):
        for item in answer["responses"]:
            body = item.get("body") or {}
            out.write(json.dumps({"status": item["status"], "id": body.get("id")}) + "\n")
            answered += 1
    print(f"{rows} rows, {len(batches)} batches, {answered} answers", file=sys.stderr)


if __name__ == "__main__":
    main()
