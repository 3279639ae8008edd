#!/bin/sh
# Record the tour guide's self-introduction for the secret page.
#
# Speaks a short text with espeak-ng, tidies it with sox (mono, 22.05 kHz,
# a little padding and a fade) and encodes it as a small MP3 with lame.
# Run from anywhere; it is not part of the service and no test runs it.
#
#   apt-get install -y espeak-ng sox lame
#   sh content_service/tools/make_audio.sh
#
# Writes content_service/site/audio/intro.mp3 (about 9 s, well under 100 KB).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/../site/audio/intro.mp3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

text="Hello, I'm the Gatehouse tour guide. \
Today we walk along the coast, up into the mountains, \
and back to the harbour for sunset. Enjoy the trip!"

espeak-ng -v en-gb+m3 -s 168 -p 45 -a 110 -w "$work/raw.wav" "$text"
sox "$work/raw.wav" -r 22050 -c 1 "$work/clean.wav" \
    gain -3 highpass 80 norm -1 pad 0.15 0.3 fade t 0.05 -0 0.3
mkdir -p "$(dirname "$out")"
lame --quiet -m m -b 48 --resample 22.05 \
    --tt "Gatehouse tour guide" --ta "Gatehouse" \
    "$work/clean.wav" "$out"
echo "intro.mp3: $(wc -c < "$out") bytes, $(soxi -D "$work/clean.wav") s"
