"""The phone commands: list, get, add, update, set, delete."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from phonectl import render
from phonectl.commands.options import (
    ClearOption,
    DryRunOption,
    NormalizeOption,
    OutputOption,
    PhoneIdArgument,
    RegionOption,
    UserOption,
    YesOption,
    number_rules,
    runtime,
    with_field_options,
)
from phonectl.errors import InvalidInput, PhonectlError
from phonectl.phones import UserRef, build_body, field_flags, phones_path

# What a command decorated with_field_options gets: each writable field's flag value.
Fields = dict[str, Any]

if TYPE_CHECKING:
    from phonectl.runtime import Runtime


def list_phones(
    ctx: typer.Context, user: UserOption = None, output: OutputOption = None
) -> render.Shown:
    """List every phone of a user's profile (all pages).

    Examples:

    \b
      phonectl list
      phonectl list --user adelev@contoso.com -o tsv
      # only the mobile numbers, for a script
      phonectl list -u adele@contoso.com -o tsv --query "[?type=='mobile'].number"
    """
    from phonectl.results import PhoneList

    rt = runtime(ctx)
    path = phones_path(UserRef(user))
    return render.Shown(PhoneList(rt.client().get_all(path)), rt.output(output))


def get(
    ctx: typer.Context,
    phone_id: PhoneIdArgument,
    user: UserOption = None,
    output: OutputOption = None,
) -> render.Shown:
    """Show one phone of a user's profile.

    Examples:

    \b
      phonectl get 0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f
      phonectl get ID --user adelev@contoso.com -o json
    """
    from phonectl.results import PhoneShown

    rt = runtime(ctx)
    path = phones_path(UserRef(user), phone_id)
    return render.Shown(PhoneShown(rt.client().request_object("GET", path)), rt.output(output))


@with_field_options
def add(
    ctx: typer.Context,
    fields: Fields,
    clear: ClearOption = None,
    normalize: NormalizeOption = None,
    region: RegionOption = None,
    user: UserOption = None,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> render.Shown:
    """Add a phone to a user's profile; prints the created phone.

    Examples:

    \b
      phonectl add --number "+1 425 555 0100" --type mobile
      # another user's pager
      phonectl add -u adelev@contoso.com --type pager --number "+1 425 555 0111"
    """
    if fields["number"] is None:
        raise InvalidInput("add needs --number")
    rt = runtime(ctx)
    body = build_body(fields, clear or (), number_rules(normalize, region))
    return render.Shown(
        _send(rt, "POST", phones_path(UserRef(user)), body, dry_run),
        rt.output(output),
    )


@with_field_options
def update(
    ctx: typer.Context,
    phone_id: PhoneIdArgument,
    fields: Fields,
    clear: ClearOption = None,
    normalize: NormalizeOption = None,
    region: RegionOption = None,
    user: UserOption = None,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> render.Shown:
    """Change a phone: sends exactly the properties named on the command line.

    Examples:

    \b
      phonectl update 0fb4c1e3-c1e3-0fb4-e3c1-b40fe3c1b40f --type mobile
      # renumber, and see the request first
      phonectl update ID --number "+7 495 342 22 13" --dry-run
      phonectl update ID --user adelev@contoso.com --clear displayName
    """
    body = build_body(fields, clear or (), number_rules(normalize, region))
    if not body:
        raise InvalidInput(f"nothing to update: name at least one field ({field_flags()})")
    rt = runtime(ctx)
    path = phones_path(UserRef(user), phone_id)
    return render.Shown(_send(rt, "PATCH", path, body, dry_run), rt.output(output))


@with_field_options
def set_phone(
    ctx: typer.Context,
    fields: Fields,
    clear: ClearOption = None,
    normalize: NormalizeOption = None,
    region: RegionOption = None,
    user: UserOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read, and show what would change (old -> new); send no write."
        ),
    ] = False,
    output: OutputOption = None,
) -> render.Shown:
    """Make a user's one phone of a type hold these values: no id needed. Sends a minimal
    PATCH when it differs, nothing when it already does, a POST when the user has none.

    Examples:

    \b
      phonectl set -u adelev@contoso.com --type mobile --number "+1 425 555 0109"
      # what would change, old -> new
      phonectl set --type mobile --number "+1 425 555 0109" --dry-run
      phonectl set --type business --number "(425) 555-0100" --normalize e164 \\
        --region US
    """
    from phonectl.apply.one_phone import set_phone as set_one
    from phonectl.apply.plan import Outcome
    from phonectl.results import PhoneShown, SetPlanned

    if fields["type"] is None:
        raise InvalidInput("set needs --type: the user's one phone of that type is set")
    body = build_body(fields, clear or (), number_rules(normalize, region))
    rt = runtime(ctx)
    owner = UserRef(user)
    done = set_one(rt.client(), owner, body, dry_run=dry_run)
    if dry_run:
        request = (
            {"method": done.method, "url": rt.graph_url() + done.path, "body": done.body}
            if done.method
            else None
        )
        changes = tuple((c.field, c.old, c.new) for c in done.changes)
        planned = SetPlanned(done.outcome.value, done.phone_id, owner.shown(), changes, request)
        return render.Shown(planned, rt.output(output))
    phone = f"{body['type']} phone {done.phone_id}"
    whose = owner.ref or "the signed-in user"
    if done.outcome is Outcome.unchanged:
        note = f"set: unchanged: the {phone} of {whose} already holds these values"
    elif done.outcome is Outcome.added:
        note = f"set: added a {phone} for {whose}"
    else:
        changed = ", ".join(c.field for c in done.changes)
        note = f"set: updated the {phone} of {whose} ({changed})"
    return render.Shown(PhoneShown(done.phone or {}, notes=(note,)), rt.output(output))


def delete(
    ctx: typer.Context,
    phone_id: PhoneIdArgument,
    user: UserOption = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> render.Shown:
    """Delete a phone from a user's profile (asks first, naming the phone, unless --yes).

    Examples:

    \b
      phonectl delete ID                                  # asks first, naming it
      phonectl delete ID --user adelev@contoso.com --yes     # in a script
    """
    from phonectl.results import PhoneDeleted

    path = phones_path(UserRef(user), phone_id)
    owner = user or "the signed-in user"
    rt = runtime(ctx)
    if not (yes or dry_run):
        _confirm_delete(rt, path, phone_id, owner)
    result = _send(rt, "DELETE", path, None, dry_run)
    return render.Shown(result or PhoneDeleted(phone_id, UserRef(user)), rt.output(output))


def _send(rt: "Runtime", method: str, path: str, body: Any, dry_run: bool) -> Any:
    """Send a write: the phone Graph answers with (None for a DELETE); with --dry-run,
    nothing is sent and the result is the request that would have been."""
    from phonectl.results import PhoneShown, RequestPlanned

    if dry_run:
        return RequestPlanned(method, rt.graph_url() + path, body)
    if method == "DELETE":
        rt.client().request(method, path, body)
        return None
    return PhoneShown(rt.client().request_object(method, path, body))


def _confirm_delete(rt: "Runtime", path: str, phone_id: str, owner: str) -> None:
    """Ask at a terminal, naming the phone by what a person recognises (its number, type
    and name: read first, so a mistyped id is a 'not found', not a wrong deletion)."""
    if not render.terminal().can_prompt:
        raise InvalidInput(
            "delete needs --yes when no one is at a terminal to confirm; nothing was deleted"
        )
    phone = rt.client().request_object("GET", path)
    what = ", ".join(
        str(phone[key]) for key in ("type", "displayName") if phone.get(key) not in (None, "")
    )
    described = f"{phone.get('number') or phone_id}{f' ({what})' if what else ''}"
    question = f"Delete phone {described} of {owner}? (id {phone_id})"
    if not render.confirm(question):
        raise PhonectlError("not deleted")
