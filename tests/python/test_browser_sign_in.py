"""Signing in with a browser (`artifacts/signIn`), the last resort after `az login`, through
the real server, azure-identity's real InteractiveBrowserCredential and MSAL's real
authorization-code flow (PKCE, nonce, state, the loopback redirect server):

- a stand-in Azure AD authority over HTTPS (amlstandin/authority.py; its self-signed
  certificate trusted through REQUESTS_CA_BUNDLE), named by AZURE_AUTHORITY_HOST;
- a stand-in browser in BROWSER (Python's webbrowser runs it) that loads the authorize URL and
  delivers the answer to the loopback redirect, as a user's browser does;
- the Azure ML stand-in service (it checks bearer tokens and records their subject here) with
  the stand-in `az` logged out, and Azurite. Every non-local request goes to a dead proxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_lsp
from amlstandin.authority import ARM_AUDIENCE, FakeBrowser, StandinAuthority
from amlstandin.environment import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    WS_URI,
    AmlEnvironment,
    served_workspace,
)
from amlstandin.fake_az import jwt_claims
from azurite import self_signed_certificate
from conftest import RemoteStore
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient
from test_server import request

from pyserver.backends.aml_auth import NotSignedIn, TokenProvider

AZ_SUBJECT = "cli-user@example.com"
BROWSER_SUBJECT = "browser-user@example.com"
GUEST_TENANT = "contoso.onmicrosoft.com"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("authority-tls"))


@pytest.fixture(scope="module")
def authority(tls: tuple[Path, Path]) -> Iterator[StandinAuthority]:
    with StandinAuthority(*tls) as served:
        yield served


@pytest.fixture(scope="module")
def aml(
    azurite_store: RemoteStore,
    tmp_path_factory: pytest.TempPathFactory,
    tls: tuple[Path, Path],
    authority: StandinAuthority,
) -> Iterator[AmlEnvironment]:
    folder = tmp_path_factory.mktemp("aml-browser")
    with (
        served_workspace(
            folder,
            azurite_store.connection_string,
            {},
            timeout_s=2,
            REQUESTS_CA_BUNDLE=str(tls[0]),
            AZURE_AUTHORITY_HOST=authority.host,
        ) as env,
        pytest.MonkeyPatch.context() as patch,
    ):
        # No real browser may ever open: only the stand-in one, and no X / console browsers.
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "TERM"):
            patch.delenv(name, raising=False)
        yield env


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(autouse=True)  # autouse: set before pytest-lsp starts the server
def browser(
    aml: AmlEnvironment, browser_home: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeBrowser:
    fake = FakeBrowser(browser_home / f"b{time.monotonic_ns()}")
    monkeypatch.setenv("BROWSER", fake.command)
    return fake


@pytest.fixture
def subjects(aml: AmlEnvironment, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `sub` of the bearer token of every request the Azure ML stand-in checked."""
    seen: list[str] = []
    check = aml.standin._authenticate

    def recording(header: str) -> None:
        with contextlib.suppress(Exception):
            seen.append(jwt_claims(header.partition(" ")[2]).get("sub"))
        check(header)

    monkeypatch.setattr(aml.standin, "_authenticate", recording)
    return seen


@pytest.fixture(autouse=True)
def fresh(aml: AmlEnvironment, authority: StandinAuthority) -> Iterator[None]:
    aml.standin.clear()
    aml.az.set(mode="logged-out", subject=AZ_SUBJECT)
    authority.reset()
    yield
    authority.reset()


SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "pyserver", "serve"])


@pytest_lsp.fixture(config=SERVER)
async def lsp(lsp_client: LanguageClient, aml: AmlEnvironment, browser: FakeBrowser):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"workspaces": [aml.workspace_setting()], "previewWorkers": 1},
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An opened folder whose .azureml/config.json names the workspace's tenant."""
    folder = tmp_path / "project"
    (folder / ".azureml").mkdir(parents=True)
    config = {
        "subscription_id": SUBSCRIPTION,
        "resource_group": RESOURCE_GROUP,
        "workspace_name": WORKSPACE,
        "tenant_id": GUEST_TENANT,
    }
    (folder / ".azureml" / "config.json").write_text(json.dumps(config))
    return folder


