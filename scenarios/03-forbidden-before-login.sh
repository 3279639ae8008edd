#!/usr/bin/env bash
# Scenario 3: without a session cookie only the public pages answer; everything else is 403 with
# an HTML page, even paths that do not exist (so nobody can probe what is there).
# Run against a running stack (`make run`); the stack's settings come from the environment
# (see lib.sh).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

for path in /secret.html /images/coast.jpg /cookie.html /no-such-file.html; do
  echo "== GET $path without a cookie"
  status=$(fetch "$path")
  [ "$status" = 403 ] || fail "GET $path without a cookie: expected 403, got $status"
  ctype=$(header Content-Type)
  [[ $ctype == text/html* ]] || fail "GET $path: expected an HTML 403 page, got Content-Type '$ctype'"
  echo "   403, $ctype"
done

echo "== GET / without a cookie (the login page is public)"
status=$(fetch /)
[ "$status" = 200 ] || fail "GET /: expected 200, got $status"
grep -q 'name="passwd"' "$work/body" || fail "GET /: expected the login form (a passwd field)"
echo "   200, the login form"

echo "PASS: forbidden before login"
