"""`phonectl auth`: sign in, see where the token comes from, sign out."""

from typing import Annotated

import typer

from phonectl import render
from phonectl.choices import OutputFormat
from phonectl.commands.options import (
    CloudOption,
    Command,
    OutputOption,
    complete_profile,
    help_when_no_command,
    runtime,
)
from phonectl.global_options import EPILOG as GLOBAL_HELP

app = typer.Typer(
    help="Sign in to Microsoft Graph, and see or forget the sign-in.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@app.callback()
def group(ctx: typer.Context) -> None:
    help_when_no_command(ctx)


@app.command(epilog=GLOBAL_HELP, cls=Command)
def login(
    ctx: typer.Context,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="A delegated permission to ask for besides User.ReadWrite (repeatable); "
            "User.ReadWrite.All manages other users' phones.",
            show_default=False,
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            metavar="TENANT",
            help="Tenant id or domain [env: PHONECTL_TENANT; default: organizations].",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            metavar="ID",
            help="The Entra app registration's client id [env: PHONECTL_CLIENT_ID].",
            show_default=False,
        ),
    ] = None,
    cloud: CloudOption = None,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser",
            help="Sign in in a browser (authorization code with PKCE on "
            "a loopback redirect) instead of with a device code.",
        ),
    ] = False,
) -> render.Shown:
    """Sign in with a device code (or --browser); keeps the tokens in the OS keyring.

    Examples:

    \b
      # once, at a terminal: later runs and cron need no flags
      phonectl auth login --client-id <app id> --tenant contoso.onmicrosoft.com
      # other users' phones too (needs admin consent)
      phonectl auth login --scope User.ReadWrite.All
      # a second tenant, remembered beside the first
      phonectl auth login --profile fabrikam --tenant fabrikam.onmicrosoft.com
    """
    from phonectl.auth import login as sign_in
    from phonectl.results import Said
    from phonectl.token_store import open_store

    settings = runtime(ctx).settings_with(
        cloud=cloud,
        tenant=tenant,
        client_id=client_id,
        scopes=tuple(scope or ()) or None,
        new_profile=True,
    )
    store = open_store(settings.token_cache_path, settings.keyring_timeout, settings.profile)
    logged_in = sign_in(
        settings,
        store,
        notify=render.notice,
        warn=render.warning,
        browser=browser,
        debug=render.debug if settings.debug else None,
    )
    signed_in = logged_in.signed_in
    remembered = ", ".join(
        f"{key} {value}"
        for key, value in logged_in.remembered.items()
        if key in {"cloud", "tenant", "client_id", "authority_host", "graph_url", "token_cache"}
    )
    said = (
        f"Signed in as {signed_in.username or 'the account'} (tenant {signed_in.tenant_id}); "
        f"tokens kept in {store.location}.",
        f"Remembered for later runs{_of_profile(settings.profile)}: {remembered}.",
        *(
            f"Not remembered: {item}; later runs use the cloud's own host."
            for item in logged_in.not_remembered
        ),
    )
    return render.Shown(Said(said), OutputFormat.table)


def _of_profile(profile: str) -> str:
    return "" if profile == "default" else f" of profile {profile} (--profile {profile})"


@app.command(epilog=GLOBAL_HELP, cls=Command)
def status(ctx: typer.Context, output: OutputOption = None) -> render.Shown:
    """Show the account, tenant, scopes, token expiry and source, and where the cache lives.

    Exits 0 when a token can be had without a human (refreshing if needed), 3 when not.

    Examples:

    \b
      # a cron job's guard (script-only line)
      phonectl auth status > /dev/null || exit 3
      # when does the token run out?
      phonectl auth status -o json --query accessTokenExpires
    """
    from phonectl.auth import status as auth_status
    from phonectl.results import AuthReport

    rt = runtime(ctx)
    debug = render.debug if rt.settings.debug else None
    report = auth_status(rt.settings, warn=render.warning, debug=debug)
    return render.Shown(AuthReport(report), rt.output(output))


@app.command(epilog=GLOBAL_HELP, cls=Command)
def logout(ctx: typer.Context) -> render.Shown:
    """Sign out: remove the account and its tokens from the cache.

    Examples:

    \b
      phonectl auth logout
      phonectl auth logout --profile fabrikam   # only that profile
    """
    from phonectl.auth import logout as sign_out
    from phonectl.results import Said

    rt = runtime(ctx)
    done = sign_out(rt.settings, warn=render.warning)
    who = f" of {done.username}" if done.username else ""
    if done.cache is None:
        said = (
            f"Signed out{who}: there is no keyring here and no PHONECTL_TOKEN_CACHE, so no "
            "tokens were kept; nothing else to remove."
        )
    elif done.username:
        said = f"Signed out{who}; the token cache ({done.cache}) is empty."
    else:
        said = f"Not signed in; the token cache ({done.cache}) is empty."
    still = ("PHONECTL_ACCESS_TOKEN is still set and will still be used.",)
    return render.Shown(
        Said((said, *(still if rt.settings.access_token else ()))), OutputFormat.table
    )


@app.command("list", epilog=GLOBAL_HELP, cls=Command)
def list_profiles(ctx: typer.Context, output: OutputOption = None) -> render.Shown:
    """List the remembered sign-ins (profiles): account, tenant, cloud, the default, and
    whether a token can be had without a person. Checks the cache only: no network call.

    Examples:

    \b
      phonectl auth list
      # profiles whose cron jobs would need a person
      phonectl auth list -o json --query "[?!unattended].name"
    """
    from phonectl.auth import list_profiles as profiles
    from phonectl.results import ProfileList

    rt = runtime(ctx)
    return render.Shown(ProfileList(profiles(warn=render.warning)), rt.output(output))


@app.command(epilog=GLOBAL_HELP, cls=Command)
def switch(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="The profile to use from now on when no --profile is given.",
            autocompletion=complete_profile,
            show_default=False,
        ),
    ],
) -> render.Shown:
    """Make a profile the default: later commands without --profile use it.

    Examples:

    \b
      phonectl auth switch fabrikam
      phonectl auth switch default
    """
    from phonectl.config import switch_profile
    from phonectl.results import Said

    switch_profile(name, warn=render.warning)
    return render.Shown(
        Said((f"Profile {name} is now the default; --profile NAME picks another for one run.",)),
        OutputFormat.table,
    )