@pytest_lsp.fixture(config=SERVER)
async def lsp_project(  # type: ignore[no-untyped-def]
    lsp_client: LanguageClient, aml: AmlEnvironment, browser: FakeBrowser, project: Path
):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"previewWorkers": 1},
            workspace_folders=[types.WorkspaceFolder(project.as_uri(), "project")],
        )
    )
    yield
    await lsp_client.shutdown_session()


async def workspace_node(client: LanguageClient, refresh: bool = False) -> dict[str, Any]:
    roots = await request(client, "artifacts/roots", {"refresh": refresh})
    return next(n for n in roots["items"] if n["kind"] == "workspace")


async def sign_in_error(client: LanguageClient, params: dict[str, Any]) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as failed:
        await asyncio.wait_for(request(client, "artifacts/signIn", params), 60)
    return failed.value


def assert_clear(message: str) -> None:
    assert message.startswith("Browser sign-in did not complete: ")
    assert message.endswith("Use az login instead.")
    assert "Traceback" not in message and "eyJ" not in message and len(message) < 500


# -- through the server --------------------------------------------------------------------


async def test_browser_sign_in_lists_the_workspace_with_the_browser_token(
    lsp: LanguageClient,
    aml: AmlEnvironment,
    authority: StandinAuthority,
    browser: FakeBrowser,
    subjects: list[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = await workspace_node(lsp)
    assert before["errorKind"] == "notSignedIn" and "az login" in before["error"]
    assert subjects == []  # no token at all: nothing reached the service
    assert browser.log() == []  # the tree never opens a browser by itself

    az_calls = len(aml.az.calls())
    started = time.monotonic()
    result = await asyncio.wait_for(request(lsp, "artifacts/signIn", {"method": "browser"}), 60)
    elapsed = time.monotonic() - started
    assert result == {
        "method": "browser",
        "account": "browser.user@example.com",
        "tenantId": "00000000-0000-0000-0000-00000000000t",
        "authority": authority.host,
    }
    # MSAL's real flow against the authority: discovery, authorize (PKCE, nonce, form_post),
    # the code redeemed once, on the "organizations" tenant by default.
    authorize = authority.calls("authorize")
    assert len(authorize) == 1 and authorize[0].tenant == "organizations"
    query = authorize[0].params
    assert query["code_challenge_method"] == "S256" and query["response_mode"] == "form_post"
    assert query["nonce"] and query["state"] and ARM_AUDIENCE in query["scope"]
    redirect = urlsplit(query["redirect_uri"])
    assert redirect.scheme == "http" and redirect.hostname == "localhost"
    token_calls = authority.calls("token")
    assert [(c.params["grant_type"], c.status) for c in token_calls] == [
        ("authorization_code", 200)
    ]
    log = await asyncio.to_thread(browser.wait_for, "posted")  # it logs after the answer
    assert log[0].startswith(f"open {authority.url}/organizations/oauth2/v2.0/authorize")
    assert "posted client_info,code,state -> 200" in log  # to the real loopback server
    assert elapsed < 15

    # The extension then retries the node: the workspace works, with the browser's token.
    node = await workspace_node(lsp, refresh=True)
    assert "error" not in node and node["hasChildren"] is True
    experiments = await request(lsp, "artifacts/children", {"uri": f"{WS_URI}/experiments"})
    assert {n["name"] for n in experiments["items"]} == {"many", "pipelines", "train"}
    assert subjects and set(subjects) == {BROWSER_SUBJECT}
    issued = [jwt_claims(token) for token in authority.issued]
    assert [c["aud"] for c in issued] == [ARM_AUDIENCE]  # cached: one token for everything
    assert all("tid" not in claims for claims in issued)
    assert aml.az.calls()[az_calls:] == []  # the browser's credential comes first
    assert len(browser.opened()) == 1
    # The server's log (its stderr) holds no token, code or PKCE verifier.
    log_text = capfd.readouterr().err
    assert "signed in with a browser" in log_text
    secrets = [*authority.issued, *(c.params.get("code", "") for c in token_calls)]
    secrets += [c.params.get("code_verifier", "") for c in token_calls]
    assert all(secret and secret not in log_text for secret in secrets)
    assert "eyJ" not in log_text


async def test_signing_in_again_keeps_one_browser_credential_first(
    lsp: LanguageClient, aml: AmlEnvironment, authority: StandinAuthority, subjects: list[str]
) -> None:
    await request(lsp, "artifacts/signIn", {"method": "browser"})
    authority.subject = "second-user@example.com"
    await request(lsp, "artifacts/signIn", {"method": "browser"})
    aml.az.set(subject=AZ_SUBJECT)  # `az login` too: the browser sign-in still comes first
    await request(lsp, "artifacts/children", {"uri": f"{WS_URI}/experiments", "refresh": True})
    assert set(subjects) == {"second-user@example.com"}  # the latest sign-in, cache cleared


async def test_tenant_from_the_request_then_from_the_workspace_config(
    lsp_project: LanguageClient, authority: StandinAuthority
) -> None:
    await request(lsp_project, "artifacts/signIn", {"method": "browser", "uri": WS_URI})
    assert {c.tenant for c in authority.requests} == {GUEST_TENANT}  # config.json's tenant_id
    authority.reset()
    await request(
        lsp_project, "artifacts/signIn", {"method": "browser", "tenantId": "fabrikam.com"}
    )
    assert {c.tenant for c in authority.requests} == {"fabrikam.com"}


async def test_a_refused_sign_in_says_so_and_the_workspace_stays_signed_out(
    lsp: LanguageClient, authority: StandinAuthority, browser: FakeBrowser
) -> None:
    authority.deny = "access_denied"
    error = await sign_in_error(lsp, {"method": "browser"})
    assert error.code == -31003 and error.data["kind"] == "NotSignedIn"
    assert_clear(error.message)
    assert "refused" in error.message and "AADSTS65004" in error.message
    assert authority.calls("token") == []  # no code, nothing redeemed
    log = await asyncio.to_thread(browser.wait_for, "posted")
    assert "posted error,error_description,state -> 200" in log
    node = await workspace_node(lsp, refresh=True)
    assert node["errorKind"] == "notSignedIn"


async def test_no_browser_on_this_host_names_az_login(
    lsp: LanguageClient, authority: StandinAuthority, browser: FakeBrowser
) -> None:
    browser.set("fail")  # the launcher fails: a remote or headless host
    error = await sign_in_error(lsp, {"method": "browser"})
    assert_clear(error.message)
    assert "no web browser could be opened" in error.message
    assert "az login --use-device-code" in error.message
    assert authority.calls("authorize") == []


async def test_no_answer_from_the_browser_times_out(
    lsp: LanguageClient, browser: FakeBrowser
) -> None:
    browser.set("ignore")  # the tab stays open, the user never signs in
    started = time.monotonic()
    error = await sign_in_error(lsp, {"method": "browser", "timeoutMs": 1000})
    assert time.monotonic() - started < 10
    assert_clear(error.message)
    assert "no answer from the browser within 1 s" in error.message
    [redirect] = browser.opened()
    assert not listening(redirect)  # the loopback server is closed


async def test_cancel_stops_waiting_at_once_and_a_new_sign_in_works(
    lsp: LanguageClient, authority: StandinAuthority, browser: FakeBrowser
) -> None:
    browser.set("ignore")
    pending = asyncio.ensure_future(
        request(lsp, "artifacts/signIn", {"method": "browser"}, msg_id="sign-in-1")
    )
    await asyncio.to_thread(browser.wait_for, "open ")
    [redirect] = browser.opened()
    assert listening(redirect)
    started = time.monotonic()
    lsp.protocol.notify("$/cancelRequest", types.CancelParams(id="sign-in-1"))
    with pytest.raises(JsonRpcException) as cancelled:
        await asyncio.wait_for(pending, 30)
    assert cancelled.value.code == -32800
    assert time.monotonic() - started < 5  # not the 300 s sign-in timeout
    assert not listening(redirect)
    assert authority.calls("token") == []

    browser.set("complete")
    result = await asyncio.wait_for(request(lsp, "artifacts/signIn", {"method": "browser"}), 60)
    assert result["account"] == "browser.user@example.com"


async def test_the_browser_never_opens_again_by_itself(
    lsp: LanguageClient, authority: StandinAuthority, browser: FakeBrowser, subjects: list[str]
) -> None:
    authority.expires_in = 60  # under the 5-minute margin: every request asks MSAL again
    try:
        await request(lsp, "artifacts/signIn", {"method": "browser"})
        await request(lsp, "artifacts/children", {"uri": f"{WS_URI}/experiments"})
        assert set(subjects) == {BROWSER_SUBJECT}
        # MSAL refreshed silently with the refresh token: no browser.
        grants = [c.params["grant_type"] for c in authority.calls("token")]
        assert grants[0] == "authorization_code" and "refresh_token" in grants[1:]

        authority.revoke_refresh_tokens()  # the sign-in is over (revoked, or 90 days old)
        node = await workspace_node(lsp, refresh=True)
        assert node["errorKind"] == "notSignedIn" and "az login" in node["error"]
    finally:
        authority.expires_in = 3600
    assert len(browser.opened()) == 1 and len(authority.calls("authorize")) == 1


async def test_sign_in_parameters_are_checked(lsp: LanguageClient, browser: FakeBrowser) -> None:
    for params in (
        {},
        {"method": "password"},
        {"method": "browser", "tenantId": 7},
        {"method": "browser", "tenantId": "a/b"},
        {"method": "browser", "timeoutMs": -1},
    ):
        error = await sign_in_error(lsp, params)
        assert error.code == -32602, params
    assert browser.log() == []


def listening(uri: str) -> bool:
    parts = urlsplit(uri)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 80), 1):
            return True
    except OSError:
        return False


