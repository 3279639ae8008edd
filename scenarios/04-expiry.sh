#!/usr/bin/env bash
# Scenario 4: a session lasts SESSION_TTL seconds. After that the client drops the cookie
# (Max-Age), and the server refuses it too when an old cookie is replayed by hand.
# Run against a running stack (`make run`); the stack's settings come from the environment
# (see lib.sh).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

echo "== POST /login as $DEMO_USERID"
status=$(fetch /login -c "$jar" --data-urlencode "userid=$DEMO_USERID" \
  --data-urlencode "passwd=$DEMO_PASSWORD")
[ "$status" = 303 ] || fail "POST /login: expected 303, got $status"
set_cookie=$(header Set-Cookie)
cookie=${set_cookie%%;*}
[[ $cookie == session=?* ]] || fail "POST /login: expected Set-Cookie: session=..., got '$set_cookie'"
max_age=$(grep -io 'max-age=[0-9]*' <<<"$set_cookie" | cut -d= -f2 || true)
echo "   303, cookie Max-Age=${max_age:-<none>}"
[ "$max_age" = "$SESSION_TTL" ] ||
  fail "expected Max-Age=$SESSION_TTL (SESSION_TTL), got '${max_age:-none}'; set SESSION_TTL to the stack's value"

echo "== GET /cookie.html right away"
status=$(fetch /cookie.html -b "$jar")
[ "$status" = 200 ] || fail "GET /cookie.html: expected 200, got $status"
left=$(sed 's/<[^>]*>//g' "$work/body" | grep -o '[0-9][0-9]* seconds left' | head -n 1) ||
  fail "GET /cookie.html: no '<N> seconds left' on the page"
echo "   200: $left"

wait_s=$((SESSION_TTL + 2))
echo "== sleeping ${wait_s}s (SESSION_TTL=$SESSION_TTL + 2)"
sleep "$wait_s"

echo "== GET /cookie.html with the cookie jar (curl has dropped the expired cookie)"
status=$(fetch /cookie.html -b "$jar")
[ "$status" = 403 ] || fail "GET /cookie.html after expiry: expected 403, got $status"
echo "   403"

echo "== GET /secret.html replaying the expired cookie by hand (server-side age check)"
status=$(fetch /secret.html -H "Cookie: $cookie")
[ "$status" = 403 ] || fail "GET /secret.html with an expired cookie: expected 403, got $status"
echo "   403"

echo "PASS: the session expired after ${SESSION_TTL}s"
