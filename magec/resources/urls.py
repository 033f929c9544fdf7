"""Save-time check of a URL field (a backend's ``url``, an agent's remote A2A URL): is it an
absolute http(s) URL a client could connect to? Here, beside the resource models that use it, so
the models do not depend on the backends that read them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL a client could connect to, or None when it is.

    A ``${NAME}`` reference is resolved only at run time: one standing for the whole URL is
    accepted as is, one inside it (``http://${HOST}:11434``) is checked with a stand-in value, so
    the rest of the URL must still parse. Used at save time so that a URL no SDK could open is a
    400 naming ``url``, not a backend that fails on every turn (or a 500 from ``urlsplit``).
    """
    if url.startswith("${"):
        return None
    probe = _PLACEHOLDER.sub("1", url)
    if any(c.isspace() or ord(c) < 32 for c in probe):
        return "must not contain spaces or control characters"
    if not re.match(r"^https?://", probe, re.IGNORECASE):
        return "must start with http:// or https://"
    try:
        parts = urlsplit(probe)
        port = parts.port  # raises ValueError when not a number in 0..65535
    except ValueError:
        return "is not a valid URL (check the host and the port)"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    # a bracketed host was already parsed as an IPv6 address by urlsplit
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if not bracketed and not all(c.isalnum() or c in "-._" for c in host):  # IDN names: letters of any script
        return f"has an invalid host {host!r}"
    if port == 0:
        return "has an invalid port 0"
    return None
