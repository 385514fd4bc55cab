"""A stand-in Azure AD (Microsoft Entra ID) authority over HTTPS, serving what MSAL's
authorization-code flow with PKCE needs, so that azure-identity's real
InteractiveBrowserCredential signs in against it:

- `GET /{tenant}/v2.0/.well-known/openid-configuration` (MSAL's tenant discovery; instance
  discovery is off for a host it does not know, as for private clouds);
- `GET /{tenant}/oauth2/v2.0/authorize`: the "user" has already consented; the answer goes to
  the loopback `redirect_uri` as AAD sends it — an auto-submitting form with
  `response_mode=form_post` (what azure-identity asks for), else a 302 with the query — with
  `code` and `state`, or `error=access_denied` when the test says the user refused;
- `POST /{tenant}/oauth2/v2.0/token`: `authorization_code` (the code once, the same
  redirect URI, the PKCE verifier checked against the challenge) and `refresh_token` (another
  resource, or a renewal). Access tokens are JWTs like fake_az.make_jwt's (no `tid`, see
  there) with the requested audience and the authority's `subject`; with them an id_token
  (the authorize request's nonce), `client_info` and a refresh token.

`browser_command(folder)` writes the "browser": a script for the BROWSER environment variable
(Python's webbrowser module runs it with the URL) that does what a user's browser does — GETs
the authorize URL and delivers the answer to the loopback redirect — in the background, as a
real launcher returns at once. It refuses every host but 127.0.0.1 / localhost."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import ssl
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .fake_az import TENANT, make_jwt

ARM_AUDIENCE = "https://management.core.windows.net/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class AuthorityRequest:
    method: str
    path: str
    tenant: str
    params: dict[str, str]  # query, or form body (secrets of the flow included)
    status: int = 0


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    challenge: str | None
    challenge_method: str | None
    tenant: str
    subject: str


@dataclass
class StandinAuthority:
    """`with StandinAuthority(cert, key) as authority:` serves on `authority.url`;
    `authority.host` is what AZURE_AUTHORITY_HOST takes."""

    cert: Path
    key: Path
    subject: str = "browser-user@example.com"  # `sub` of the tokens it issues
    username: str = "browser.user@example.com"  # the id_token's preferred_username
    expires_in: int = 3600
    deny: str | None = None  # answer the authorize request with this error (access_denied)
    requests: list[AuthorityRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # access tokens, in order
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _refresh: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        return self.url.removeprefix("https://")

    def calls(self, endpoint: str) -> list[AuthorityRequest]:
        """Requests whose path ends with `endpoint` ("authorize", "token", ...)."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(endpoint)]

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.issued.clear()
            self._codes.clear()
            self._refresh.clear()
        self.deny = None
        self.subject = StandinAuthority.subject
        self.username = StandinAuthority.username

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> StandinAuthority:
        authority = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                authority._handle(self, "GET")

            def do_POST(self) -> None:
                authority._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- requests --------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        raw = parse_qs(body if method == "POST" else parts.query, keep_blank_values=True)
        params = {key: values[0] for key, values in raw.items()}
        segments = [s for s in parts.path.split("/") if s]
        tenant = segments[0] if segments else ""
        request = AuthorityRequest(method, parts.path, tenant, params)
        with self._lock:
            self.requests.append(request)
        endpoint = "/".join(segments[1:])
        headers: dict[str, str] = {}
        if method == "GET" and endpoint == "v2.0/.well-known/openid-configuration":
            status, content_type, payload = 200, "application/json", self._discovery(tenant)
        elif method == "GET" and endpoint == "oauth2/v2.0/authorize":
            status, content_type, payload, headers = self._authorize(tenant, params)
        elif method == "POST" and endpoint == "oauth2/v2.0/token":
            status, content_type, payload = self._token(params)
        else:
            status, content_type = 404, "application/json"
            payload = _error("invalid_request", f"AADSTS90002: no endpoint {parts.path}")
        request.status = status
        data = payload.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _discovery(self, tenant: str) -> str:
        base = f"{self.url}/{tenant}"
        return json.dumps(
            {
                "issuer": f"{self.url}/{TENANT}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "tenant_region_scope": "WW",
            }
        )

    def _authorize(
        self, tenant: str, params: dict[str, str]
    ) -> tuple[int, str, str, dict[str, str]]:
        redirect = params.get("redirect_uri", "")
        target = urlsplit(redirect)
        # A public client's redirect must be a loopback address on http (any port).
        if target.scheme != "http" or target.hostname not in ("localhost", "127.0.0.1"):
            return 400, "text/plain", f"AADSTS50011: redirect URI {redirect!r} refused", {}
        if params.get("response_type") != "code" or not params.get("client_id"):
            return 400, "text/plain", "AADSTS900144: response_type=code and client_id needed", {}
        answer: dict[str, str] = {}
        if self.deny:
            answer["error"] = self.deny
            answer["error_description"] = (
                "AADSTS65004: User declined to consent to access the app."
                if self.deny == "access_denied"
                else f"AADSTS50000: {self.deny}"
            )
        else:
            code = _b64(secrets.token_bytes(24))
            with self._lock:
                self._codes[code] = _Grant(
                    params["client_id"],
                    redirect,
                    params.get("scope", ""),
                    params.get("nonce"),
                    params.get("code_challenge"),
                    params.get("code_challenge_method"),
                    tenant,
                    self.subject,
                )
            answer["code"] = code
            answer["client_info"] = self._client_info(self.subject)
        if "state" in params:
            answer["state"] = params["state"]
        if params.get("response_mode") == "form_post":
            inputs = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
                for k, v in answer.items()
            )
            page = (
                "<html><head><title>Working...</title></head>"
                '<body onload="document.forms[0].submit()">'
                f'<form method="POST" name="hiddenform" action="{html.escape(redirect)}">'
                f"{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p>"
                '<input type="submit" value="Submit"/></noscript></form></body></html>'
            )
            return 200, "text/html; charset=utf-8", page, {}
        separator = "&" if target.query else "?"
        return 302, "text/plain", "", {"Location": f"{redirect}{separator}{urlencode(answer)}"}

    def _token(self, params: dict[str, str]) -> tuple[int, str, str]:
        grant_type = params.get("grant_type")
        scope = params.get("scope", "")
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.pop(params.get("code", ""), None)
                if grant is None:
                    return _bad("invalid_grant", "AADSTS70008: the code has expired or was used.")
                if params.get("redirect_uri") != grant.redirect_uri:
                    return _bad("invalid_grant", "AADSTS500112: redirect_uri does not match.")
                if params.get("client_id") != grant.client_id:
                    return _bad("invalid_client", "AADSTS700016: client_id does not match.")
                if grant.challenge and not _pkce_ok(grant, params.get("code_verifier", "")):
                    return _bad("invalid_grant", "AADSTS501481: the code_verifier is wrong.")
                scope = scope or grant.scope
            elif grant_type == "refresh_token":
                grant = self._refresh.pop(params.get("refresh_token", ""), None)
                if grant is None:
                    return _bad("invalid_grant", "AADSTS700082: the refresh token has expired.")
            else:
                return _bad("unsupported_grant_type", f"AADSTS70003: {grant_type!r}")
            resource = next((s for s in scope.split() if s.endswith("/.default")), "")
            audience = resource.removesuffix(".default").rstrip("/") or ARM_AUDIENCE
            if audience.rstrip("/") == ARM_AUDIENCE.rstrip("/"):
                audience = ARM_AUDIENCE
            now = int(time.time())
            access = make_jwt(now + self.expires_in, audience, grant.subject)
            refresh = _b64(secrets.token_bytes(32))
            self._refresh[refresh] = grant
            self.issued.append(access)
        id_claims = {
            "aud": grant.client_id,
            "iss": f"{self.url}/{TENANT}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": grant.subject,
            "oid": _oid(grant.subject),
            "tid": TENANT,
            "name": "Browser User",
            "preferred_username": self.username,
            "ver": "2.0",
        }
        if grant.nonce:
            id_claims["nonce"] = grant.nonce
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        id_token = f"{header}.{_b64(json.dumps(id_claims).encode())}."
        return (
            200,
            "application/json",
            json.dumps(
                {
                    "token_type": "Bearer",
                    "scope": resource or scope,
                    "expires_in": self.expires_in,
                    "ext_expires_in": self.expires_in,
                    "access_token": access,
                    "refresh_token": refresh,
                    "id_token": id_token,
                    "client_info": self._client_info(grant.subject),
                }
            ),
        )

    @staticmethod
    def _client_info(subject: str) -> str:
        return _b64(json.dumps({"uid": _oid(subject), "utid": TENANT}).encode())


