# shellcheck shell=bash
# Shared set-up for scripts/test and scripts/demo: sourced, never run on its own.
#
# Installs missing Debian packages (only when a command they provide is missing), creates or
# reuses .venv with the project installed in editable mode (with its dev extras for the tests,
# without them for the demo), creates .venv-lowest with the lowest versions pyproject.toml
# allows (scripts/test-lowest), and installs the firmware tests' npm packages. Every failure
# stops the calling script with a message saying what could not be installed; nothing is
# skipped.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
VENV="$REPO_ROOT/.venv"
LOWEST_VENV="$REPO_ROOT/.venv-lowest"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

section() {
    printf '\n==== %s ====\n' "$*"
}

die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

# The Debian package that provides each command this project's scripts and tests run.
declare -A DEBIAN_PACKAGE_FOR=(
    [mosquitto]=mosquitto
    [mosquitto_passwd]=mosquitto
    [dbus-daemon]=dbus-daemon
    [dbus-monitor]=dbus-bin
    [busctl]=systemd
    [gdbus]=libglib2.0-bin
    [ip]=iproute2
    [openssl]=openssl
    # the compiled lean GET path, built at install (hatch_build.py); libc6-dev: its headers.
    [cc]="gcc libc6-dev"
    [node]="nodejs npm"
    [npm]=npm
    [chromium]=chromium
    # scripts/bench only (the C anchor of bench/c_anchor.py); the tests never need them.
    [coap-server-notls]=libcoap3-bin
    [coap-client-notls]=libcoap3-bin
    # scripts/bench only (bench/instructions.py counts instructions under callgrind).
    [valgrind]=valgrind
    [callgrind_control]=valgrind
)

_apt_updated=0

apt_install() {
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found: install these packages by hand: $*"
    [ "$(id -u)" -eq 0 ] \
        || die "missing Debian packages ($*): run as root so apt-get can install them"
    if [ "$_apt_updated" -eq 0 ]; then
        echo "apt-get update"
        apt-get update -qq || die "apt-get update failed"
        _apt_updated=1
    fi
    echo "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

have() {
    # mosquitto lives in /usr/sbin, which a non-root PATH may lack.
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}

# bootstrap_commands CMD...: make sure each command exists, installing its Debian package.
bootstrap_commands() {
    section "system packages"
    local cmd packages missing=()
    for cmd in "$@"; do
        [ -n "${DEBIAN_PACKAGE_FOR[$cmd]:-}" ] || die "no Debian package known for $cmd"
        if ! have "$cmd"; then
            read -ra packages <<<"${DEBIAN_PACKAGE_FOR[$cmd]}"
            missing+=("${packages[@]}")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        # shellcheck disable=SC2207  # package names have no spaces
        missing=($(printf '%s\n' "${missing[@]}" | sort -u))
        apt_install "${missing[@]}"
    fi
    for cmd in "$@"; do
        have "$cmd" || die "$cmd is still missing after installing its package"
    done
    echo "present: $*"
}

# bootstrap_system_python_module MODULE PACKAGE...: Debian's /usr/bin/python3 can import
# MODULE, installing PACKAGE... when it cannot (the AllJoyn tests run GDBus peers with
# python3-gi, a second D-Bus library beside the project's own).
bootstrap_system_python_module() {
    local module="$1"
    shift
    if ! /usr/bin/python3 -c "import $module" >/dev/null 2>&1; then
        apt_install "$@"
    fi
    /usr/bin/python3 -c "import $module" >/dev/null 2>&1 \
        || die "/usr/bin/python3 still cannot import $module after installing $*"
    echo "present: /usr/bin/python3 with $module"
}

# A Python >= 3.11 to build the venv from.
_find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# bootstrap_venv [dev|runtime]: .venv with the project installed in editable mode, with its
# dev extras (the default: tests, linters) or only what the project itself needs with its web
# page (the demo).
bootstrap_venv() {
    local level="${1:-dev}"
    case "$level" in
        dev | runtime) ;;
        *) die "bootstrap_venv: unknown install level $level (dev or runtime)" ;;
    esac
    section "python environment (.venv, $level)"
    if [ -x "$VENV/bin/python" ] \
        && ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "existing .venv has no working Python >= 3.11: recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        if ! python="$(_find_python)"; then
            apt_install python3 python3-venv
            python="$(_find_python)" || die "no Python >= 3.11 available (need python3.11 or newer)"
        fi
        if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
            # Debian splits venv/ensurepip into python3-venv.
            apt_install python3-venv
        fi
        echo "creating .venv with $python"
        "$python" -m venv "$VENV" || die "could not create .venv with $python"
    fi
    # The stamp holds the hash of pyproject.toml + Python version and what was installed
    # ("runtime": the project and its web page; "dev": with its dev extras). Dev extras
    # satisfy a runtime request; a runtime install after pyproject.toml changed drops the stamp back to
    # "runtime", so the next `scripts/test` brings the dev tools up to date again.
    local stamp="$VENV/.ocfaj-install-stamp" want have_hash="" have_level=""
    # The compiled GET path is built at install (hatch_build.py): its source counts too.
    want="$(cat pyproject.toml hatch_build.py bridge/ocf/lean_serve.c <("$VENV/bin/python" -V 2>&1) \
        | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ]; then
        read -r have_hash have_level <"$stamp" || true
        have_level="${have_level:-dev}"  # stamps of older scripts: always a dev install
    fi
    if [ "$have_hash" = "$want" ] && { [ "$have_level" = dev ] || [ "$level" = runtime ]; }; then
        echo "pyproject.toml unchanged since last install ($have_level): nothing to do"
        return 0
    fi
    local target='.[web]'
    if [ "$level" = dev ]; then
        target='.[dev]'
    fi
    echo "pip install -e '$target'"
    "$VENV/bin/python" -m pip install -q -e "$target" \
        || die "pip install -e '$target' failed"
    echo "$want $level" >"$stamp"
}

