"""Bulk sync, the HTTP part: read every user's phones and send the planned writes, all
through Graph's $batch."""

from collections.abc import Callable, Sequence
from typing import Any

from phonectl.bulk import Outcome, Row, RowResult, error_text, plan
from phonectl.errors import PhonectlError
from phonectl.graph import BatchRequest, GraphClient, collection_page
from phonectl.phones import phones_path


def apply_rows(
    client: GraphClient,
    rows: Sequence[Row],
    *,
    dry_run: bool,
    on_settled: Callable[[int], None] = lambda rows: None,
) -> tuple[list[RowResult], int]:
    """Bring Graph in line with the rows; each row's result, and how many writes were sent.

    `on_settled(n)` says that n more rows are done: those needing no write once the plan is
    made, then each write as Graph answers it (a progress bar counts rows with it)."""
    users = {row.user_key: row.user for row in reversed(rows)}  # first spelling wins
    phones = read_phones(client, users)
    results, writes = plan(rows, phones, dry_run=dry_run)
    if dry_run or not writes:
        on_settled(len(rows))
        return results, 0
    on_settled(len(rows) - len(writes))
    requests = [
        BatchRequest(
            "PATCH" if write.phone_id else "POST",
            phones_path(write.row.user, write.phone_id),
            write.body,
        )
        for _, write in writes
    ]
    outcomes = client.send_batch(requests, on_done=on_settled)
    for (index, _), outcome in zip(writes, outcomes, strict=True):
        result = results[index]
        if outcome.error is not None:
            result.outcome, result.changed = Outcome.failed, ()
            result.error = error_text(outcome.error)
        elif result.outcome is Outcome.added and isinstance(outcome.body, dict):
            result.phone_id = outcome.body.get("id")
    return results, len(requests)


def read_phones(
    client: GraphClient, users: dict[str, str | None]
) -> dict[str, list[dict[str, Any]] | PhonectlError]:
    """Every phone of every user (all pages), or the error reading them ended in."""
    phones: dict[str, list[dict[str, Any]]] = {key: [] for key in users}
    errors: dict[str, PhonectlError] = {}
    pending = [(key, BatchRequest("GET", phones_path(user))) for key, user in users.items()]
    seen_links: set[str] = set()
    while pending:
        results = client.send_batch([request for _, request in pending])
        next_pages = []
        for (key, request), result in zip(pending, results, strict=True):
            if result.error is not None:
                errors[key] = result.error
                continue
            try:
                items, next_link = collection_page(result.body, request.url)
            except PhonectlError as exc:
                errors[key] = exc
                continue
            phones[key].extend(items)
            if next_link:
                try:
                    client.check_next_link(next_link, seen_links)
                except PhonectlError as exc:
                    errors[key] = exc
                    continue
                next_pages.append((key, BatchRequest("GET", client.relative_url(next_link))))
        pending = next_pages
    return {key: errors.get(key, phones[key]) for key in users}
