"""A live view of a running load or stress test: one local page that plots ops/s, p50/p95
and the alerts as they happen.

Served on 127.0.0.1 by the standard library's HTTP server from a thread of the test's
own process: ``/`` is one self-contained page (inline SVG and script, nothing from a
CDN, so it works offline), ``/data.json?since=N`` the timeline's points from index N
and whether the run is done. The page asks for new points once a second and redraws.
"""

from __future__ import annotations

import html
import http.server
import json
import threading
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

from geoinfer_workflows.harness.timeline import Timeline
from geoinfer_workflows.validation import check_int

__all__ = ["LiveView"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>live: __TITLE__</title>
<link rel="icon" href="data:,">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; } #status { color: #555; margin-bottom: .6em; }
svg { border: 1px solid #ccc; background: #fff; }
.ops { stroke: #1f77b4; } .p50 { stroke: #2ca02c; } .p95 { stroke: #d62728; }
path { fill: none; stroke-width: 2; } .axis { stroke: #999; } text { font-size: 11px; }
.mark { stroke: #d62728; stroke-dasharray: 4 3; } .clear { stroke: #2ca02c; }
.phase { stroke: #777; stroke-width: 1.5; }
.legend span { margin-right: 1.2em; } .legend b { display: inline-block; width: 1.2em;
  height: .25em; vertical-align: middle; margin-right: .3em; }
#alerts li.raised { color: #b00; font-weight: bold; } #alerts li.cleared { color: #070; }
</style></head><body>
<h1>__TITLE__</h1>
<div id="status">waiting for the first second of data</div>
<svg id="plot" width="960" height="380" viewBox="0 0 960 380" data-points="0">
  <line class="axis" x1="60" y1="340" x2="900" y2="340"/>
  <line class="axis" x1="60" y1="20" x2="60" y2="340"/>
  <line class="axis" x1="900" y1="20" x2="900" y2="340"/>
  <text id="ops-max" x="8" y="26">0</text><text x="8" y="344">0 ops/s</text>
  <text id="ms-max" x="906" y="26">0</text><text x="906" y="344">0 ms</text>
  <text id="t-max" x="860" y="360">0 s</text>
  <g id="marks"></g>
  <path id="ops" class="ops"/><path id="p50" class="p50"/><path id="p95" class="p95"/>
</svg>
<div class="legend"><span><b style="background:#1f77b4"></b>ops/s (left)</span>
<span><b style="background:#2ca02c"></b>p50 ms (right)</span>
<span><b style="background:#d62728"></b>p95 ms (right)</span>
<span>dashed: alert raised (red) / cleared (green); grey: a new phase</span></div>
<h2>Alerts <small id="active"></small></h2>
<ul id="alerts"></ul>
<script>
"use strict";
const points = [];
const X0 = 60, X1 = 900, Y0 = 340, Y1 = 20;
function path(values, tmax, vmax) {
  let d = "";
  points.forEach((p, i) => {
    const v = values[i];
    if (v === null || v === undefined) return;
    const x = X0 + (X1 - X0) * p.t_s / tmax, y = Y0 - (Y0 - Y1) * v / vmax;
    d += (d ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
  });
  return d;
}
function draw() {
  const tmax = Math.max(1, ...points.map(p => p.t_s));
  const ops = points.map(p => p.ops_per_s);
  const p50 = points.map(p => p.p50_s === null ? null : p.p50_s * 1e3);
  const p95 = points.map(p => p.p95_s === null ? null : p.p95_s * 1e3);
  const opsMax = Math.max(1, ...ops) * 1.1;
  const msMax = Math.max(1, ...p95.filter(v => v !== null)) * 1.1;
  document.getElementById("ops").setAttribute("d", path(ops, tmax, opsMax));
  document.getElementById("p50").setAttribute("d", path(p50, tmax, msMax));
  document.getElementById("p95").setAttribute("d", path(p95, tmax, msMax));
  document.getElementById("ops-max").textContent = opsMax.toFixed(0);
  document.getElementById("ms-max").textContent = msMax.toFixed(0);
  document.getElementById("t-max").textContent = tmax.toFixed(0) + " s";
  document.getElementById("plot").setAttribute("data-points", points.length);
  const marks = document.getElementById("marks"), list = document.getElementById("alerts");
  marks.innerHTML = ""; list.innerHTML = "";
  points.forEach((p, i) => {  // where a phase (e.g. the recovery after overload) begins
    if (i === 0 || p.phase === points[i - 1].phase) return;
    const x = X0 + (X1 - X0) * points[i - 1].t_s / tmax;
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("class", "phase");
    for (const [k, v] of [["x1", x], ["x2", x], ["y1", Y1], ["y2", Y0]]) line.setAttribute(k, v);
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", x + 4); label.setAttribute("y", Y1 + 12);
    label.textContent = p.phase;
    marks.append(line, label);
  });
  points.forEach(p => (p.alert_events || []).forEach(e => {
    const x = X0 + (X1 - X0) * p.t_s / tmax;
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("class", "mark" + (e.kind === "cleared" ? " clear" : ""));
    for (const [k, v] of [["x1", x], ["x2", x], ["y1", Y1], ["y2", Y0]]) line.setAttribute(k, v);
    marks.appendChild(line);
    const item = document.createElement("li");
    item.className = e.kind;
    const relation = e.kind === "cleared" ? "<=" : ">";
    item.textContent = `${p.t_s.toFixed(1)} s  ${e.kind}: ${e.rule} ` +
      `(${e.metric} ${e.value.toPrecision(3)} ${relation} ${e.limit} ${e.unit})`;
    list.appendChild(item);
  }));
  const last = points[points.length - 1];
  if (last) {
    document.getElementById("active").textContent =
      (last.alerts && last.alerts.length) ? "active: " + last.alerts.join(", ") : "none active";
  }
}
async function refresh() {
  let done = false;
  try {
    const response = await fetch("data.json?since=" + points.length, {cache: "no-store"});
    const data = await response.json();
    points.push(...data.points);
    done = data.done;
    draw();
    const last = points[points.length - 1];
    document.getElementById("status").textContent = (done ? "finished: " : "running: ") +
      (last ? `${last.t_s.toFixed(1)} s, ${last.ops_per_s.toFixed(1)} ops/s, ` +
        `${last.users} users, ${points.length} points` : "no data yet");
  } catch (error) {
    document.getElementById("status").textContent = "the run has ended (no server)";
    done = true;
  }
  if (!done) setTimeout(refresh, 1000);
}
refresh();
</script></body></html>
"""


class LiveView:
    """Serve a timeline's live page on 127.0.0.1 while a run lasts.

    ``with LiveView(timeline, "stress: ci_stability") as view: print(view.url)``;
    `finish` marks the run done (the page stops polling), leaving the context stops
    the server. `port` 0 takes any free port.

    Examples
    --------
    >>> import urllib.request
    >>> with LiveView(Timeline(), "demo") as view:
    ...     body = urllib.request.urlopen(view.url + "data.json").read()
    >>> json.loads(body)
    {'title': 'demo', 'points': [], 'done': False}
    """

    def __init__(self, timeline: Timeline, title: str, port: int = 0) -> None:
        self._timeline = timeline
        self._title = title
        self._done = threading.Event()
        check_int(port, "port", 0, 65535)
        page = _PAGE.replace("__TITLE__", html.escape(title)).encode("utf-8")
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler(page))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-view", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def _data(self, since: int) -> bytes:
        return json.dumps(
            {
                "title": self._title,
                "points": self._timeline.points(since),
                "done": self._done.is_set(),
            },
            allow_nan=False,
        ).encode("utf-8")

    def _handler(self, page: bytes) -> type[http.server.BaseHTTPRequestHandler]:
        view = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/":
                    self._send(200, "text/html; charset=utf-8", page)
                elif url.path == "/data.json":
                    since = parse_qs(url.query).get("since", ["0"])[0]
                    start = int(since) if since.isdigit() else 0
                    self._send(200, "application/json", view._data(start))
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the progress line is the log; one line per poll would drown it

        return Handler

    def finish(self) -> None:
        """Mark the run done: the page shows it and stops asking."""
        self._done.set()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