# -- in process ------------------------------------------------------------------------------


def test_a_browser_launcher_never_writes_on_the_servers_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The server's stdout is its JSON-RPC channel, and launchers (xdg-open, a browser
    reusing its session) print there: VS Code's client would fail on such a line."""
    import webbrowser

    from pyserver.backends.browser_sign_in import _QuietBrowser

    launcher = tmp_path / "launcher"
    launcher.write_text("#!/bin/sh\necho 'Opening in existing browser session.'\nexit $1\n")
    launcher.chmod(0o755)
    url = "https://127.0.0.1:1/organizations/oauth2/v2.0/authorize?state=s"
    assert _QuietBrowser(webbrowser.GenericBrowser([str(launcher), "0", "%s"])).open(url)
    assert capfd.readouterr().out == ""
    assert not _QuietBrowser(webbrowser.GenericBrowser([str(launcher), "3", "%s"])).open(url)
    assert capfd.readouterr().out == ""
    assert webbrowser.GenericBrowser([str(launcher), "0", "%s"]).open(url)  # unwrapped: it does
    assert "Opening in existing browser session." in capfd.readouterr().out


class _Credential:
    def __init__(self, name: str, delay: float = 0.0, fail: bool = False) -> None:
        self.name = name
        self.delay = delay
        self.fail = fail
        self.calls = 0

    def get_token(self, *scopes: str, **options: Any) -> Any:
        from azure.core.credentials import AccessToken
        from azure.identity import CredentialUnavailableError

        self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise CredentialUnavailableError(f"{self.name}: please run 'az login'")
        return AccessToken(f"{self.name}:{scopes[0]}", int(time.time()) + 3600)


