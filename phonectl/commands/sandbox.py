"""`phonectl sandbox`: the built-in Graph emulator in the foreground, and its reset."""

from typing import Annotated

import typer

from phonectl import render
from phonectl.choices import OutputFormat
from phonectl.commands.options import Command, help_when_no_command
from phonectl.global_options import EPILOG as GLOBAL_HELP

app = typer.Typer(
    help="The built-in Graph emulator (what --sandbox talks to).",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@app.callback()
def group(ctx: typer.Context) -> None:
    help_when_no_command(ctx)


@app.command(epilog=GLOBAL_HELP, cls=Command)
def serve(
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", metavar="PORT", min=0, max=65535, help="TCP port; 0 picks a free one."
        ),
    ] = 0,
    page_size: Annotated[
        int,
        typer.Option(
            "--page-size", metavar="N", min=1, help="Phones per page before @odata.nextLink."
        ),
    ] = 10,
    log: Annotated[bool, typer.Option("--log", help="Log each request on stderr.")] = False,
) -> None:
    """Serve the emulator on 127.0.0.1 in the foreground until Ctrl-C; prints its Graph URL.

    Examples:

    \b
      phonectl sandbox serve --port 8765
      # then, in another shell, any Graph client:
      export PHONECTL_GRAPH_URL=http://127.0.0.1:8765 PHONECTL_ACCESS_TOKEN=x
      phonectl list
    """
    import errno

    from phonectl.errors import InvalidInput
    from phonectl.sandbox import default_state_path
    from phonectl.sandbox.server import GraphEmulator
    from phonectl.sandbox.state import SandboxState

    state_path = default_state_path()
    try:
        emulator = GraphEmulator(
            SandboxState(state_path), port=port, page_size=page_size, log_requests=log
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise InvalidInput(
            f"port {port} on 127.0.0.1 is in use", hint="pick another --port, or 0 for any free one"
        ) from None
    render.result_line(emulator.url)  # stdout: what a script reads to find the emulator
    render.notice(
        f"Graph emulator listening on {emulator.url} (state in {state_path}); Ctrl-C stops it."
    )
    render.notice(
        f"Point phonectl at it: PHONECTL_GRAPH_URL={emulator.url} PHONECTL_ACCESS_TOKEN=any"
    )
    try:
        emulator.serve_forever()
    finally:
        emulator.server_close()


@app.command(epilog=GLOBAL_HELP, cls=Command)
def reset() -> render.Shown:
    """Restore the sandbox's seed data (the example phones and users).

    Examples:

    \b
      phonectl sandbox reset
      phonectl --sandbox list   # the seed again
    """
    from phonectl.results import Said
    from phonectl.sandbox import default_state_path
    from phonectl.sandbox.state import SandboxState

    state_path = default_state_path()
    SandboxState(state_path, load=False).reset()
    return render.Shown(
        Said((f"sandbox reset to its seed data ({state_path})",)), OutputFormat.table
    )
