// thermal_perception view: draws the frames, boxes, ROIs, health and map sent by the server
// over one WebSocket (see thermal_perception/view/protocol.py). No external assets.
"use strict";

const LABEL_COLOURS = { person: "#00e5ff", animal: "#76ff03", vehicle: "#ffea00",
  bicycle: "#ff9100", fire: "#ff1744", hotspot: "#e040fb", uav: "#ffffff" };
const $ = (id) => document.getElementById(id);
const canvas = $("image");
const ctx = canvas.getContext("2d");

// State kept for the page and for tests (window.thermalView).
const view = {
  connected: false, connects: 0, framesDrawn: 0, lastSeq: -1, lastStamp: null,
  lastDrawnAt: 0, latenciesMs: [], bitmap: null, detections: null, rois: null, health: null,
  map: null, probe: null, cursor: null, probePending: false, errors: [],
};
window.thermalView = view;
window.thermalRedraw = () => draw();
let socket = null;

function nowMs() { return performance.timeOrigin + performance.now(); }
function fmt(v, digits = 1, unit = "") {
  return (v === null || v === undefined) ? "–" : `${Number(v).toFixed(digits)}${unit}`;
}
function send(obj) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj));
}

function connect() {
  socket = new WebSocket(`ws://${location.host}/ws`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    view.connected = true; view.connects += 1;
    $("connection").textContent = "live"; $("connection").className = "state";
  };
  socket.onclose = () => {
    view.connected = false;
    $("connection").textContent = "reconnecting"; $("connection").className = "state bad";
    view.probePending = false;
    setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => {
    if (event.data instanceof ArrayBuffer) onFrame(event.data); else onText(event.data);
  };
}

function onFrame(buffer) {
  const headerLength = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const blob = new Blob([new Uint8Array(buffer, 4 + headerLength)], { type: "image/jpeg" });
  createImageBitmap(blob).then((bitmap) => {
    requestAnimationFrame(() => {
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas.width = bitmap.width; canvas.height = bitmap.height;
      }
      if (view.bitmap) view.bitmap.close();
      view.bitmap = bitmap;
      view.lastStamp = header.stamp_ns; view.lastSeq = header.seq; view.frameId = header.frame_id;
      draw();
      const drawn = nowMs();
      const latency = drawn - header.stamp_ms;  // capture -> drawn, ms
      view.framesDrawn += 1; view.lastDrawnAt = drawn;
      view.latenciesMs.push(latency);
      if (view.latenciesMs.length > 2000) view.latenciesMs.shift();
      send({ op: "ack", seq: header.seq, latency_ms: latency });
      if (view.cursor) requestProbe();
    });
  }).catch((err) => {
    view.errors.push(String(err));
    send({ op: "ack", seq: header.seq });
  });
}

function onText(text) {
  const msg = JSON.parse(text);
  switch (msg.type) {
    case "detections": view.detections = msg; showDetections(); break;
    case "rois": view.rois = msg; showRois(); break;
    case "health": view.health = msg; showHealth(); break;
    case "diagnostics": showDiagnostics(msg.entries); break;
    case "map": view.map = msg; drawMap(); break;
    case "probe": view.probePending = false; view.probe = msg; showProbe(); break;
    case "error": view.errors.push(msg.reason); console.warn("server:", msg.reason); break;
    default: break;
  }
}

