# shellcheck shell=bash
# deps.sh: sourced by tests/run.sh and deploy/quickstart.sh.
# sd_ensure_packages PKG...: installs the Debian packages that are missing (as root, with one
# apt-get update first, only when something is missing). Not root: fails listing what is missing.

sd_missing_packages() {
    local p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        if [[ "$st" != "install ok installed" ]]; then
            printf '%s\n' "$p"
        fi
    done
}

sd_ensure_packages() {
    local missing
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "deps: dpkg-query not found; this script expects Debian 12 (bookworm)" >&2
        return 1
    fi
    mapfile -t missing < <(sd_missing_packages "$@")
    if ((${#missing[@]} == 0)); then
        echo "deps: all ${#} packages present"
        return 0
    fi
    echo "deps: missing: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "deps: not root; install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    # the postgresql package starts a system cluster on 5432; tests use private clusters
    # and do not need it, but leave it alone: it may be the operator's.
}
