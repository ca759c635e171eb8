"""The live events page's document: markup, style and script, as one template.

Owns what the browser runs. The server fills the ``%%NAME%%`` slots (``_page``): the
newest rows, already escaped, and ``data-cursor``, the ``seq`` of the newest of them.
From there the script polls ``/api/events?order=asc&after=<cursor>`` every
``?poll_ms=`` milliseconds (default 1000), a page at a time and at once again while
pages come back full, so every stored event is drawn, in order, however fast they
arrive. Each row shows the event's time, the protocol that delivered it (``v0`` /
``v1``, its path as the tooltip), name, distinct id and properties. Rows sit in
chunks of ``CHUNK_ROWS`` (one table each, rendered only when near the screen), so
drawing more costs about the same on a page of 40,000 rows as
on an empty one. It keeps the newest ``?max_rows=`` rows (default ``MAX_ROWS``) and
says how many it removed. It filters by event name and distinct id (inputs, also
pre-filled from ``?event=`` / ``?distinct_id=``). Event data is only ever written with
``textContent``, never as HTML. No external assets: it works offline.

It knows nothing about the server beyond the ``/api/events`` JSON shape.
"""

from __future__ import annotations

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "INITIAL_ROWS",
    "MAX_ROWS",
    "NOTABLE_KEYS",
    "PAGE_CSP",
    "PAGE_HTML",
]

#: Rows drawn by the server on the first load (and fetched again after a filter change).
INITIAL_ROWS = 100
#: Rows the page keeps by default (``?max_rows=`` changes it).
MAX_ROWS = 5000
#: Rows per chunk table: one table of every row made each poll lay out all of them.
CHUNK_ROWS = 100
#: The columns of every chunk table (the header is one more table with the same ones).
COLUMNS = (
    '<colgroup><col class="time"><col class="proto"><col class="event"><col class="who">'
    "<col></colgroup>"
)
#: ``$``-properties worth a glance in the summary; other ``$``-keys stay in the JSON.
NOTABLE_KEYS = (
    "$set",
    "$set_once",
    "$anon_distinct_id",
    "$group_type",
    "$group_key",
    "$group_set",
    "$current_url",
)

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
  /* Rows live in chunks of CHUNK_ROWS, one table each: adding rows lays out one chunk,
     not every row on the page. A chunk is not rendered at all (only its placeholder
     height) until it comes near the screen: drawing 40,000 rows stays linear. */
  div.chunk { content-visibility: hidden; contain-intrinsic-size: auto 3200px; }
  div.chunk.near { content-visibility: auto; }
  th, td { text-align: left; padding: 6px 16px; border-bottom: 1px solid var(--line);
           vertical-align: top; overflow-wrap: anywhere; }
  th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fff; }
  col.time { width: 230px; } col.proto { width: 80px; } col.event { width: 20%; }
  col.who { width: 16%; }
  td.event { font-weight: 600; color: var(--accent); }
  td.time { white-space: nowrap; }
  td.who, td.time, td.proto { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
                              font-size: 12px; }
  tr.fresh { animation: flash 2s ease-out; }
  @keyframes flash { from { background: var(--new); } to { background: transparent; } }
  .props summary { cursor: pointer; color: var(--fg); }
  .chip { display: inline-block; margin: 0 10px 2px 0; }
  .chip .k { color: var(--muted); }
  .total { color: var(--muted); font-size: 12px; white-space: nowrap; }
  .props pre { margin: 6px 0 0; padding: 8px; background: #f1f5f9; border-radius: 6px;
               font-size: 12px; white-space: pre-wrap; max-height: 320px; overflow: auto; }
  #empty, #trimmed { padding: 32px 16px; color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>Live events</h1>
  <label>event <input id="f-event" type="text" placeholder="any event" autocomplete="off"></label>
  <label>distinct id
    <input id="f-distinct" type="text" placeholder="any distinct id" autocomplete="off"></label>
  <label><input id="f-pause" type="checkbox"> pause</label>
  <span id="status">%%STATUS%%</span>
</header>
<table>
  %%COLUMNS%%
  <thead><tr><th>time</th><th title="the capture protocol that delivered the event">protocol</th>
    <th>event</th><th>distinct id</th><th>properties</th></tr></thead>