def test_signing_in_first_keeps_the_cache_semantics_and_is_thread_safe() -> None:
    usual = _Credential("cli", delay=0.01)
    tokens = TokenProvider(usual)
    assert tokens.token("a/.default") == "cli:a/.default"
    assert tokens.token("a/.default") == "cli:a/.default" and usual.calls == 1  # cached

    browser = _Credential("browser", delay=0.01)
    seen: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            seen.append(tokens.token("a/.default"))
            seen.append(tokens.token("b/.default"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    tokens.sign_in_first(browser)
    switched = len(seen)
    time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    # Every token is whole; after the swap (and the cache cleared) only the browser's, each
    # scope asked once of it however many threads wanted it.
    assert set(seen) <= {
        "cli:a/.default",
        "cli:b/.default",
        "browser:a/.default",
        "browser:b/.default",
    }
    assert set(seen[switched + 16 :]) <= {"browser:a/.default", "browser:b/.default"}
    assert tokens.token("a/.default") == "browser:a/.default" and browser.calls == 2

    # The browser credential has nothing (refresh refused): the usual chain answers.
    browser.fail = True
    tokens.forget()
    assert tokens.token("a/.default") == "cli:a/.default"
    usual.fail = True
    tokens.forget()
    with pytest.raises(NotSignedIn) as signed_out:
        tokens.token("a/.default")
    assert signed_out.value.message.startswith("Not signed in to Azure.")