function draw() {
  if (view.bitmap) ctx.drawImage(view.bitmap, 0, 0);
  ctx.lineWidth = 2; ctx.font = "12px system-ui, sans-serif"; ctx.textBaseline = "bottom";
  for (const r of (view.rois && view.rois.regions) || []) {
    const o = r.outline; if (!o) continue;
    ctx.strokeStyle = r.alarm_state === "alarm" ? "#ff1744" : "#ffffff";
    ctx.setLineDash([5, 3]); ctx.beginPath();
    let tx = 0, ty = 0;
    if (o.shape === "box") {
      ctx.rect(o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]);
      [tx, ty] = [o.box[0], o.box[3] + 15];  // below: the processor labels above
    } else if (o.shape === "spot") {
      ctx.arc(o.x + 0.5, o.y + 0.5, Math.max(o.radius, 3), 0, 2 * Math.PI);
      [tx, ty] = [o.x + 6, o.y + 20];
    } else {
      o.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); [tx, ty] = o.points[0];
    }
    ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(`${r.name} ${fmt(r.max_c)}°C${r.alarm_state === "alarm" ? " ALARM" : ""}`, tx, ty - 2);
  }
  for (const d of (view.detections && view.detections.items) || []) {
    const colour = LABEL_COLOURS[d.label] || "#ffffff";
    const [x0, y0, x1, y1] = d.box;
    ctx.strokeStyle = colour; ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = `${d.label}${d.track_id ? " #" + d.track_id : ""} ${fmt(d.max_c)}°C`;
    const w = ctx.measureText(text).width + 4;
    ctx.fillStyle = "rgba(0,0,0,0.6)"; ctx.fillRect(x0, y0 - 15, w, 15);
    ctx.fillStyle = colour; ctx.fillText(text, x0 + 2, y0 - 2);
  }
  if (view.cursor) {
    const [x, y] = view.cursor;
    ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(x + 0.5, y - 6); ctx.lineTo(x + 0.5, y + 7);
    ctx.moveTo(x - 6, y + 0.5); ctx.lineTo(x + 7, y + 0.5); ctx.stroke();
  }
}

function pixelAt(event) {
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left) * canvas.width / rect.width);
  const y = Math.floor((event.clientY - rect.top) * canvas.height / rect.height);
  return [Math.min(Math.max(x, 0), canvas.width - 1), Math.min(Math.max(y, 0), canvas.height - 1)];
}

function requestProbe() {
  if (!view.cursor || view.probePending) return;
  view.probePending = true;
  send({ op: "probe", x: view.cursor[0], y: view.cursor[1], stamp_ns: view.lastStamp });
}

canvas.addEventListener("mousemove", (event) => { view.cursor = pixelAt(event); requestProbe(); });
canvas.addEventListener("mouseleave", () => { view.cursor = null; });

function showProbe() {
  const p = view.probe, el = $("probe");
  el.dataset.x = p.x; el.dataset.y = p.y; el.dataset.stamp = p.stamp_ns ?? "";
  el.dataset.temperature = p.temperature_c ?? ""; el.dataset.sigma = p.sigma_k ?? "";
  el.dataset.exact = p.exact ? "1" : "0";
  el.textContent = p.temperature_c === null
    ? `(${p.x}, ${p.y}): ${p.error || "no value"}`
    : `(${p.x}, ${p.y}): ${p.temperature_c.toFixed(2)} °C` +
      (p.sigma_k === null ? "" : ` ± ${p.sigma_k.toFixed(2)} K`);
}

function row(cells, cls = "") {
  const tr = document.createElement("tr"); if (cls) tr.className = cls;
  for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
  return tr;
}

function showDetections() {
  const body = $("detections").tBodies[0];
  body.replaceChildren(...view.detections.items.slice(0, 12).map((d) =>
    row([d.label, d.track_id || "–", fmt(d.max_c), fmt(d.confidence, 2)])));
}

