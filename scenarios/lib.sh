# Shared by the scenario scripts: settings, a temp dir with a cookie jar, and small helpers.
# Source it after `set -euo pipefail`; BASE_URL, DEMO_USERID and DEMO_PASSWORD override the defaults.

BASE_URL=${BASE_URL:-http://127.0.0.1:10080}
DEMO_USERID=${DEMO_USERID:-demo}
DEMO_PASSWORD=${DEMO_PASSWORD:-gatehouse}

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
