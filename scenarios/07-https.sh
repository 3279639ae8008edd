#!/usr/bin/env bash
# Scenario 7: HTTPS. The proxy terminates TLS (PROXY_TLS_CERT/PROXY_TLS_KEY, see `make certs`):
# curl trusts the local CA, the responses carry HSTS, keep-alive counts down as over plain HTTP,
# login sets the Secure __Host-session cookie, and the plain redirect listener answers 308.
# Needs a stack with TLS, e.g. after `make certs`:
#   PROXY_PORT=10443 PROXY_TLS_CERT=var/tls/cert.pem PROXY_TLS_KEY=var/tls/key.pem \
#   PROXY_HTTP_REDIRECT_PORT=10080 make run
# HTTPS_URL, HTTP_REDIRECT_URL (empty: no redirect listener), CA_FILE, DEMO_USERID and
# DEMO_PASSWORD override the defaults.
set -euo pipefail

HTTPS_URL=${HTTPS_URL:-https://localhost:10443}
HTTP_REDIRECT_URL=${HTTP_REDIRECT_URL-http://localhost:10080}
CA_FILE=${CA_FILE:-var/tls/ca.pem}
DEMO_USERID=${DEMO_USERID:-demo}
DEMO_PASSWORD=${DEMO_PASSWORD:-gatehouse}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar=$work/cookies.txt

fail() {
  echo "FAIL: $*" >&2
  [ -s "$work/headers" ] && { echo "--- last response headers:" >&2; cat "$work/headers" >&2; }
  exit 1
}
[ -r "$CA_FILE" ] || fail "no CA file at $CA_FILE (run \`make certs\`, or set CA_FILE)"
header() { grep -i "^$1:" "$work/headers" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# https PATH [curl options...]: prints the status; headers in $work/headers, body in $work/body.
https() {
  local path=$1
  shift
  curl -sS --cacert "$CA_FILE" -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" \
    "$HTTPS_URL$path" || fail "no HTTPS answer from $HTTPS_URL$path"
}

echo "== GET / over TLS, trusting $CA_FILE"
status=$(https /)
[ "$status" = 200 ] || fail "GET /: expected 200, got $status"
hsts=$(header Strict-Transport-Security)
[ "$hsts" = "max-age=31536000" ] || fail "expected Strict-Transport-Security, got '$hsts'"
echo "   200, Strict-Transport-Security: $hsts"

echo "== two URLs, one TLS connection"
curl -sS -v --cacert "$CA_FILE" -o /dev/null -o /dev/null "$HTTPS_URL/" "$HTTPS_URL/favicon.ico" \
  2>"$work/trace" || fail "curl failed on the keep-alive run"
grep -Eq 'Re-?using existing connection' "$work/trace" || fail "curl did not re-use the connection"
counts=$(grep -i '^< Keep-Alive:' "$work/trace" | tr -d '\r' | sed 's/.*max=//' | paste -sd' ')
[ "$counts" = "99 98" ] || fail "expected Keep-Alive max=99 then 98, got '$counts'"
echo "   re-used, Keep-Alive max=99, 98"

echo "== POST /login as $DEMO_USERID"
status=$(https /login -c "$jar" --data-urlencode "userid=$DEMO_USERID" \
  --data-urlencode "passwd=$DEMO_PASSWORD")
[ "$status" = 303 ] || fail "POST /login: expected 303, got $status"
cookie=$(header Set-Cookie)
case "$cookie" in
  session=*) fail "the auth service predates __Host-session under TLS (got '$cookie')" ;;
  __Host-session=*\;*Secure*) echo "   303, Set-Cookie: ${cookie%%=*}=...; ${cookie#*; }" ;;
  *) fail "expected a Secure __Host-session cookie, got '$cookie'" ;;
esac

echo "== GET /secret.html with the cookie jar"
status=$(https /secret.html -b "$jar")
[ "$status" = 200 ] || fail "GET /secret.html: expected 200, got $status"
echo "   200"

if [ -n "$HTTP_REDIRECT_URL" ]; then
  echo "== GET $HTTP_REDIRECT_URL/secret.html?x=1 (plain HTTP)"
  : >"$work/headers"
  status=$(curl -sS -o /dev/null -D "$work/headers" -w '%{http_code}' \
    "$HTTP_REDIRECT_URL/secret.html?x=1") || fail "no answer from $HTTP_REDIRECT_URL"
  location=$(header Location)
  [ "$status" = 308 ] || fail "expected 308, got $status"
  case "$location" in
    https://*/secret.html\?x=1) echo "   308, Location: $location" ;;
    *) fail "expected a Location on https with the same path, got '$location'" ;;
  esac
fi

echo "PASS: HTTPS (HSTS, keep-alive, Secure __Host-session cookie, redirect)"
