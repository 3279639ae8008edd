#!/usr/bin/env bash
# Scenario 2: one curl invocation, several URLs: curl reuses one connection, and the proxy counts
# the requests down in Keep-Alive: timeout=KEEPALIVE_TIMEOUT, max=KEEPALIVE_MAX-1, -2, ...
# (by default timeout=5, max=99, 98, 97, ...)
# Run against a running stack (`make run`); the stack's settings come from the environment
# (see lib.sh).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

login # its own connection

paths=(/secret.html /images/coast.jpg /images/harbour.jpg /images/mountains.jpg /images/sunset.jpg)
# Response KEEPALIVE_MAX closes the connection: ask for fewer URLs so that each answer keeps it.
[ "$KEEPALIVE_MAX" -ge 3 ] || fail "KEEPALIVE_MAX=$KEEPALIVE_MAX: needs at least 3 to show reuse"
paths=("${paths[@]:0:$((KEEPALIVE_MAX - 1))}")
timeout=${KEEPALIVE_TIMEOUT%%.*} # the proxy announces whole seconds, rounded down
urls=()
outs=()
for p in "${paths[@]}"; do
  urls+=("$BASE_URL$p")
  outs+=(-o /dev/null)
done
echo "== curl -v ${paths[*]} (${#paths[@]} URLs, one invocation)"
# -w is written once per URL: one status code per line.
curl -sS -v -b "$jar" "${outs[@]}" -w '%{http_code}\n' "${urls[@]}" >"$work/statuses" 2>"$work/trace" ||
  fail "curl failed on the keep-alive run"

# curl 7.x says "Re-using existing connection", curl 8.x "Reusing existing connection".
reused=$(grep -Ec 'Re-?using existing connection' "$work/trace" || true)
echo "   curl: re-used the connection $reused times"
[ "$reused" = $((${#paths[@]} - 1)) ] ||
  fail "expected curl to re-use the connection $((${#paths[@]} - 1)) times, it did $reused times"

# The proxy counts the responses on a connection: response n says max=KEEPALIVE_MAX-n.
grep -i '^< Keep-Alive:' "$work/trace" | tr -d '\r' | cut -d' ' -f2- >"$work/keepalive" || true
for i in "${!paths[@]}"; do
  n=$((i + 1))
  status=$(sed -n "${n}p" "$work/statuses")
  [ "$status" = 200 ] || fail "GET ${paths[$i]}: expected 200, got ${status:-no response}"
  want="Keep-Alive: timeout=$timeout, max=$((KEEPALIVE_MAX - n))"
  got=$(sed -n "${n}p" "$work/keepalive")
  echo "   response $n ${paths[$i]}: $status, ${got:-no Keep-Alive header}"
  [ "$(tr '[:upper:]' '[:lower:]' <<<"$got")" = "$(tr '[:upper:]' '[:lower:]' <<<"$want")" ] ||
    fail "response $n: expected '$want', got '${got:-no Keep-Alive header}'"
done

echo "PASS: keep-alive (one connection, max counting down from $((KEEPALIVE_MAX - 1)))"
