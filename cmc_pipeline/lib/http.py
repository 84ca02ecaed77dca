"""One HTTP client for every live source: timeouts, retries with backoff, an honest
User-Agent, and errors that name the URL and what came back.

Retries are urllib3's (``Retry`` on the session's adapter), which honours ``Retry-After``
on 429. A CDN in front of ILOSTAT may answer 403 with an HTML challenge page; that is
retried too, and if it persists the caller gets a clear error rather than HTML parsed as
data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

USER_AGENT = (
    "cmc-pipeline/0.1 (Caribbean Migration Consultations labour-migration data network; python-requests)"
)
RETRY_STATUSES = (403, 429, 500, 502, 503, 504)


class SourceError(RuntimeError):
    """An upstream source could not give usable data. The message is for a person."""


class SourceHTTPError(SourceError):
    def __init__(self, url: str, status: int, detail: str):
        self.url, self.status, self.detail = url, status, detail
        super().__init__(f"HTTP {status} from {url}: {detail}")


class SourceFormatError(SourceError):
    """The response arrived but is not in the documented format (HTML, truncated, …)."""


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retries: int = 4
    backoff_factor: float = 1.0


def make_session(settings: HttpSettings | None = None) -> requests.Session:
    # requests is imported when a source first goes online, not with every module that
    # names this client (the definitions load, snapshot builds).
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    settings = settings or HttpSettings()
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=settings.backoff_factor,
        respect_retry_after_header=True,
        # Hand the last response back instead of raising urllib3's MaxRetryError, so the
        # error we raise can quote what the server said.
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def get(
    session: requests.Session, url: str, settings: HttpSettings | None = None, **kwargs
) -> requests.Response:
    """GET with timeouts; connection failures become a SourceError naming the URL."""
    import requests

    settings = settings or HttpSettings()
    try:
        return session.get(url, timeout=(settings.connect_timeout, settings.read_timeout), **kwargs)
    except requests.RequestException as exc:
        raise SourceError(f"could not reach {url}: {exc}") from exc


def looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def describe_body(body: bytes, limit: int = 200) -> str:
    """A short, printable excerpt of a response body for error messages."""
    text = body[:limit].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text + ("…" if len(body) > limit else "")
