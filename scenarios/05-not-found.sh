#!/usr/bin/env bash
# Scenario 5: logged in, a page that does not exist is an HTML 404 (before login it is a 403,
# see 03-forbidden-before-login.sh).
# Run against a running stack (`make run`); the stack's settings come from the environment
# (see lib.sh).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

login

echo "== GET /no-such-page.html with the cookie"
status=$(fetch /no-such-page.html -b "$jar")
[ "$status" = 404 ] || fail "GET /no-such-page.html: expected 404, got $status"
ctype=$(header Content-Type)
[[ $ctype == text/html* ]] || fail "GET /no-such-page.html: expected an HTML page, got Content-Type '$ctype'"
grep -qi '<html' "$work/body" || fail "GET /no-such-page.html: the body is not an HTML page"
echo "   404, $ctype, $(wc -c <"$work/body") bytes"

echo "PASS: not found"
