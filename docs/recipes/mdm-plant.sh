#!/bin/sh
# MDM (Jamf, Intune, Kandji, ...) script: installs tripkey, plants a canary AWS profile for the
# machine's user and installs the hourly refresh. Runs as root, as MDM scripts do; plants as
# the console user. Safe to run again: a host that already has a canary keeps it.
#
# Set in the MDM's script parameters or environment:
#   TRIPKEY_SERVER         the tripkey server, e.g. https://tripkey.corp.example:8470
#   TRIPKEY_TOKEN          an issuer token allowed the labels host, user, os and location
#   TRIPKEY_DOWNLOAD_URL   where this platform's tripkey binary is (https:// or file://)
#   TRIPKEY_SHA256         its SHA-256, checked before it is installed
# Optional:
#   TRIPKEY_KIND           iam-user (default: no expiry) or federation / role-session
#   TRIPKEY_USER           whom to plant for [default: the console user, else the caller]
#   TRIPKEY_INSTALL_DIR    [default: /usr/local/bin]
#   TRIPKEY_HOME           that user's home [default: from the user database]
#   TRIPKEY_INSTALL_TIMER  0 to skip the hourly refresh (an image that runs it otherwise)
set -eu

: "${TRIPKEY_SERVER:?set TRIPKEY_SERVER to the tripkey server URL}"
: "${TRIPKEY_TOKEN:?set TRIPKEY_TOKEN to an issuer token}"
: "${TRIPKEY_DOWNLOAD_URL:?set TRIPKEY_DOWNLOAD_URL to the tripkey binary for this platform}"
: "${TRIPKEY_SHA256:?set TRIPKEY_SHA256 to the binary's SHA-256}"
kind=${TRIPKEY_KIND:-iam-user}
install_dir=${TRIPKEY_INSTALL_DIR:-/usr/local/bin}

user=${TRIPKEY_USER:-}
if [ -z "$user" ] && [ "$(uname)" = Darwin ]; then
    user=$(stat -f%Su /dev/console)
fi
[ -n "$user" ] || user=$(id -un)
home=${TRIPKEY_HOME:-$(eval echo "~$user")}

download=$(mktemp)
trap 'rm -f "$download"' EXIT
curl --fail --silent --show-error --location --output "$download" "$TRIPKEY_DOWNLOAD_URL"
if command -v sha256sum >/dev/null; then
    actual=$(sha256sum "$download" | cut -d' ' -f1)
else
    actual=$(shasum -a 256 "$download" | cut -d' ' -f1)
fi
if [ "$actual" != "$TRIPKEY_SHA256" ]; then
    echo "tripkey download has SHA-256 $actual, expected $TRIPKEY_SHA256; not installed" >&2
    exit 1
fi
mkdir -p "$install_dir"
install -m 0755 "$download" "$install_dir/tripkey"

# As the user, in the user's HOME, with the token in the environment rather than argv.
as_user() {
    if [ "$(id -un)" = "$user" ]; then
        env HOME="$home" TRIPKEY_SERVER="$TRIPKEY_SERVER" TRIPKEY_TOKEN="$TRIPKEY_TOKEN" "$@"
    else
        sudo -u "$user" env HOME="$home" TRIPKEY_SERVER="$TRIPKEY_SERVER" \
            TRIPKEY_TOKEN="$TRIPKEY_TOKEN" "$@"
    fi
}

if as_user "$install_dir/tripkey" plant --list --json | grep -q '"canary_id"'; then
    echo "a tripkey canary is planted for $user already"
else
    as_user "$install_dir/tripkey" plant --kind "$kind" --label "managed_by=mdm"
fi
if [ "${TRIPKEY_INSTALL_TIMER:-1}" != 0 ]; then
    as_user "$install_dir/tripkey" plant --install-timer
fi
