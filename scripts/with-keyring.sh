#!/usr/bin/env bash
# Runs a command inside a fresh D-Bus session with an unlocked gnome-keyring, so keytar talks
# to a real Secret Service (used by .ci/run and by `npm run test:keyring` on a desktop-less box).
# If already inside a session that has a Secret Service, just runs the command.
set -euo pipefail
if [ "${HUSH_IN_KEYRING_SESSION:-}" = 1 ]; then
  exec "$@"
fi
if ! command -v dbus-run-session >/dev/null || ! command -v gnome-keyring-daemon >/dev/null; then
  echo "with-keyring: dbus-run-session or gnome-keyring-daemon missing; running without a keychain" >&2
  exec "$@"
fi
export HUSH_IN_KEYRING_SESSION=1
exec dbus-run-session -- bash -c '
  # The keyring lives in a throwaway XDG data dir so nothing touches a real user keyring.
  export XDG_DATA_HOME="$(mktemp -d)"
  export HOME_KEYRING_DIR="$XDG_DATA_HOME/keyrings"
  eval "$(printf "ci-keyring-pw" | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)" || true
  eval "$(gnome-keyring-daemon --start --components=secrets 2>/dev/null)" || true
  export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
  exec "$@"
' bash "$@"