function showRois() {
  const body = $("rois").tBodies[0];
  body.replaceChildren(...view.rois.regions.map((r) =>
    row([r.name, fmt(r.max_c), fmt(r.mean_c), r.alarm_state || "–"],
        r.alarm_state === "alarm" ? "alarm" : "")));
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

function showHealth() {
  const h = view.health, s = h.status || {};
  const page = (h.pages || []).reduce((a, p) => a + p.frames_dropped, 0);
  const rows = [
    ["display rate", fmt(h.display_rate_hz, 1, " Hz")],
    ["latency capture → view", `${fmt(h.latency_display_ms, 1)} / ${fmt(h.latency_display_p90_ms, 1)} ms (p50/p90)`],
    ["glass-to-glass (this page)", fmt(percentile(view.latenciesMs.slice(-300), 50), 1, " ms p50")],
    ["temperature rate", fmt(h.temperature_rate_hz, 1, " Hz")],
    ["detections rate", fmt(h.detections_rate_hz, 1, " Hz")],
    ["camera", `${s.camera_profile ?? "–"} (${s.source ?? "–"})`],
    ["camera rate", fmt(s.frame_rate_hz, 1, " Hz")],
    ["dropped (driver / for pages)", `${s.dropped_frames ?? "–"} / ${page}`],
    ["FFC", `${s.ffc_state_name ?? "–"}${s.shutter_closed ? " (shutter closed)" : ""}, ${s.ffc_count ?? 0} done`],
    ["FPA temperature", fmt(s.fpa_temperature_c, 2, " °C")],
  ];
  $("health").tBodies[0].replaceChildren(...rows.map((r) => row(r)));
}

function showDiagnostics(entries) {
  const items = entries.map((e) => {
    const li = document.createElement("li"); li.className = `lvl${e.level}`;
    li.textContent = `${e.name}: ${e.message}`; return li;
  });
  $("diagnostics").replaceChildren(...items);
}

function niceStep(span) {
  const raw = span / 5, p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

function drawMap() {
  const c = $("map"), g = c.getContext("2d"), m = view.map;
  g.clearRect(0, 0, c.width, c.height);
  const pts = m.track.concat(m.objects.map((o) => [o.east_m, o.north_m]));
  if (!pts.length) return;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2, cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const span = Math.max(20, Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) * 1.2;
  const scale = Math.min(c.width, c.height) / span;
  const X = (e) => c.width / 2 + (e - cx) * scale, Y = (n) => c.height / 2 - (n - cy) * scale;
  const step = niceStep(span);
  g.strokeStyle = "#2a2e36"; g.lineWidth = 1; g.fillStyle = "#6b7280"; g.font = "10px system-ui";
  for (let e = Math.ceil((cx - span) / step) * step; e <= cx + span; e += step) {
    g.beginPath(); g.moveTo(X(e), 0); g.lineTo(X(e), c.height); g.stroke();
  }
  for (let n = Math.ceil((cy - span) / step) * step; n <= cy + span; n += step) {
    g.beginPath(); g.moveTo(0, Y(n)); g.lineTo(c.width, Y(n)); g.stroke();
  }
  g.fillText(`grid ${step} m`, 4, c.height - 4); g.fillText("N ↑", c.width - 24, 12);
  if (m.track.length) {
    g.strokeStyle = "#9aa3b2"; g.beginPath();
    m.track.forEach(([e, n], i) => (i ? g.lineTo(X(e), Y(n)) : g.moveTo(X(e), Y(n)))); g.stroke();
    const [e, n] = m.track[m.track.length - 1];
    g.fillStyle = "#ffffff"; g.beginPath(); g.arc(X(e), Y(n), 4, 0, 2 * Math.PI); g.fill();
  }
  for (const o of m.objects) {
    g.fillStyle = LABEL_COLOURS[o.label] || "#ffffff";
    g.beginPath(); g.arc(X(o.east_m), Y(o.north_m), 3, 0, 2 * Math.PI); g.fill();
    g.fillText(`${o.label}${o.track_id ? " #" + o.track_id : ""}`, X(o.east_m) + 5, Y(o.north_m) - 3);
  }
}

setInterval(() => {
  const stale = view.connected && nowMs() - view.lastDrawnAt > 2000;
  $("stale").hidden = !stale;
  if (stale) { $("stale").textContent = "no frames"; $("stale").className = "state bad"; }
}, 500);

connect();
