"""Which Gandi API an account uses (``api = "v3"`` or ``"v5"``), and check-config's sentences.

An account says ``type = "gandi"`` and, for v5, ``api = "v5"``; it is then the provider type
``gandi_v5`` everywhere in the bot. When ``api`` is absent it is inferred, so that the
configurations written before v5 keep working as v3:

1. a ``base_url`` at ``api.gandi.net`` / ``api.sandbox.gandi.net``, or with ``/v5`` in its
   path, is v5; one at ``rpc.gandi.net`` / ``rpc.ote.gandi.net``, or with ``xmlrpc`` in its
   path, is v3;
2. otherwise (a simulator, a proxy) a secret that looks like a Personal Access Token
   (``pat_…``, the form of the docs' example ``Bearer pat_abc-123``) is v5;
3. otherwise v3: every Gandi account configured before v5 was v3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = [
    "API_TYPES",
    "V3_BASE_URL",
    "V5_BASE_URL",
    "V5_SANDBOX_URL",
    "account_problems",
    "infer_api",
    "resolve_api",
]

V3_BASE_URL = "https://rpc.gandi.net/xmlrpc/"
V5_BASE_URL = "https://api.gandi.net"
V5_SANDBOX_URL = "https://api.sandbox.gandi.net"
API_TYPES = {"v3": "gandi", "v5": "gandi_v5"}  # api -> the provider type it makes
_V5_HOSTS = frozenset({"api.gandi.net", "api.sandbox.gandi.net"})
_V3_HOSTS = frozenset({"rpc.gandi.net", "rpc.ote.gandi.net"})
# "my 24-character API key" (doc.rpc.gandi.net/overview.html); Gandi's own check of one is
# '^[a-z0-9]{24}$' (its fault text, quoted in Chralu/gandyn#3); upper case is let in here
_V3_KEY = re.compile(r"^[A-Za-z0-9]{24}$")


def _secret_text(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    text = getter() if callable(getter) else value
    return text.strip() if isinstance(text, str) else ""


def _api_of_url(base_url: object) -> str | None:
    if not isinstance(base_url, str):
        return None
    try:
        parts = urlsplit(base_url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    path = parts.path.lower()
    if host in _V5_HOSTS or "/v5" in path:
        return "v5"
    if host in _V3_HOSTS or "xmlrpc" in path:
        return "v3"
    return None


def infer_api(settings: Mapping[str, object]) -> str:
    """The API an account without ``api`` uses (the module's rules)."""
    by_url = _api_of_url(settings.get("base_url"))
    if by_url:
        return by_url
    return "v5" if _secret_text(settings.get("secret")).startswith("pat_") else "v3"


def resolve_api(settings: dict[str, object]) -> dict[str, object]:
    """The settings with ``api`` decided and ``type`` set to what it makes (gandi, gandi_v5).

    A ``type = "gandi_v5"`` written as such means v5 unless ``api`` says otherwise; an
    ``api`` other than v3 or v5 is left for the model to refuse.
    """
    api = settings.get("api")
    if api is None:
        api = "v5" if settings.get("type") == "gandi_v5" else infer_api(settings)
    settings["api"] = api
    if api in API_TYPES:
        settings["type"] = API_TYPES[str(api)]
    return settings


def account_problems(settings: Mapping[str, object]) -> list[tuple[str, str]]:
    """check-config's sentences for a credential or address of the other API: (key, sentence)."""
    data = resolve_api(dict(settings))
    api = data.get("api")
    if api not in API_TYPES:
        return []
    problems: list[tuple[str, str]] = []
    by_url = _api_of_url(data.get("base_url"))
    secret = _secret_text(data.get("secret"))
    variable = data.get("secret_env") or "the secret variable"
    if api == "v5" and by_url == "v3":
        problems.append((
            "base_url",
            f"this is Gandi's v3 XML-RPC address, but the account uses v5 (api = \"v5\"); "
            f"v5 is at {V5_BASE_URL} (sandbox {V5_SANDBOX_URL}), or set api = \"v3\" to keep "
            "the v3 API",
        ))  # fmt: skip
    if api == "v3" and by_url == "v5":
        problems.append((
            "base_url",
            f"this is Gandi's v5 REST address, but the account uses v3 (api = \"v3\"); v3 is "
            f"at {V3_BASE_URL}, or set api = \"v5\" to use the v5 API with a Personal Access "
            "Token",
        ))  # fmt: skip
    if api == "v5" and _V3_KEY.match(secret):
        problems.append((
            "secret_env",
            f"{variable} holds what looks like a 24-character v3 API key, but v5 takes a "
            "Personal Access Token: create one in Gandi's Admin (Account settings → Personal "
            "Access Tokens, with the “Manage domain names” permission) and put it there, or "
            "set api = \"v3\" to keep using the key",
        ))  # fmt: skip
    if api == "v3" and secret.startswith("pat_"):
        problems.append((
            "secret_env",
            f"{variable} holds a v5 Personal Access Token (pat_…), but the account uses the "
            f"v3 XML-RPC API, which takes the 24-character API key; to use the token set "
            f"api = \"v5\" and base_url = \"{V5_BASE_URL}\"",
        ))  # fmt: skip
    return problems
