#!/bin/sh
# compose-keys.sh: the `keys` service of docker-compose.yml, the CURVE certificates of the
# stack (docs/security.md). It runs in the collector image as root, writes its volumes, and
# gives every secret to uid 10001 (the user "statusd" of both images), mode 0600:
#   /keys/collector     the collector's pair (collector.cert, collector.cert_secret)
#   /keys/agents.d      public certificates of the admitted agents (the collector's
#                       --agents-dir, read again every second)
#   /keys/agent/NAME    one volume per agent of the stack: its pair and collector.cert
#
#   init              (default) make what is missing: the collector's pair, then for each
#                     NAME:REGION in STATUSD_KEYS_AGENTS a pair in /keys/agent/NAME, its
#                     public half enrolled in agents.d; nothing existing is replaced
#   enrol NAME        admit an agent of another host: its public NAME.cert on stdin
#                     (docker-compose run --rm -T keys enrol NAME < NAME.cert)
#   revoke NAME       delete agents.d/NAME.cert (the collector drops the agent within 1 s)
#   collector-cert    print the collector's public certificate (for agents elsewhere)
#   list              the admitted certificates
set -eu

KEYS=/keys
OWNER=${STATUSD_KEYS_UID:-10001}

die() {
    echo "keys: $*" >&2
    exit 1
}

# names are file names and agent ids: what statusd-keygen accepts
valid_name() {
    case "$1" in
        "" | . | .. | *[!A-Za-z0-9._@:-]*) return 1 ;;
    esac
    [ "${#1}" -le 128 ]
}

# install SRC as agents.d/NAME.cert in one rename (the collector never reads half a file)
admit() {
    cp "$1" "$KEYS/agents.d/.$2.cert.tmp"
    chmod 0644 "$KEYS/agents.d/.$2.cert.tmp"
    mv -f "$KEYS/agents.d/.$2.cert.tmp" "$KEYS/agents.d/$2.cert"
}

init() {
    if [ ! -d "$KEYS/collector" ] || [ ! -d "$KEYS/agents.d" ]; then
        die "no volumes at $KEYS/collector and $KEYS/agents.d"
    fi
    if [ ! -f "$KEYS/collector/collector.cert_secret" ]; then
        statusd-keygen --dir "$KEYS/collector" --force collector >/dev/null
        echo "keys: made the collector's certificate"
    fi
    chown "$OWNER:$OWNER" "$KEYS/collector/collector.cert_secret"
    chmod 0600 "$KEYS/collector/collector.cert_secret"
    for spec in ${STATUSD_KEYS_AGENTS:-}; do
        name=${spec%%:*}
        region=
        case "$spec" in *:*) region=${spec#*:} ;; esac
        valid_name "$name" || die "STATUSD_KEYS_AGENTS: bad agent name in \"$spec\""
        dir="$KEYS/agent/$name"
        [ -d "$dir" ] || die "no volume mounted at $dir for agent $name"
        if [ ! -f "$dir/$name.cert_secret" ]; then
            statusd-keygen --dir "$dir" ${region:+--region "$region"} --force "$name" >/dev/null
            echo "keys: made the certificate of agent $name${region:+ (region $region)}"
        fi
        chown "$OWNER:$OWNER" "$dir/$name.cert_secret"
        chmod 0600 "$dir/$name.cert_secret"
        cp "$KEYS/collector/collector.cert" "$dir/.collector.cert.tmp"
        chmod 0644 "$dir/.collector.cert.tmp"
        mv -f "$dir/.collector.cert.tmp" "$dir/collector.cert"
        admit "$dir/$name.cert" "$name"
    done
    admitted=
    for f in "$KEYS"/agents.d/*.cert; do
        [ -f "$f" ] && admitted="$admitted ${f##*/}"
    done
    echo "keys: admitted agents:${admitted:- none}"
}

cmd=${1:-init}
[ $# -gt 0 ] && shift
case "$cmd" in
    init)
        init
        ;;
    enrol | enroll)
        if [ $# -ne 1 ] || ! valid_name "$1"; then die "usage: enrol NAME < NAME.cert"; fi
        tmp=$(mktemp)
        trap 'rm -f "$tmp"' EXIT
        head -c 65536 >"$tmp"
        grep -q 'public-key' "$tmp" || die "stdin is not a certificate (no public-key)"
        if grep -q 'secret-key' "$tmp"; then
            die "stdin holds a SECRET key: send NAME.cert, never NAME.cert_secret" \
                "(and make a new pair: this one is no longer secret)"
        fi
        admit "$tmp" "$1"
        echo "keys: admitted $1 ($(grep -E '^ +(name|region) = ' "$tmp" | tr -s ' ' | tr '\n' ' '))"
        ;;
    revoke)
        if [ $# -ne 1 ] || ! valid_name "$1"; then die "usage: revoke NAME"; fi
        [ -f "$KEYS/agents.d/$1.cert" ] || die "no $1.cert in agents.d"
        rm -f "$KEYS/agents.d/$1.cert"
        echo "keys: revoked $1"
        ;;
    collector-cert)
        cat "$KEYS/collector/collector.cert"
        ;;
    list)
        for f in "$KEYS"/agents.d/*.cert; do
            [ -f "$f" ] || continue
            echo "$(basename "$f"): $(grep -E '^ +(name|region) = ' "$f" | tr -s ' ' | tr '\n' ' ')"
        done
        ;;
    *)
        die "unknown command \"$cmd\" (init, enrol NAME, revoke NAME, collector-cert, list)"
        ;;
esac
