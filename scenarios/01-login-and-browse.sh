#!/usr/bin/env bash
# Scenario 1: log in with a cookie jar, then browse the secret page, an image and /cookie.html.
# Run against a running stack (`make run`); the stack's settings come from the environment
# (see lib.sh).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

echo "== POST /login as $DEMO_USERID (cookie jar $jar)"
status=$(fetch /login -c "$jar" --data-urlencode "userid=$DEMO_USERID" \
  --data-urlencode "passwd=$DEMO_PASSWORD")
[ "$status" = 303 ] || fail "POST /login: expected 303, got $status"
echo "   303 -> Location: $(header Location)"
set_cookie=$(header Set-Cookie)
[[ $set_cookie == session=* ]] || fail "POST /login: expected Set-Cookie: session=..., got '$set_cookie'"
echo "   Set-Cookie: ${set_cookie%%=*}=...;${set_cookie#*;}"
grep -q 'session' "$jar" || fail "the cookie jar holds no session cookie"

echo "== GET /secret.html with the cookie"
status=$(fetch /secret.html -b "$jar")
[ "$status" = 200 ] || fail "GET /secret.html: expected 200, got $status"
grep -qi '<img' "$work/body" || fail "GET /secret.html: the page shows no images"
echo "   200, $(wc -c <"$work/body") bytes of HTML with $(grep -oi '<img' "$work/body" | wc -l) images"

echo "== GET /images/coast.jpg with the cookie"
status=$(fetch /images/coast.jpg -b "$jar")
[ "$status" = 200 ] || fail "GET /images/coast.jpg: expected 200, got $status"
ctype=$(header Content-Type)
[[ $ctype == image/jpeg* ]] || fail "GET /images/coast.jpg: expected Content-Type image/jpeg, got '$ctype'"
echo "   200, $ctype, $(wc -c <"$work/body") bytes"

echo "== GET /cookie.html with the cookie"
status=$(fetch /cookie.html -b "$jar")
[ "$status" = 200 ] || fail "GET /cookie.html: expected 200, got $status"
grep -q "Hello $DEMO_USERID" "$work/body" || fail "GET /cookie.html: no 'Hello $DEMO_USERID' on the page"
left=$(sed 's/<[^>]*>//g' "$work/body" | grep -o '[0-9][0-9]* seconds left' | head -n 1) ||
  fail "GET /cookie.html: no '<N> seconds left' on the page"
echo "   200: Hello $DEMO_USERID, $left"

echo "PASS: login and browse"
