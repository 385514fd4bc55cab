"""Our own HTTP(S) connections (plain ranged reads of blobs and of signed URLs): through the
proxy the environment names and trusting the same certificate authorities as the Azure SDK
(requests), so one setting covers both behind a corporate proxy."""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import unquote, urlsplit


def ca_bundle() -> str:
    """`REQUESTS_CA_BUNDLE` (or `CURL_CA_BUNDLE`) when set, as requests reads them, else
    certifi's bundle."""
    configured = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if configured:
        return configured
    import certifi

    return str(certifi.where())


def proxy_for(url: str) -> str:
    """The proxy the environment names for `url` ("": go direct), as requests decides
    (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, ...). Reading the environment costs more than a
    small read: callers remember the answer per host."""
    from requests.utils import get_environ_proxies

    scheme = urlsplit(url).scheme
    proxies = get_environ_proxies(url)
    proxy = proxies.get(scheme) or proxies.get("all") or ""
    return proxy if not proxy or "://" in proxy else f"http://{proxy}"


def pool_manager(proxy: str, **options: Any) -> Any:
    """urllib3 connections through `proxy` ("": direct) with `options`, trusting
    `ca_bundle()`, with the proxy URL's credentials sent as requests sends them."""
    import urllib3

    for name in ("urllib3", "urllib3.connectionpool"):  # logs every URL, a SAS included
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))
    options = {"ca_certs": ca_bundle(), **options}
    if not proxy:
        return urllib3.PoolManager(**options)
    parts = urlsplit(proxy)
    if parts.username:  # http://user:password@proxy:port
        login = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        options["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=login)
    return urllib3.ProxyManager(proxy, **options)
