#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (Playwright's own browser download cannot be
# fetched here). Install it when missing and we are root; otherwise say so and let the
# browser tests report it.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "chromium is not installed and cannot be installed here: the browser tests will fail." >&2
exit 0
