#!/usr/bin/env bash
# serve-vscode.sh — serve real VS Code (code-server) with the extension installed, on loopback.
#
#   scripts/serve-vscode.sh --workspace DIR --port PORT --vsix FILE --python PY
#                           [--user-data-dir D] [--download-dir D2] [--host H]
#
# Creates an isolated home (HOME, TMPDIR, XDG_* and code-server's user-data and extensions
# folders) under D when --user-data-dir is given (kept, reused next time), else under a temp
# folder removed on exit; writes User/settings.json (quiet workbench settings plus
# amlArtifacts.python=PY, and amlArtifacts.downloadDirectory when --download-dir is given;
# amlArtifacts.python also in Machine/settings.json, where code-server reads it);
# installs the VSIX with `code-server --install-extension`; runs code-server on
# HOST:PORT (default 127.0.0.1) without auth opening DIR, prints the URL and runs until
# interrupted. Ctrl-C (or SIGTERM) stops code-server and everything it started.
# code-server comes from $TOOLS_DIR/bin/code-server (scripts/install-tools.sh, `make tools`).
set -euo pipefail

TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/aml-artifacts-explorer}
CODE_SERVER=${CODE_SERVER:-$TOOLS_DIR/bin/code-server}

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

WORKSPACE= PORT= VSIX= PY= BASE= DOWNLOADS= HOST=127.0.0.1
while [[ $# -gt 0 ]]; do
  case $1 in
    --workspace) WORKSPACE=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --vsix) VSIX=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --user-data-dir) BASE=$2; shift 2 ;;
    --download-dir) DOWNLOADS=$2; shift 2 ;;
    --host) HOST=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "serve-vscode: unknown argument $1" >&2; usage ;;
  esac
done
[[ -n $WORKSPACE && -n $PORT && -n $VSIX && -n $PY ]] || usage
[[ -d $WORKSPACE ]] || { echo "serve-vscode: no folder $WORKSPACE" >&2; exit 1; }
[[ -f $VSIX ]] || { echo "serve-vscode: no extension package $VSIX (make vsix)" >&2; exit 1; }
[[ -x $PY ]] || { echo "serve-vscode: $PY is not an executable python" >&2; exit 1; }
[[ -x $CODE_SERVER ]] || { echo "serve-vscode: no $CODE_SERVER (run: make tools)" >&2; exit 1; }
WORKSPACE=$(cd "$WORKSPACE" && pwd)
VSIX=$(cd "$(dirname "$VSIX")" && pwd)/$(basename "$VSIX")
[[ $PY == /* ]] || PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
  echo "serve-vscode: port $PORT on $HOST is already in use (make demo PORT=<other>)" >&2
  exit 1
fi

KEEP=1
if [[ -z $BASE ]]; then
  BASE=$(mktemp -d "${TMPDIR:-/tmp}/aml-vscode-XXXXXX")
  KEEP=0
fi
mkdir -p "$BASE"
BASE=$(cd "$BASE" && pwd)
export HOME=$BASE/home TMPDIR=$BASE/tmp
export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share XDG_CACHE_HOME=$HOME/.cache
USER_DATA=$BASE/user-data EXTENSIONS=$BASE/extensions
mkdir -p "$HOME" "$TMPDIR" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$USER_DATA/User" "$EXTENSIONS"
# Inside a VS Code terminal these would point code-server at the outer instance.
while IFS= read -r v; do unset "$v"; done < <(env | sed -n 's/^\(VSCODE_[A-Za-z0-9_]*\)=.*/\1/p')

CS_PID=
cleanup() {
  trap - INT TERM EXIT
  # Our output may go to a pipe whose reader died with the same Ctrl-C (make demo | tee):
  # never let a write kill us before code-server is stopped.
  trap '' PIPE
  if [[ -n $CS_PID ]] && kill -0 "$CS_PID" 2>/dev/null; then
    kill -TERM -- "-$CS_PID" 2>/dev/null || true
    echo "serve-vscode: stopping code-server" >&2 || true
    for _ in $(seq 50); do kill -0 "$CS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$CS_PID" 2>/dev/null || true
  fi
  # Anything else started with this home (the extension's python server, ...).
  local pid
  for pid in $(grep -lzxF "HOME=$HOME" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    [[ $pid != "$$" ]] && kill -KILL "$pid" 2>/dev/null || true
  done
  [[ $KEEP == 1 ]] || rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Settings: JSON written by node so paths are escaped properly. code-server is a remote
# window: machine(-overridable) settings such as amlArtifacts.python are read from
# Machine/settings.json once the remote configuration loads, so that one goes there too
# (only that one: a Machine value overrides what the extension writes to User settings).
mkdir -p "$USER_DATA/Machine"
AML_PY=$PY AML_DL=$DOWNLOADS node -e '
const fs = require("fs");
const ours = { "amlArtifacts.python": process.env.AML_PY };
if (process.env.AML_DL) ours["amlArtifacts.downloadDirectory"] = process.env.AML_DL;
const quiet = {
  "workbench.startupEditor": "none",
  "workbench.reduceMotion": "on",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "git.enabled": false,
  "security.workspace.trust.enabled": false,
  "chat.disableAIFeatures": true,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
};
function merge(f, s) {
  let old = {};
  try { old = JSON.parse(fs.readFileSync(f, "utf8")); } catch {}
  fs.writeFileSync(f, JSON.stringify({ ...old, ...s }, null, 2) + "\n");
}
merge(process.argv[1], { ...quiet, ...ours });
merge(process.argv[2], { "amlArtifacts.python": ours["amlArtifacts.python"] });
' "$USER_DATA/User/settings.json" "$USER_DATA/Machine/settings.json"
[[ -z $DOWNLOADS ]] || mkdir -p "$DOWNLOADS"

COMMON=(--user-data-dir "$USER_DATA" --extensions-dir "$EXTENSIONS")
echo "serve-vscode: installing $(basename "$VSIX")" >&2
"$CODE_SERVER" "${COMMON[@]}" --install-extension "$VSIX" --force >"$BASE/install-extension.log" 2>&1 ||
  { cat "$BASE/install-extension.log" >&2; exit 1; }

LOG=$BASE/code-server.log
setsid "$CODE_SERVER" "${COMMON[@]}" --bind-addr "$HOST:$PORT" --auth none --disable-telemetry \
  --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$WORKSPACE" >"$LOG" 2>&1 &
CS_PID=$!

for _ in $(seq 600); do
  if ! kill -0 "$CS_PID" 2>/dev/null; then
    echo "serve-vscode: code-server exited; its log:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && break
  sleep 0.1
done

ENC=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$WORKSPACE")
echo
echo "  VS Code with AzureML Artifact Explorer: http://$HOST:$PORT/?folder=$ENC"
echo "  (workspace $WORKSPACE; log $LOG; Ctrl-C to stop)"
echo
wait "$CS_PID" || true
