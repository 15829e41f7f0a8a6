#!/usr/bin/env bash
# Runs a command inside a fresh D-Bus session with an unlocked, throwaway gnome-keyring, so
# keytar talks to a real Secret Service (used by .ci/run; by hand:
# `bash scripts/with-keyring.sh npx vitest run test/cli/keychain.test.ts`).
#
# - The keyring files and the daemon's control socket live in a temp dir that is removed on
#   exit; a real user keyring is never touched. Only the daemon sees the temp XDG dirs, so the
#   wrapped command keeps the caller's XDG_DATA_HOME (env-paths, hush homes) unchanged.
# - The daemon exits by itself when the session bus goes away with dbus-run-session.
# - Already inside such a session (HUSH_IN_KEYRING_SESSION=1): just runs the command.
# - dbus-run-session or gnome-keyring-daemon missing: runs the command without a keychain
#   (the keychain tests then skip with a visible reason) and says so.
# The exit status is the command's.
set -euo pipefail
if [ "${HUSH_IN_KEYRING_SESSION:-}" = 1 ]; then
  exec "$@"
fi
if [ "$#" -eq 0 ]; then
  echo "usage: with-keyring.sh COMMAND [ARGS...]" >&2
  exit 2
fi
if ! command -v dbus-run-session >/dev/null || ! command -v gnome-keyring-daemon >/dev/null; then
  echo "with-keyring: dbus-run-session or gnome-keyring-daemon missing; running without a keychain" >&2
  exec "$@"
fi
export HUSH_IN_KEYRING_SESSION=1
exec dbus-run-session -- bash -c '
  set -uo pipefail
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/hush-keyring.XXXXXX")"
  trap "rm -rf \"\$tmp\"" EXIT
  mkdir -m 0700 "$tmp/data" "$tmp/run"
  # --unlock reads the (throwaway) password on stdin, starts the daemon on this session bus,
  # creates the "login" collection and makes it the unlocked default one.
  if ! printf "%s" "hush-ci-keyring-pw" |
      XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/run" \
      gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
    echo "with-keyring: gnome-keyring-daemon failed to start; running without a keychain" >&2
    unset HUSH_IN_KEYRING_SESSION
  fi
  "$@"
' bash "$@"
