# Shared by the scenario scripts: settings, a temp dir with a cookie jar, and small helpers.
# Source it after `set -euo pipefail`. The stack's own settings, from the environment, as
# `make run` reads them (empty means the default): PROXY_HOST, PROXY_PORT (or BASE_URL),
# SESSION_TTL, KEEPALIVE_TIMEOUT, KEEPALIVE_MAX, DEMO_USERID, DEMO_PASSWORD.

proxy_host=${PROXY_HOST:-127.0.0.1}
case $proxy_host in
  0.0.0.0) proxy_host=127.0.0.1 ;; # listening everywhere: ask on loopback
  ::) proxy_host='[::1]' ;;
  *:*) proxy_host="[$proxy_host]" ;;
esac
BASE_URL=${BASE_URL:-http://$proxy_host:${PROXY_PORT:-10080}}
DEMO_USERID=${DEMO_USERID:-demo}
DEMO_PASSWORD=${DEMO_PASSWORD:-gatehouse}
SESSION_TTL=${SESSION_TTL:-30}
KEEPALIVE_TIMEOUT=${KEEPALIVE_TIMEOUT:-5}
KEEPALIVE_MAX=${KEEPALIVE_MAX:-100}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar=$work/cookies.txt

fail() {
  echo "FAIL: $*" >&2
  [ -s "$work/headers" ] && { echo "--- last response headers:" >&2; cat "$work/headers" >&2; }
  [ -s "$work/trace" ] && { echo "--- curl -v output:" >&2; grep -v '^[{}]' "$work/trace" >&2; }
  exit 1
}

# fetch PATH [curl options...]: prints the status code; headers in $work/headers, body in $work/body.
fetch() {
  local path=$1
  shift
  : >"$work/headers"
  : >"$work/body" # curl leaves the file untouched when a response has no body
  curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" "$BASE_URL$path" ||
    fail "no HTTP answer from $BASE_URL$path (is the stack running? \`make run\`)"
}

header() { grep -i "^$1:" "$work/headers" | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# login: POST /login as the demo user into the cookie jar; fails unless the answer is 303.
login() {
  echo "== POST /login as $DEMO_USERID"
  local status
  status=$(fetch /login -c "$jar" --data-urlencode "userid=$DEMO_USERID" \
    --data-urlencode "passwd=$DEMO_PASSWORD")
  [ "$status" = 303 ] || fail "POST /login: expected 303, got $status"
  echo "   303"
}
