"""Which certificate authorities our own HTTPS connections trust: the same ones as the Azure
SDK's (requests), so one setting covers both behind a TLS-inspecting corporate proxy."""

from __future__ import annotations

import os


def ca_bundle() -> str:
    """`REQUESTS_CA_BUNDLE` (or `CURL_CA_BUNDLE`) when set, as requests reads them, else
    certifi's bundle."""
    configured = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if configured:
        return configured
    import certifi

    return str(certifi.where())
