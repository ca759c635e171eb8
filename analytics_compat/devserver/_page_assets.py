"""The live events page's document: markup, style and script, as one template.

Owns what the browser runs. The script polls ``/api/events`` (newest first,
``after=<seq>`` for what is new) every ``?poll_ms=`` milliseconds (default 1000),
prepends new events, and filters by event name and distinct id (inputs, also
pre-filled from ``?event=`` / ``?distinct_id=``). Event data is only ever written with
``textContent``, never as HTML. No external assets: it works offline.

It knows nothing about the server beyond the ``/api/events`` JSON shape.
"""

from __future__ import annotations

__all__ = ["PAGE_CSP", "PAGE_HTML"]

#: Content-Security-Policy sent with the page: nothing is loaded from elsewhere.
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>analytics-compat devserver: live events</title>
<style>
  :root { --fg: #1d1f24; --muted: #6b7280; --line: #e5e7eb; --accent: #1d4ed8;
          --bg: #ffffff; --head: #f8fafc; --new: #fef9c3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--fg); background: var(--bg); }
  header { position: sticky; top: 0; z-index: 1; background: var(--head);
           border-bottom: 1px solid var(--line); padding: 10px 16px;
           display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
  h1 { font-size: 16px; margin: 0 12px 0 0; font-weight: 600; }
  label { color: var(--muted); font-size: 12px; display: flex; gap: 6px; align-items: center; }
  input[type=text] { font: inherit; padding: 4px 8px; border: 1px solid #cbd5e1;
                     border-radius: 6px; width: 200px; }
  button { font: inherit; padding: 4px 10px; border: 1px solid #cbd5e1; border-radius: 6px;
           background: #fff; cursor: pointer; }
  #status { margin-left: auto; font-size: 12px; color: var(--muted); }
  #status.live::before { content: "\\25CF "; color: #16a34a; }
  #status.error::before { content: "\\25CF "; color: #dc2626; }
  #status.paused::before { content: "\\25CF "; color: #ca8a04; }
  table { border-collapse: collapse; width: 100%; table-layout: fixed; }
  th, td { text-align: left; padding: 6px 16px; border-bottom: 1px solid var(--line);
           vertical-align: top; overflow-wrap: anywhere; }
  th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fff; }
  col.time { width: 230px; } col.event { width: 20%; } col.who { width: 16%; }
  td.event { font-weight: 600; color: var(--accent); }
  td.time { white-space: nowrap; }
  td.who, td.time { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
  tr.fresh { animation: flash 2s ease-out; }
  @keyframes flash { from { background: var(--new); } to { background: transparent; } }
  .props summary { cursor: pointer; color: var(--fg); }
  .chip { display: inline-block; margin: 0 10px 2px 0; }
  .chip .k { color: var(--muted); }
  .total { color: var(--muted); font-size: 12px; white-space: nowrap; }
  .props pre { margin: 6px 0 0; padding: 8px; background: #f1f5f9; border-radius: 6px;
               font-size: 12px; white-space: pre-wrap; max-height: 320px; overflow: auto; }
  #empty { padding: 32px 16px; color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>Live events</h1>
  <label>event <input id="f-event" type="text" placeholder="any event" autocomplete="off"></label>
  <label>distinct id
    <input id="f-distinct" type="text" placeholder="any distinct id" autocomplete="off"></label>
  <label><input id="f-pause" type="checkbox"> pause</label>
  <span id="status">connecting&hellip;</span>
</header>
<table>
  <colgroup><col class="time"><col class="event"><col class="who"><col></colgroup>
  <thead><tr><th>time</th><th>event</th><th>distinct id</th><th>properties</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<div id="empty">No events yet. Send some to <code>/batch/</code>.</div>
<script>
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var pollMs = Math.max(50, parseInt(params.get("poll_ms") || "1000", 10) || 1000);
  var MAX_ROWS = 500;
  var rows = document.getElementById("rows");
  var empty = document.getElementById("empty");
  var status = document.getElementById("status");
  var fEvent = document.getElementById("f-event");
  var fDistinct = document.getElementById("f-distinct");
  var fPause = document.getElementById("f-pause");
  fEvent.value = params.get("event") || "";
  fDistinct.value = params.get("distinct_id") || "";
  var cursor = null, generation = 0, timer = null, shown = 0;

  function setStatus(kind, text) { status.className = kind; status.textContent = text; }

  function timeText(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    var p = function (n, w) { return String(n).padStart(w || 2, "0"); };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." +
      p(d.getMilliseconds(), 3);
  }

  // $-keys worth a glance; other $-keys (library, OS, ...) stay in the expanded JSON.
  var NOTABLE = ["$set", "$set_once", "$anon_distinct_id", "$group_type", "$group_key",
                 "$group_set", "$current_url"];

  function summary(into, props) {
    props = props || {};
    var keys = NOTABLE.filter(function (k) { return k in props; }).concat(
      Object.keys(props).filter(function (k) { return k.charAt(0) !== "$"; }));
    keys.slice(0, 6).forEach(function (k) {
      var v = props[k];
      var s = typeof v === "string" ? v : JSON.stringify(v);
      if (s && s.length > 48) { s = s.slice(0, 47) + "\\u2026"; }
      var chip = document.createElement("span");
      chip.className = "chip";
      var key = document.createElement("span");
      key.className = "k";
      key.textContent = k + "=";
      chip.appendChild(key);
      chip.appendChild(document.createTextNode(s));
      into.appendChild(chip);
    });
    var total = document.createElement("span");
    total.className = "total";
    var n = Object.keys(props).length;
    total.textContent = (keys.length ? "" : "no custom properties \\u00b7 ") + n + " total";
    into.appendChild(total);
  }

  function cell(tr, cls, text, title) {
    var td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    if (title) { td.title = title; }
    tr.appendChild(td);
    return td;
  }

  function render(ev, fresh) {
    var tr = document.createElement("tr");
    tr.className = "event-row" + (fresh ? " fresh" : "");
    tr.setAttribute("data-uuid", ev.uuid);
    tr.setAttribute("data-event", ev.event);
    cell(tr, "time", timeText(ev.timestamp), "timestamp " + ev.timestamp +
      "\\nreceived " + ev.received_at);
    cell(tr, "event", ev.event);
    cell(tr, "who", ev.distinct_id);
    var td = cell(tr, "props", "");
    var details = document.createElement("details");
    var sum = document.createElement("summary");
    summary(sum, ev.properties);
    var pre = document.createElement("pre");
    pre.textContent = JSON.stringify(ev.properties, null, 2);
    details.appendChild(sum);
    details.appendChild(pre);
    td.appendChild(details);
    return tr;
  }

  function url() {
    var q = new URLSearchParams();
    q.set("limit", "200");
    if (cursor !== null) { q.set("after", String(cursor)); }
    if (fEvent.value.trim()) { q.set("event", fEvent.value.trim()); }
    if (fDistinct.value.trim()) { q.set("distinct_id", fDistinct.value.trim()); }
    return "/api/events?" + q.toString();
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(poll, pollMs); }

  function poll() {
    if (fPause.checked) { setStatus("paused", "paused"); schedule(); return; }
    var mine = generation, first = cursor === null;
    fetch(url(), { cache: "no-store" }).then(function (res) {
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      return res.json();
    }).then(function (events) {
      if (mine !== generation) { return; }
      var frag = document.createDocumentFragment();
      events.forEach(function (ev) {
        frag.appendChild(render(ev, !first));
        if (cursor === null || ev.seq > cursor) { cursor = ev.seq; }
      });
      if (cursor === null) { cursor = 0; }
      rows.insertBefore(frag, rows.firstChild);
      shown += events.length;
      while (rows.children.length > MAX_ROWS) { rows.removeChild(rows.lastChild); }
      empty.style.display = rows.children.length ? "none" : "block";
      setStatus("live", "live \\u00b7 " + shown + " shown \\u00b7 every " + pollMs + " ms");
    }).catch(function (err) {
      if (mine === generation) {
        setStatus("error", "server unreachable, retrying (" + err.message + ")");
      }
    }).then(function () { if (mine === generation) { schedule(); } });
  }

  function restart() {
    generation += 1; cursor = null; shown = 0;
    while (rows.firstChild) { rows.removeChild(rows.firstChild); }
    clearTimeout(timer);
    timer = setTimeout(poll, 0);
  }

  var debounce = null;
  function onFilter() { clearTimeout(debounce); debounce = setTimeout(restart, 250); }
  fEvent.addEventListener("input", onFilter);
  fDistinct.addEventListener("input", onFilter);
  fPause.addEventListener("change", function () { if (!fPause.checked) { restart(); } });
  poll();
})();
</script>
</body>
</html>
"""
