#!/usr/bin/env bash
# Scenario 6: logged in, a byte range of an image is a 206 with exactly those bytes, and a
# conditional GET with the ETag is a 304 without a body.
# Run against a running stack (`make run`); the stack's settings come from the environment
# (see lib.sh).
set -euo pipefail

source "$(dirname "$0")/lib.sh"
IMAGE=/images/harbour.jpg

login

echo "== GET $IMAGE (whole file, for its size and ETag)"
status=$(fetch "$IMAGE" -b "$jar")
[ "$status" = 200 ] || fail "GET $IMAGE: expected 200, got $status"
cp "$work/body" "$work/full"
size=$(wc -c <"$work/full")
etag=$(header ETag)
[ -n "$etag" ] || fail "GET $IMAGE: no ETag header"
echo "   200, $size bytes, ETag: $etag"

echo "== GET $IMAGE with Range: bytes=0-99"
status=$(fetch "$IMAGE" -b "$jar" -H 'Range: bytes=0-99')
[ "$status" = 206 ] || fail "Range: bytes=0-99: expected 206, got $status"
content_range=$(header Content-Range)
[ "$content_range" = "bytes 0-99/$size" ] ||
  fail "Range: bytes=0-99: expected Content-Range 'bytes 0-99/$size', got '$content_range'"
got=$(wc -c <"$work/body")
[ "$got" = 100 ] || fail "Range: bytes=0-99: expected exactly 100 bytes, got $got"
head -c 100 "$work/full" | cmp -s - "$work/body" ||
  fail "Range: bytes=0-99: the bytes differ from the first 100 bytes of the file"
echo "   206, Content-Range: $content_range, $got bytes, the same as the file's first 100"

echo "== GET $IMAGE with If-None-Match: $etag"
status=$(fetch "$IMAGE" -b "$jar" -H "If-None-Match: $etag")
[ "$status" = 304 ] || fail "If-None-Match with the current ETag: expected 304, got $status"
got=$(wc -c <"$work/body")
[ "$got" = 0 ] || fail "304 response: expected no body, got $got bytes"
echo "   304, no body"

echo "PASS: range and conditional requests"
