#!/usr/bin/env bash
# Scenario 2: one curl invocation, several URLs: curl reuses one connection, and the proxy counts
# the requests down in Keep-Alive: max=99, 98, 97, ...
# Run against a running stack (`make run`): BASE_URL, DEMO_USERID, DEMO_PASSWORD override the defaults.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

login # its own connection

paths=(/secret.html /images/coast.jpg /images/harbour.jpg /images/mountains.jpg /images/sunset.jpg)
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

# The proxy counts the responses on a connection: response n says max=100-n.
grep -i '^< Keep-Alive:' "$work/trace" | tr -d '\r' | cut -d' ' -f2- >"$work/keepalive" || true
for i in "${!paths[@]}"; do
  n=$((i + 1))
  status=$(sed -n "${n}p" "$work/statuses")
  [ "$status" = 200 ] || fail "GET ${paths[$i]}: expected 200, got ${status:-no response}"
  want="Keep-Alive: timeout=5, max=$((100 - n))"
  got=$(sed -n "${n}p" "$work/keepalive")
  echo "   response $n ${paths[$i]}: $status, ${got:-no Keep-Alive header}"
  [ "$(tr '[:upper:]' '[:lower:]' <<<"$got")" = "$(tr '[:upper:]' '[:lower:]' <<<"$want")" ] ||
    fail "response $n: expected '$want', got '${got:-no Keep-Alive header}'"
done

echo "PASS: keep-alive (one connection, max counting down from 99)"
