#!/usr/bin/env bash
# Banned-function check (STYLE.md): functions that overflow buffers, hide
# errors or use global state. Fails listing each use as file:line.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"
banned='sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gmtime|localtime|sscanf|gets|strncpy|asctime|ctime'
hits=$(grep -rnE --include='*.c' --include='*.h' "(^|[^_a-zA-Z0-9.>])($banned)[[:space:]]*\(" \
         cmd k8sclient controller quay storage tests bench 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "banned functions used (see STYLE.md; use snprintf, strtol/strtoul, gmtime_r, ...):"
  echo "$hits"
  exit 1
fi
echo "banned-function check: clean"
