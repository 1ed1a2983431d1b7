"""ProviderHTTP builds each request as httpx's client would: base URL, default and per-call
headers, auth, query and timeout; it reads the capped body and closes every response."""

from __future__ import annotations

import gzip

import httpx
import pytest

import providers.http
from providers.errors import BadReply
from providers.http import ProviderHTTP
from providers.settings import ProviderAccount


def account(base_url: str, **extra: object) -> ProviderAccount:
    return ProviderAccount.model_validate(
        {
            "name": "hostway-test",
            "type": "hostway",
            "base_url": base_url,
            "secret_env": "UNUSED",
            "account_number": "acct1",
            "timeout": 7.5,
            "read_retries": 0,
            **extra,
        }
    )


class Recording(httpx.AsyncBaseTransport):
    """Answers every request with ``body`` and keeps what was sent and closed."""

    def __init__(self, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
        self.sent: list[httpx.Request] = []
        self.closed = 0
        self.body = body
        self.headers = headers or {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        owner = self

        class Stream(httpx.AsyncByteStream):
            async def __aiter__(self):  # type: ignore[no-untyped-def]
                yield owner.body

            async def aclose(self) -> None:
                owner.closed += 1

        return httpx.Response(200, headers=self.headers, stream=Stream())


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("https://api.example.com", "/v1/x", "https://api.example.com/v1/x"),
        ("https://api.example.com/base", "/v1/x", "https://api.example.com/base/v1/x"),
        ("https://api.example.com/base/", "v1/x", "https://api.example.com/base/v1/x"),
        ("https://api.example.com/xmlrpc/", "/", "https://api.example.com/xmlrpc/"),
        ("https://api.example.com/base", "https://other.example/y", "https://other.example/y"),
    ],
)
async def test_relative_urls_are_appended_to_the_base_url_like_httpx_base_url(
    base: str, path: str, expected: str
) -> None:
    transport = Recording()
    http = ProviderHTTP(account(base), transport=transport)
    await http.request("GET", path, idempotent=True, operation="read")
    async with httpx.AsyncClient(base_url=base, transport=Recording()) as client:
        theirs = client.build_request("GET", path).url
    assert str(transport.sent[0].url) == expected == str(theirs)


@pytest.mark.parametrize(
    ("base", "path", "params"),
    [
        ("https://api.example.com/json-api", "/cpsess/x", {"api.version": "1", "id": "a b&c/é"}),
        ("https://api.example.com:8443", "/x", {"n": "1"}),
        ("https://api.example.com/base/", "x?keep=1", {"n": "2"}),
        ("https://api.example.com/base/", "x?n=1", {"n": "2"}),
        ("https://api.example.com/a%20b", "/c d", {}),
    ],
)
async def test_queries_are_merged_like_httpx_base_url(
    base: str, path: str, params: dict[str, str]
) -> None:
    transport = Recording()
    http = ProviderHTTP(account(base), transport=transport)
    await http.request("GET", path, idempotent=True, operation="read", params=params)
    async with httpx.AsyncClient(base_url=base, transport=Recording()) as client:
        theirs = client.build_request("GET", path, params=params).url
    assert transport.sent[0].url == theirs
    assert transport.sent[0].url.raw_path == theirs.raw_path


async def test_urls_are_parsed_once_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(providers.http, "MAX_CACHED_URLS", 3)
    transport = Recording()
    http = ProviderHTTP(account("https://api.example.com/v1"), transport=transport)
    for ref in ["a", "b", "a", "c", "d", "e", "a"]:
        await http.request("GET", f"/t/{ref}", idempotent=True, operation="read", params={"r": ref})
    assert [str(r.url) for r in transport.sent][-3:] == [
        "https://api.example.com/v1/t/d?r=d",
        "https://api.example.com/v1/t/e?r=e",
        "https://api.example.com/v1/t/a?r=a",
    ]
    assert len(http._urls) == 3  # the oldest went first
    assert http.url("/t/a", {"r": "a"}) is http.url("/t/a", {"r": "a"})  # parsed once
    assert str(http.url("/t", {"r": ["1", "2"]})) == "https://api.example.com/v1/t?r=1&r=2"


async def test_query_headers_auth_and_timeout_are_sent() -> None:
    transport = Recording()
    http = ProviderHTTP(
        account("https://api.example.com"),
        transport=transport,
        headers={"Accept": "application/json", "X-Account": "one"},
        auth=httpx.BasicAuth("reseller", "s3cret"),
    )
    await http.request(
        "POST", "/x", idempotent=False, operation="act", params={"id": "a b&c"},
        content=b"hello", headers={"Content-Type": "text/plain", "x-account": "two"},
    )  # fmt: skip
    sent = transport.sent[0]
    assert sent.url.params["id"] == "a b&c"
    assert sent.headers["accept"] == "application/json"  # the account's, over the default
    assert sent.headers["x-account"] == "two"  # the call's, over the account's
    assert sent.headers["content-type"] == "text/plain"
    assert sent.headers["content-length"] == "5"
    assert sent.headers["authorization"] == httpx.BasicAuth("reseller", "s3cret")._auth_header
    assert sent.headers["user-agent"] == "transferbot"
    assert sent.extensions["timeout"] == httpx.Timeout(7.5).as_dict()
    assert await sent.aread() == b"hello"


async def test_every_response_is_closed_and_its_body_capped() -> None:
    transport = Recording(body=b"x" * 100)
    http = ProviderHTTP(account("https://api.example.com"), transport=transport, max_body=50)
    with pytest.raises(BadReply, match="oversized reply"):
        await http.request("GET", "/big", idempotent=True, operation="read")
    http.max_body = 1000
    _, body = await http.request("GET", "/big", idempotent=True, operation="read")
    assert body == b"x" * 100
    assert transport.closed == 2


async def test_an_encoded_body_is_decoded_before_it_is_capped() -> None:
    plain = b"<reply>" + b"ok " * 200 + b"</reply>"
    transport = Recording(body=gzip.compress(plain), headers={"content-encoding": "gzip"})
    http = ProviderHTTP(account("https://api.example.com"), transport=transport)
    _, body = await http.request("GET", "/zipped", idempotent=True, operation="read")
    assert body == plain
    http.max_body = len(plain) - 1  # the reply is small on the wire, too big decoded
    with pytest.raises(BadReply, match="oversized reply"):
        await http.request("GET", "/zipped", idempotent=True, operation="read")


async def test_a_reply_read_by_the_transport_already_is_returned_too() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<ok/>"))
    http = ProviderHTTP(account("https://api.example.com"), transport=transport, max_body=10)
    _, body = await http.request("GET", "/x", idempotent=True, operation="read")
    assert body == b"<ok/>"
    http.max_body = 4
    with pytest.raises(BadReply, match="oversized reply"):
        await http.request("GET", "/x", idempotent=True, operation="read")


def test_an_auth_that_needs_a_reply_is_refused_when_the_client_is_made() -> None:
    with pytest.raises(ValueError, match="needs a reply"):
        ProviderHTTP(
            account("https://api.example.com"),
            transport=Recording(),
            auth=httpx.DigestAuth("u", "p"),
        )
