"""A stand-in `az` executable, first on PATH, so azure-identity's real AzureCliCredential runs
it (`az account get-access-token --output json --resource ...`). What it answers is read from
a JSON file the tests rewrite: a token whose `exp` they choose, or "not logged in".
`az login` signs in: it sets the mode back to "ok" (the extension's "Sign in" runs it)."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TENANT = "00000000-0000-0000-0000-00000000000t"

_SCRIPT = """#!{python}
import json, sys, time
state = json.load(open({state!r}))
with open({calls!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:2] == ["login"]:
    state["mode"] = "ok"
    with open({state!r} + ".tmp", "w") as out:
        json.dump(state, out)
    import os
    os.replace({state!r} + ".tmp", {state!r})
    print(json.dumps([{{"id": {subscription!r}, "tenantId": {tenant!r}, "isDefault": True}}]))
    sys.exit(0)
if state["mode"] == "logged-out":
    sys.stderr.write("ERROR: Please run 'az login' to setup account.\\n")
    sys.exit(1)
args = sys.argv[1:]
resource = args[args.index("--resource") + 1] if "--resource" in args else (
    args[args.index("--scope") + 1] if "--scope" in args else "")
exp = int(time.time()) + state["expires_in"]
sys.path.insert(0, {here!r})
from fake_az import make_jwt
token = make_jwt(exp, resource, state["subject"])
print(json.dumps({{
    "accessToken": token,
    "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(exp)),
    "expires_on": exp,
    "subscription": {subscription!r},
    "tenant": {tenant!r},
    "tokenType": "Bearer",
}}))
"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(exp: int, audience: str = "", subject: str = "user@example.com") -> str:
    """An unsigned-looking JWT (the stand-in reads its claims, like a gateway would; so does
    Azurite's `--oauth basic`, which also wants an Azure AD issuer and `nbf`). No `tid`:
    with one, azureml-core checks the subscription against ARM's subscription list, which the
    stand-in does not serve (it serves the workspace's own REST endpoints)."""
    header = {"alg": "RS256", "typ": "JWT"}
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{TENANT}/",
        "exp": exp,
        "iat": now,
        "nbf": min(now, exp) - 300,
        "sub": subject,
    }
    signature = _b64(b"stand-in-signature-" + str(exp).encode())
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims = json.loads(base64.urlsafe_b64decode(padded))
    return claims if isinstance(claims, dict) else {}


class FakeAz:
    """`bin_dir/az`; put `bin_dir` first on PATH. `calls()` lists the argument lines it saw."""

    def __init__(self, folder: Path) -> None:
        self.bin_dir = folder / "bin"
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = folder / "az-state.json"
        self.calls_file = folder / "az-calls.log"
        self.calls_file.write_text("")
        self.set(expires_in=3600)
        script = self.bin_dir / "az"
        script.write_text(
            _SCRIPT.format(
                python=sys.executable,
                state=str(self.state_file),
                calls=str(self.calls_file),
                here=str(Path(__file__).parent),
                subscription=SUBSCRIPTION,
                tenant=TENANT,
            )
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def set(
        self, expires_in: int = 3600, mode: str = "ok", subject: str = "user@example.com"
    ) -> None:
        """`expires_in` seconds from each call (negative: an already expired token)."""
        state = {"expires_in": expires_in, "mode": mode, "subject": subject}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.state_file)

    def calls(self) -> list[str]:
        return [line for line in self.calls_file.read_text().splitlines() if line]
