#!/usr/bin/env bash
# Opens RUN_DIR/report.html in headless chromium, offline, as a new user
# would, and checks that the page renders with its model diagrams, plots,
# images and audio players.
#
#   tools/check_report_browser.sh RUN_DIR [--expect-audio]
#
# Needs Debian's chromium (apt-get update && apt-get install -y chromium);
# tools/ci_report_browser.sh, which .ci/run calls, installs it when missing.
#
# 1. --dump-dom of report.html itself: counts embedded images (data: URIs),
#    drawn model diagrams (<img class="diagram">, SVG), <audio controls>,
#    mermaid source blocks and remote (http/https) resources.
# 2. --dump-dom of a temporary copy with a probe script appended (the
#    report itself has no script): every <img> must have decoded
#    (naturalWidth > 0), every diagram must have the size its SVG declares
#    (width/height in pt, 4/3 px each) and be at least 100 x 100 px, and
#    every <audio> must have loaded its WAV (readyState >= 1, a finite
#    duration, no media error).
#    The findings table (<table class="findings">) must exist where the
#    experiment has a findings.yaml, and come before the first diagram,
#    both in the DOM and on screen (its top above the diagram's).
# 3. --screenshot of the top 1200 x 2400 pixels.
# Writes RUN_DIR/browser-check/{report.dom.html,report.png}; exit 0 = OK.
# --expect-audio (implied when RUN_DIR/samples has a .wav) requires at
# least one audio player; an experiment with a seed.yaml (a model the blog
# drew) requires one drawn diagram per mermaid block, and at least one.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
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
exp_id=$(sed -n 's/^id: *//p' "$run_dir/config.yaml" 2>/dev/null | head -1)
expect_diagrams=0
[ -n "$exp_id" ] && [ -f "$repo/experiments/$exp_id/seed.yaml" ] && expect_diagrams=1
expect_findings=0
[ -n "$exp_id" ] && [ -f "$repo/experiments/$exp_id/findings.yaml" ] && expect_findings=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic
       --disable-background-networking --disable-component-update
       --disable-sync --no-first-run
       --user-data-dir="$tmp/profile" --virtual-time-budget=8000)
out="$run_dir/browser-check"
mkdir -p "$out"
dom="$out/report.dom.html"
shot="$out/report.png"

"$browser" "${flags[@]}" --dump-dom "file://$report" > "$dom" 2>/dev/null
cp "$report" "$tmp/probe.html"
cat >> "$tmp/probe.html" <<'JS'
<script>
function declared(img) {  // the SVG's own width/height, in CSS px
  var m = /^data:image\/svg\+xml;base64,(.*)$/.exec(img.getAttribute('src'));
  if (!m) return null;
  var head = atob(m[1]).slice(0, 2000);
  var w = /<svg[^>]*\swidth="([0-9.]+)pt"/.exec(head);
  var h = /<svg[^>]*\sheight="([0-9.]+)pt"/.exec(head);
  return w && h ? [parseFloat(w[1]) * 4 / 3, parseFloat(h[1]) * 4 / 3] : null;
}
setTimeout(function () {
  var bad = [], sizes = [];
  document.querySelectorAll('img').forEach(function (x, i) {
    if (!(x.complete && x.naturalWidth > 0)) bad.push('img' + i);
  });
  document.querySelectorAll('img.diagram').forEach(function (x, i) {
    var want = declared(x), got = [x.naturalWidth, x.naturalHeight];
    sizes.push((x.getAttribute('data-graph') || i) + ':' + got.join('x'));
    if (!want || Math.abs(got[0] - want[0]) > 1.5 ||
        Math.abs(got[1] - want[1]) > 1.5 || got[0] < 100 || got[1] < 100)
      bad.push('diagram' + i + '(' + got.join('x') + ' want ' +
               (want ? want.map(Math.round).join('x') : 'an SVG') + ')');
  });
  document.querySelectorAll('audio').forEach(function (x, i) {
    if (x.error || x.readyState < 1 || !isFinite(x.duration)) bad.push('audio' + i);
  });
  // the findings table is the first thing a reader sees: above the diagrams
  var table = document.querySelector('table.findings');
  var diagram = document.querySelector('img.diagram');
  var findingsTop = table ? table.getBoundingClientRect().top : -1;
  document.body.setAttribute('data-findings-top', String(Math.round(findingsTop)));
  if (table && diagram && !(findingsTop < diagram.getBoundingClientRect().top))
    bad.push('findings-below-diagrams');
  document.body.setAttribute('data-probe', bad.length ? bad.join(' ') : 'all-loaded');
  document.body.setAttribute('data-diagrams', sizes.join(' '));
}, 4000);
</script>
JS
probe_dom=$("$browser" "${flags[@]}" --dump-dom "file://$tmp/probe.html" 2>/dev/null || true)
probe=$(grep -o 'data-probe="[^"]*"' <<< "$probe_dom" || echo 'data-probe="(probe did not run)"')
diagram_sizes=$(grep -o 'data-diagrams="[^"]*"' <<< "$probe_dom" | sed 's/^data-diagrams=//' || true)
findings_top=$(grep -o 'data-findings-top="[^"]*"' <<< "$probe_dom" | sed 's/^data-findings-top=//' || true)
"$browser" "${flags[@]}" --window-size=1200,2400 --screenshot="$shot" \
    "file://$report" >/dev/null 2>&1