</table>
<div id="rows" data-cursor="%%CURSOR%%">%%CHUNK%%</div>
<div id="trimmed" style="display:none"></div>
<div id="empty"%%EMPTY_STYLE%%>No events yet. Send some to <code>/batch/</code> with the project
token %%TOKENS%%.</div>
<script>
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var pollMs = Math.max(50, parseInt(params.get("poll_ms") || "1000", 10) || 1000);
  // Rows kept on the page; older ones are removed from the bottom (every event still
  // passes through, in order: "shown" counts them).
  var maxRows = Math.max(1, parseInt(params.get("max_rows") || "%%MAX_ROWS%%", 10) || %%MAX_ROWS%%);
  var INITIAL = %%INITIAL%%, PAGE = %%PAGE%%, CHUNK = %%CHUNK_ROWS%%, FLASH = 50;
  var rows = document.getElementById("rows");
  var empty = document.getElementById("empty");
  var trimmed = document.getElementById("trimmed");
  var status = document.getElementById("status");
  var fEvent = document.getElementById("f-event");
  var fDistinct = document.getElementById("f-distinct");
  var fPause = document.getElementById("f-pause");
  fEvent.value = params.get("event") || "";
  fDistinct.value = params.get("distinct_id") || "";
  // The server drew the newest rows already; poll for what came after them.
  var cursor = rows.getAttribute("data-cursor") === "" ? null :
    parseInt(rows.getAttribute("data-cursor"), 10);
  var drawn = rows.querySelectorAll("tr.event-row").length;
  var generation = 0, timer = null, shown = drawn, dropped = 0;

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
  var NOTABLE = %%NOTABLE%%;
  var COLUMNS = %%COLUMNS_JS%%;

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
    tr.setAttribute("data-seq", String(ev.seq));
    cell(tr, "time", timeText(ev.timestamp), "timestamp " + ev.timestamp +
      "\\nreceived " + ev.received_at);
    cell(tr, "proto", ev.protocol || "", ev.path || "");
    cell(tr, "event", ev.event);
    cell(tr, "who", ev.distinct_id);
    var td = cell(tr, "props", "");
    var details = document.createElement("details");
    var sum = document.createElement("summary");
    summary(sum, ev.properties);
    details.appendChild(sum);
    // the full JSON is built when opened: thousands of rows stay light
    details.addEventListener("toggle", function () {
      if (!details.open || details.querySelector("pre")) { return; }
      var pre = document.createElement("pre");
      pre.textContent = JSON.stringify(ev.properties, null, 2);
      details.appendChild(pre);
    });
    td.appendChild(details);
    return tr;
  }

  // a chunk is rendered from the moment it is within two screens of the viewport
  var nearby = "IntersectionObserver" in window ? new IntersectionObserver(function (seen) {
    seen.forEach(function (entry) {
      if (!entry.isIntersecting) { return; }
      entry.target.classList.add("near");
      nearby.unobserve(entry.target);
    });
  }, { rootMargin: "200% 0px" }) : null;

  function watch(chunk) {
    if (nearby) { nearby.observe(chunk); } else { chunk.classList.add("near"); }
  }

  // (containment, so content-visibility, does not apply to a table itself)
  function newChunk() {
    var chunk = document.createElement("div");
    chunk.className = "chunk";
    chunk.innerHTML = "<table>" + COLUMNS + "<tbody></tbody></table>";
    rows.insertBefore(chunk, rows.firstChild);
    watch(chunk);
    return chunk.firstChild.tBodies[0];
  }

  // events newest first, all newer than what is shown: the oldest of them fill the
  // top chunk up to CHUNK rows, the rest go into new chunks above it
  function prepend(events, fresh) {
    var left = events.length;
    fresh = fresh && left <= FLASH;  // a burst is not worth animating row by row
    while (left > 0) {
      var body = rows.firstChild ? rows.firstChild.firstChild.tBodies[0] : null;
      var room = body ? CHUNK - body.childElementCount : 0;
      if (room <= 0) { body = newChunk(); room = CHUNK; }
      var take = Math.min(room, left), frag = document.createDocumentFragment();
      for (var i = left - take; i < left; i++) { frag.appendChild(render(events[i], fresh)); }
      body.insertBefore(frag, body.firstChild);
      left -= take;
    }
    shown += events.length;
    drawn += events.length;
    while (drawn > maxRows) {
      var last = rows.lastChild.firstChild.tBodies[0];
      last.removeChild(last.lastChild);
      if (!last.firstChild) { rows.removeChild(rows.lastChild); }
      drawn -= 1; dropped += 1;
    }
    empty.style.display = drawn ? "none" : "block";
    trimmed.style.display = dropped ? "block" : "none";
    trimmed.textContent = dropped ? "The " + dropped + " oldest of " + shown + " events " +
      "were removed from this page (?max_rows=" + maxRows + "); /api/events has them all." : "";
  }

  function url(newest) {
    var q = new URLSearchParams();
    if (newest) {
      q.set("limit", String(INITIAL));
    } else {
      q.set("limit", String(PAGE));
      q.set("order", "asc");
      q.set("after", String(cursor));
    }
    if (fEvent.value.trim()) { q.set("event", fEvent.value.trim()); }
    if (fDistinct.value.trim()) { q.set("distinct_id", fDistinct.value.trim()); }
    return "/api/events?" + q.toString();
  }

  function schedule(delay) { clearTimeout(timer); timer = setTimeout(poll, delay); }

  // Ascending from the cursor, a page at a time: a burst larger than a page is read
  // page after page at once, never skipped.
  function poll() {
    if (fPause.checked) { setStatus("paused", "paused"); schedule(pollMs); return; }
    var mine = generation, newest = cursor === null, more = false;
    fetch(url(newest), { cache: "no-store" }).then(function (res) {
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      return res.json();
    }).then(function (events) {
      if (mine !== generation) { return; }
      if (newest) {
        cursor = events.length ? events[0].seq : 0;
        prepend(events, false);
      } else if (events.length) {
        cursor = events[events.length - 1].seq;
        more = events.length === PAGE;
        prepend(events.slice().reverse(), true);
      }
      setStatus("live", "live \\u00b7 " + shown + " shown \\u00b7 every " + pollMs + " ms");
    }).catch(function (err) {
      if (mine === generation) {
        setStatus("error", "server unreachable, retrying (" + err.message + ")");
      }
    }).then(function () { if (mine === generation) { schedule(more ? 0 : pollMs); } });
  }

  function restart() {
    generation += 1; cursor = null; shown = 0; drawn = 0; dropped = 0;
    while (rows.firstChild) { rows.removeChild(rows.firstChild); }
    schedule(0);
  }

  Array.prototype.forEach.call(rows.querySelectorAll("div.chunk"), watch);
  Array.prototype.forEach.call(rows.querySelectorAll("td.time[data-ts]"), function (td) {
    td.textContent = timeText(td.getAttribute("data-ts"));
  });
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
