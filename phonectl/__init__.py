"""phonectl: edit the phone numbers in Microsoft 365 user profiles."""


def __getattr__(name: str) -> str:
    # Computed on first use: the installed metadata is the one source of the version, and
    # reading it costs an import that `phonectl --help` should not pay.
    if name == "__version__":
        from importlib.metadata import version

        return version("phonectl")
    raise AttributeError(name)
