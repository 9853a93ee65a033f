#!/usr/bin/env bash
# Opens RUN_DIR/report.html in headless chromium, offline, and checks that
# the page renders with its plots, images and audio players.
#
#   tools/check_report_browser.sh RUN_DIR [--expect-audio]
#
# Needs Debian's chromium, a manual one-off install (not done by make or CI):
#   apt-get update && apt-get install -y chromium
#
# 1. --dump-dom of report.html itself: counts <img> with data: URIs,
#    <audio controls>, mermaid blocks and remote (http/https) resources.
# 2. --dump-dom of a temporary copy with a probe script appended (the
#    report itself has no script): every <img> must have decoded
#    (naturalWidth > 0) and every <audio> must have loaded its WAV
#    (readyState >= 1, a finite duration, no media error).
# 3. --screenshot of the top 1200 x 2400 pixels.
# Writes RUN_DIR/browser-check/{report.dom.html,report.png}; exit 0 = OK.
# --expect-audio (implied when RUN_DIR/samples has a .wav) requires at
# least one audio player.
set -euo pipefail

run_dir=${1:?usage: tools/check_report_browser.sh RUN_DIR [--expect-audio]}
expect_audio=${2:-}
run_dir=$(cd "$run_dir" && pwd)
report="$run_dir/report.html"
[ -f "$report" ] || { echo "no $report; run: vox report $run_dir" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found; install it with: apt-get update && apt-get install -y chromium" >&2; exit 2; }
if [ -n "$(find "$run_dir/samples" -name '*.wav' 2>/dev/null | head -1)" ]; then
    expect_audio=--expect-audio
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --disable-sync --no-first-run
       --user-data-dir="$tmp/profile" --virtual-time-budget=8000)
out="$run_dir/browser-check"
mkdir -p "$out"
dom="$out/report.dom.html"
shot="$out/report.png"

"$browser" "${flags[@]}" --dump-dom "file://$report" > "$dom" 2>/dev/null
cp "$report" "$tmp/probe.html"
cat >> "$tmp/probe.html" <<'JS'
<script>
setTimeout(function () {
  var bad = [];
  document.querySelectorAll('img').forEach(function (x, i) {
    if (!(x.complete && x.naturalWidth > 0)) bad.push('img' + i);
  });
  document.querySelectorAll('audio').forEach(function (x, i) {
    if (x.error || x.readyState < 1 || !isFinite(x.duration)) bad.push('audio' + i);
  });
  document.body.setAttribute('data-probe', bad.length ? bad.join(' ') : 'all-loaded');
}, 4000);
</script>
JS
probe=$("$browser" "${flags[@]}" --dump-dom "file://$tmp/probe.html" 2>/dev/null \
        | grep -o 'data-probe="[^"]*"' || echo 'data-probe="(probe did not run)"')
"$browser" "${flags[@]}" --window-size=1200,2400 --screenshot="$shot" \
    "file://$report" >/dev/null 2>&1

count() { { grep -o "$1" "$dom" || true; } | wc -l; }
imgs=$(count '<img src="data:image/png;base64,')
audio=$(count '<audio controls')
audio_data=$(count 'src="data:audio/wav;base64,')
mermaid=$(count '<pre class="mermaid">')
remote=$({ grep -Eo '(src|href)="https?://' "$dom" || true; } | wc -l)
echo "report: $report"
echo "dom:    $dom ($(wc -c < "$dom") bytes)"
echo "shot:   $shot"
echo "img (data URI): $imgs   audio controls: $audio (data URI: $audio_data)   mermaid blocks: $mermaid   remote resources: $remote"
echo "decoded in the browser: $probe"
status=0
[ "$imgs" -ge 1 ] || { echo "FAIL: no embedded images" >&2; status=1; }
[ "$mermaid" -ge 1 ] || { echo "FAIL: no mermaid diagram" >&2; status=1; }
[ "$remote" -eq 0 ] || { echo "FAIL: the page loads remote resources" >&2; status=1; }
if [ "$expect_audio" = --expect-audio ] && [ "$audio" -lt 1 ]; then
    echo "FAIL: samples exist but no <audio controls>" >&2; status=1
fi
[ "$probe" = 'data-probe="all-loaded"' ] || { echo "FAIL: not every image/audio loaded" >&2; status=1; }
[ -s "$shot" ] || { echo "FAIL: no screenshot" >&2; status=1; }
[ $status -eq 0 ] && echo OK
exit $status
