"""huggingface_hub's exceptions -> one autocli error each, by a table read top to bottom (first match wins).

The order matters where the Hub's exception classes nest: GatedRepoError is a RepositoryNotFoundError,
RevisionNotFoundError and RemoteEntryNotFoundError are HfHubHTTPErrors. Rows whose error is
HubUnreachable are the failures after which a cached copy may stand in (what huggingface_hub and
transformers do): the network or the Hub is down, not the request wrong.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from autocli.checkpoint.names import CACHE_HINT
from autocli.errors import AutocliError, NotReachable, UsageError


class HubUnreachable(NotReachable):
    """The Hub did not answer (network down, timeout, server error): a cached copy may stand in."""


TRANSPORT = "transport"  # the HTTP client's network failures, and the OS's
AUTH_HINT = "pass --token or set HF_TOKEN to a token that can read this repo"
LATER_HINT = "try again later, or use --offline with a cached copy"


@dataclass(frozen=True)
class Row:
    exception: str  # a class name in huggingface_hub.errors, or TRANSPORT
    status: tuple[int, ...]  # HTTP statuses this row is for; () = any
    error: type[AutocliError]  # its exit code is the row's exit code
    message: str  # str.format fields: name repo revision what endpoint cache status kind detail
    hint: str


HUB_ERRORS: tuple[Row, ...] = (
    Row("HFValidationError", (), UsageError, "{name}: {detail}", "a Hub repo id looks like org/name"),
    Row("OfflineModeIsEnabled", (), NotReachable, "{what} is not in the cache ({cache}) and the Hub was not asked", CACHE_HINT),
    Row("LocalEntryNotFoundError", (), NotReachable, "{what} is not in the cache ({cache}) and the Hub was not asked", CACHE_HINT),
    Row("GatedRepoError", (), NotReachable, "{repo} is a gated repo", "accept its terms on the Hub, then pass --token or set HF_TOKEN"),
    Row("RevisionNotFoundError", (), NotReachable, "revision {revision!r} not found in {repo}", "check the branch, tag or commit"),
    Row("EntryNotFoundError", (), NotReachable, "{what} not found in {name}", "check the file name and the revision"),
    Row("HfHubHTTPError", (401,), NotReachable, "{repo}: the Hub asks for authentication (HTTP 401)", AUTH_HINT),
    Row("HfHubHTTPError", (403,), NotReachable, "{repo}: access denied (HTTP 403)", "use a token with read access (--token / HF_TOKEN)"),
    Row("RepositoryNotFoundError", (), NotReachable, "repo {repo} not found on {endpoint}",
        "check the repo id (or the folder path); private repos need --token or HF_TOKEN"),
    Row("HfHubHTTPError", (404,), NotReachable, "repo {repo} not found on {endpoint}",
        "check the repo id (or the folder path); private repos need --token or HF_TOKEN"),
    Row("HfHubHTTPError", (500, 502, 503, 504), HubUnreachable, "{what}: the Hub answered HTTP {status}", LATER_HINT),
    Row("HfHubHTTPError", (), NotReachable, "{what}: the Hub answered HTTP {status}", LATER_HINT),
    Row(TRANSPORT, (), HubUnreachable, "cannot reach {endpoint}: {kind}: {detail}",
        "check the network and HF_ENDPOINT, or use --offline with a cached copy"),
)


def _transport_types() -> tuple[type, ...]:
    """Network failures of huggingface_hub's HTTP client (httpx2 in 2.x, httpx before), or the OS."""
    found: list[type] = [ConnectionError, TimeoutError]
    for mod in ("httpx2", "httpx"):
        try:
            lib = __import__(mod)
        except ImportError:
            continue
        found += [lib.TransportError, lib.TooManyRedirects]
    return tuple(found)


def _types(name: str) -> tuple[type, ...]:
    if name == TRANSPORT:
        return _transport_types()
    from huggingface_hub import errors

    return (getattr(errors, name),)


def find_row(e: BaseException) -> Row | None:
    status = getattr(getattr(e, "response", None), "status_code", None)
    for row in HUB_ERRORS:
        if isinstance(e, _types(row.exception)) and (not row.status or status in row.status):
            return row
    return None


def translate(e: BaseException, source, what: str) -> AutocliError | None:
    """The autocli error for a Hub exception met while reading `what` of `source` (a HubFiles); None if unknown."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    # hf_hub_download reports "no network and not cached" as a cache miss caused by the network failure.
    if isinstance(e, LocalEntryNotFoundError) and e.__cause__ is not None and find_row(e.__cause__) is not None:
        e = e.__cause__
    row = find_row(e)
    if row is None:
        return None
    text = str(e).strip()
    fields = dict(
        name=source.name, repo=source.repo_id, revision=source.revision, what=what, endpoint=source.endpoint,
        cache=source.cache_dir, status=getattr(getattr(e, "response", None), "status_code", None),
        kind=type(e).__name__, detail=text.splitlines()[0] if text else "no answer",
    )
    return row.error(row.message.format(**fields), row.hint)


@contextmanager
def hub_errors(source, what: str):
    """Raise huggingface_hub's exceptions inside the block as autocli errors, by the table."""
    try:
        yield
    except Exception as e:
        err = translate(e, source, what)
        if err is None:
            raise
        raise err from None