count() { { grep -o "$1" "$dom" || true; } | wc -l; }
imgs=$(count '<img [^>]*src="data:image/')
diagrams=$(count '<img class="diagram"[^>]*src="data:image/svg+xml;base64,')
audio=$(count '<audio controls')
audio_data=$(count 'src="data:audio/wav;base64,')
mermaid=$(count '<pre class="mermaid">')
findings=$(count '<table class="findings">')
# byte offsets in the rendered DOM: the findings table must come first
findings_at=$(grep -bo '<table class="findings">' "$dom" | head -1 | cut -d: -f1 || true)
diagram_at=$(grep -bo '<img class="diagram"' "$dom" | head -1 | cut -d: -f1 || true)
remote=$({ grep -Eo '(src|href)="https?://' "$dom" || true; } | wc -l)
echo "report: $report"
echo "dom:    $dom ($(wc -c < "$dom") bytes)"
echo "shot:   $shot"
echo "img (data URI): $imgs   drawn diagrams: $diagrams ${diagram_sizes:-}   mermaid sources: $mermaid"
echo "audio controls: $audio (data URI: $audio_data)   remote resources: $remote"
echo "decoded in the browser: $probe"
echo "findings tables: $findings (DOM offset ${findings_at:-none}, first diagram ${diagram_at:-none}; top ${findings_top:-?} px)"
status=0
if [ "$expect_findings" = 1 ]; then
    [ "$findings" -ge 1 ] || { echo "FAIL: $exp_id states findings but the report has no findings table" >&2; status=1; }
    if [ -n "$findings_at" ] && [ -n "$diagram_at" ] && [ "$findings_at" -gt "$diagram_at" ]; then
        echo "FAIL: the findings table comes after the model diagrams" >&2; status=1
    fi
fi
[ "$imgs" -ge 1 ] || { echo "FAIL: no embedded images" >&2; status=1; }
if [ "$expect_diagrams" = 1 ]; then
    [ "$diagrams" -ge 1 ] || { echo "FAIL: $exp_id has a model but the report draws no diagram" >&2; status=1; }
    [ "$diagrams" -eq "$mermaid" ] || { echo "FAIL: $diagrams drawn diagrams for $mermaid mermaid sources" >&2; status=1; }
fi
if grep -q 'model diagram could not be drawn' "$dom"; then
    echo "FAIL: the report says the model diagram could not be drawn" >&2; status=1
fi
[ "$remote" -eq 0 ] || { echo "FAIL: the page loads remote resources" >&2; status=1; }
if [ "$expect_audio" = --expect-audio ] && [ "$audio" -lt 1 ]; then
    echo "FAIL: samples exist but no <audio controls>" >&2; status=1
fi
[ "$probe" = 'data-probe="all-loaded"' ] || { echo "FAIL: in the browser: $probe (an image/diagram/audio that did not load, or the findings below the diagrams)" >&2; status=1; }
[ -s "$shot" ] || { echo "FAIL: no screenshot" >&2; status=1; }
[ $status -eq 0 ] && echo OK
exit $status