# bootstrap_lowest_venv: .venv-lowest with the project and its test extra, every direct
# dependency at the lowest version pyproject.toml allows (uv's --resolution lowest-direct; uv
# comes with the dev extras of .venv, so bootstrap_venv dev runs first). Rebuilt from scratch
# only when pyproject.toml or the Python version changed, so no newer version stays behind.
bootstrap_lowest_venv() {
    section "python environment (.venv-lowest, lowest allowed versions)"
    [ -x "$VENV/bin/uv" ] || die "$VENV/bin/uv is missing: run bootstrap_venv dev first"
    local stamp="$LOWEST_VENV/.ocfaj-install-stamp" want python
    python="$(_find_python)" || die "no Python >= 3.11 available (need python3.11 or newer)"
    want="$(cat pyproject.toml hatch_build.py bridge/ocf/lean_serve.c <("$python" -V 2>&1) \
        | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "pyproject.toml unchanged since last install: nothing to do"
        return 0
    fi
    rm -rf "$LOWEST_VENV"
    echo "creating .venv-lowest with $python"
    "$python" -m venv "$LOWEST_VENV" || die "could not create .venv-lowest with $python"
    echo "uv pip install --resolution lowest-direct -e '.[test,secure,web,uvloop]'"
    "$VENV/bin/uv" pip install -q --python "$LOWEST_VENV/bin/python" \
        --resolution lowest-direct -e '.[test,secure,web,uvloop]' \
        || die "uv pip install --resolution lowest-direct -e '.[test,secure,web,uvloop]' failed"
    echo "$want" >"$stamp"
}

# npm packages of the firmware tests (tests/firmware/package.json), when that package exists.
bootstrap_firmware_npm() {
    [ -f tests/firmware/package.json ] || return 0
    section "npm packages (tests/firmware)"
    local stamp="tests/firmware/node_modules/.ocfaj-install-stamp" want
    want="$(cat tests/firmware/package.json tests/firmware/package-lock.json 2>/dev/null \
        | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "tests/firmware/node_modules up to date"
        return 0
    fi
    npm install --prefix tests/firmware --no-audit --no-fund \
        || die "npm install --prefix tests/firmware failed"
    echo "$want" >"$stamp"
}
