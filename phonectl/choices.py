"""The closed sets of values options take: national clouds (with their Graph and login
hosts), output formats and apply's file formats. Apart from settings.py so that --help and
Tab completion, which need them for option values, never build the Settings classes."""

from enum import Enum
from typing import NamedTuple, TypeVar

E = TypeVar("E", bound=Enum)


def choose(enum: type[E], text: str) -> E | None:
    """The one way a value is looked up among an enum's: the member whose value is `text`,
    case-insensitively, spaces around it ignored; None when there is none."""
    by_spelling = _SPELLINGS.get(enum)
    if by_spelling is None:  # once per enum: apply asks for every row of a file
        by_spelling = _SPELLINGS[enum] = {str(m.value).lower(): m for m in enum}
    found = by_spelling.get(text.strip().lower())
    return found  # type: ignore[return-value]


_SPELLINGS: dict[type[Enum], dict[str, Enum]] = {}


class Cloud(str, Enum):
    global_ = "global"
    usgov = "usgov"
    usgovdod = "usgovdod"
    china = "china"


class CloudHosts(NamedTuple):
    graph: str
    authority: str


CLOUD_HOSTS = {
    Cloud.global_: CloudHosts("https://graph.microsoft.com", "https://login.microsoftonline.com"),
    Cloud.usgov: CloudHosts("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    Cloud.usgovdod: CloudHosts(
        "https://dod-graph.microsoft.us", "https://login.microsoftonline.us"
    ),
    Cloud.china: CloudHosts(
        "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"
    ),
}


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    tsv = "tsv"


class FileFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