def _oid(subject: str) -> str:
    digest = hashlib.sha256(subject.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _pkce_ok(grant: _Grant, verifier: str) -> bool:
    if grant.challenge_method == "S256":
        return _b64(hashlib.sha256(verifier.encode()).digest()) == grant.challenge
    return verifier == grant.challenge


def _error(code: str, description: str) -> str:
    return json.dumps({"error": code, "error_description": description, "error_codes": []})


def _bad(code: str, description: str) -> tuple[int, str, str]:
    return 400, "application/json", _error(code, description)


# -- the "browser" --------------------------------------------------------------------------

_BROWSER = """#!{python}
# A stand-in web browser for BROWSER: returns at once (a launcher), then in the background
# GETs the URL and delivers the authority's answer to the loopback redirect, as a signed-in
# user's browser would. Behaviour from {state!r}: "complete", "ignore" (the tab is left
# open, nothing delivered), "fail" (no browser: exit 1).
import json, os, subprocess, sys
from urllib.parse import parse_qs, urlsplit
state = json.load(open({state!r}))
log = open({log!r}, "a")
if sys.argv[1:2] != ["--deliver"]:
    url = sys.argv[1]
    redirect = parse_qs(urlsplit(url).query).get("redirect_uri", [""])[0]
    log.write("open " + url.split("?", 1)[0] + " redirect=" + redirect + "\\n")
    log.flush()
    print("Opening in existing browser session.")  # what real launchers print on stdout
    if state["mode"] == "fail":
        sys.exit(1)
    if state["mode"] == "complete":
        subprocess.Popen(
            [sys.executable, __file__, "--deliver", url],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    sys.exit(0)

import ssl, urllib.request
from html.parser import HTMLParser
from urllib.parse import urlencode

url = sys.argv[2]

def local(address):
    host = urlsplit(address).hostname
    if host not in ("127.0.0.1", "localhost"):
        log.write("refused non-local host " + str(host) + "\\n")
        sys.exit(2)

class Form(HTMLParser):
    action, fields = None, {{}}
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            Form.action = attrs.get("action")
        if tag == "input" and attrs.get("type") == "hidden":
            Form.fields[attrs["name"]] = attrs.get("value", "")

class Local(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        local(newurl)
        log.write("redirected to " + newurl.split("?", 1)[0] + "\\n")
        return super().redirect_request(req, fp, code, msg, headers, newurl)

local(url)
context = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({{}}), urllib.request.HTTPSHandler(context=context), Local()
)
with opener.open(url, timeout=30) as response:
    page = response.read().decode()
    log.write("authorize answered " + str(response.status) + "\\n")
if "<form" in page:
    form = Form()
    form.feed(page)
    local(Form.action)
    data = urlencode(Form.fields).encode()
    with opener.open(Form.action, data=data, timeout=30) as response:
        log.write("posted " + ",".join(sorted(Form.fields)) + " -> " + str(response.status) + "\\n")
log.write("done\\n")
"""


@dataclass
class FakeBrowser:
    """`command` is the BROWSER value; `set(mode)` changes what the next opening does."""

    folder: Path

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state_file = self.folder / "browser-state.json"
        self.log_file = self.folder / "browser.log"
        self.log_file.write_text("")
        self.set("complete")
        script = self.folder / "fake-browser"
        script.write_text(
            _BROWSER.format(
                python=sys.executable, state=str(self.state_file), log=str(self.log_file)
            )
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.command = str(script)

    def set(self, mode: str) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"mode": mode}))
        os.replace(temporary, self.state_file)

    def log(self) -> list[str]:
        return [line for line in self.log_file.read_text().splitlines() if line]

    def opened(self) -> list[str]:
        """The loopback redirect URI of each authorize URL it was asked to open."""
        return [line.rsplit(" redirect=", 1)[-1] for line in self.log() if line.startswith("open ")]

    def wait_for(self, text: str, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log()
            if any(text in line for line in lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f"the browser never logged {text!r}: {self.log()}")


__all__ = ["ARM_AUDIENCE", "AuthorityRequest", "FakeBrowser", "StandinAuthority"]
