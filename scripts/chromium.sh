#!/usr/bin/env bash
# Debian's Chromium for the browser test (Playwright drives it; it never downloads a browser).
# Installs it as root when missing; elsewhere says what to install. LIFTBRIDGE_NB_CHROMIUM names another.
set -euo pipefail
browser=${LIFTBRIDGE_NB_CHROMIUM:-/usr/bin/chromium}
[ -x "$browser" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "chromium.sh: $browser is missing: install Debian's chromium (apt-get install chromium)" \
       "or set LIFTBRIDGE_NB_CHROMIUM to a Chromium binary" >&2
  exit 1
fi
echo "chromium.sh: installing Debian's chromium" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
