# Shared steps of the peer venv scripts (*_env.sh), sourced by them:
#   source "$HERE/venv_common.sh"; peer_env_setup NAME "$@"
# sets VENV (absolute; first argument or benchmarks/.venvs/NAME), SYS_PY, STAMP and log().
# Each script keeps its own package lists and checks; these are the steps they share.

peer_env_setup() {
  PEER_NAME="$1"
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  VENV="${2:-$repo/benchmarks/.venvs/$PEER_NAME}"
  mkdir -p "$(dirname "$VENV")"
  VENV="$(cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")"  # absolute: the printed path works anywhere
  SYS_PY=/usr/bin/python3  # Debian's python; never a pyenv/conda one
  STAMP="$VENV/.coreg-$PEER_NAME-stamp"
}

log() { echo "[${PEER_NAME}_env] $*" >&2; }

# True when the venv exists and was built for exactly this stamp text (the pin set).
venv_up_to_date() {
  [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$1" ]]
}

# apt-get install the given Debian packages that are not installed yet (as root or via sudo).
apt_ensure() {
  local missing=() p SUDO=""
  for p in "$@"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages already installed"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { log "need root (or sudo) to apt-get install: ${missing[*]}"; exit 1; }
    SUDO=sudo
  fi
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Create the venv if missing; options (e.g. --system-site-packages) go to `python -m venv`.
venv_ensure() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    "$SYS_PY" -m venv "$@" "$VENV"
  fi
}
