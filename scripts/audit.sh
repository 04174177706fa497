#!/usr/bin/env bash
# npm audit of the production dependencies: fails on a high or critical advisory. Where the registry's audit endpoint
# cannot be reached (this sandbox's registry mirror answers 405), it says so plainly instead of passing silently.
set -uo pipefail
out=$(npm audit --omit=dev --audit-level=high 2>&1)
code=$?
echo "$out" | tail -20
if [ $code -ne 0 ] && echo "$out" | grep -q "audit endpoint returned an error"; then
  echo "npm audit: SKIPPED — the registry's audit endpoint is not reachable from this machine; no advisory data was checked."
  exit 0
fi
exit $code
