"""What a command needs, each piece built on first use (so --dry-run never builds a client)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phonectl.choices import OutputFormat
from phonectl.settings import Flags, Settings, load_settings

if TYPE_CHECKING:
    from phonectl.graph import GraphClient
    from phonectl.sandbox.server import GraphEmulator
    from phonectl.urls import ServiceUrl


# The sandbox emulator's Graph root before it has started: it listens on loopback, on a port
# picked when it starts (0 asks for one), so a dry run that starts nothing can only say that.
SANDBOX_UNSTARTED_ROOT = "http://127.0.0.1:0/beta"


class _Bearer:
    """The token Graph calls carry, and the refresh a 401 earns: when Graph refuses the token
    (revoked, or expired during a long apply) and a refresh token is at hand, one forced
    refresh per refused token (an apply may outlive several); batches in flight that were
    refused the same token share its refresh. Each request is sent again once at most, so
    a server that refuses every token cannot make this loop."""

    def __init__(self, settings: Settings, token: str) -> None:
        import threading

        self._settings = settings
        self._token = token
        self._refreshed: set[str] = set()  # tokens already refreshed once
        self._lock = threading.Lock()

    def __call__(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> bool:
        """True when a token other than `rejected` is now in use (retry once with it)."""
        from phonectl import render
        from phonectl.auth import refresh_rejected

        with self._lock:
            if self._token != rejected:
                return True
            if rejected in self._refreshed:
                return False
            self._refreshed.add(rejected)
            debug = render.debug if self._settings.debug else None
            token = refresh_rejected(self._settings, rejected, warn=render.warning, debug=debug)
            if token is None or token.value == rejected:
                return False
            self._token = token.value
            return True


class Runtime:
    def __init__(self, flags: Flags) -> None:
        self._flags = flags
        self._settings: Settings | None = None
        self._client: GraphClient | None = None
        self._emulator: GraphEmulator | None = None

    @property
    def flags(self) -> Flags:
        """The global options as given on the command line (None: not given)."""
        return self._flags

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from phonectl import render

            self._settings = load_settings(self._flags, warn=render.warning)
            if self._settings.sandbox and not self._flags.sandbox:
                # Left set by accident, it would send writes (and pass a cron guard) silently.
                render.warning(
                    "PHONECTL_SANDBOX is set: using the built-in emulator, not Microsoft Graph"
                )
        return self._settings

    def settings_with(self, *, new_profile: bool = False, **flags: Any) -> Settings:
        """Settings with a command's own flags (None: not given) over the global ones;
        `new_profile`: the profile may be one that does not exist yet (auth login)."""
        given = {name: value for name, value in flags.items() if value is not None}
        from phonectl import render

        return load_settings(
            self._flags._replace(**given), warn=render.warning, new_profile=new_profile
        )

    def output(self, command_flag: OutputFormat | None) -> OutputFormat:
        """The output format: the command's -o, else the global one, env, default."""
        return command_flag or self.settings.output

    def graph_url(self) -> str:
        """Graph's beta root as a dry run names it: the configured one, or the sandbox
        emulator's. A dry run that reads nothing (add, update, delete) never starts the
        emulator: until it starts it has no port, and the root is SANDBOX_UNSTARTED_ROOT."""
        if self.settings.sandbox and self._emulator is None:
            return SANDBOX_UNSTARTED_ROOT
        return str(self._graph_beta_root())

    def _graph_beta_root(self) -> ServiceUrl | str:
        """The configured root as Settings judged it, or the sandbox emulator's (started now:
        a client is about to talk to it)."""
        if self.settings.sandbox:
            return self._start_emulator() + "/beta"
        return self.settings.graph_beta_url

    def client(self) -> GraphClient:
        if self._client is None:
            from phonectl import __version__, render
            from phonectl.auth import acquire_token
            from phonectl.graph import GraphClient

            settings = self.settings
            base_url = self._graph_beta_root()
            debug = render.debug if settings.debug else None
            token = acquire_token(
                settings,
                warn=render.warning,
                notify=render.notice,
                at_terminal=render.terminal().can_prompt,
                debug=debug,
            )
            bearer = _Bearer(settings, token.value)
            self._client = GraphClient(
                base_url,
                bearer,
                user_agent=f"phonectl/{__version__}",
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                max_wait=settings.max_wait,
                notify=render.notice,
                debug=debug,
                on_unauthorized=bearer.refresh,
            )
        return self._client

    def _start_emulator(self) -> str:
        if self._emulator is None:
            from phonectl.sandbox import default_state_path
            from phonectl.sandbox.server import GraphEmulator
            from phonectl.sandbox.state import SandboxState

            self._emulator = GraphEmulator(SandboxState(default_state_path()))
            self._emulator.start_in_thread()
        return self._emulator.url

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._emulator is not None:
            self._emulator.shutdown()
            self._emulator.server_close()
            self._emulator = None
