"""phonectl: edit the phone numbers in Microsoft 365 user profiles."""

# The one place the version is written: pyproject.toml reads it into the package metadata.
__version__ = "0.1.0"
