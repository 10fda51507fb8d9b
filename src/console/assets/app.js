// watchpost console: four pages over the box's JSON API. No framework, no
// outside resources; every picture shown comes redacted from the box.
// Every page keeps itself current on a wall monitor nobody reloads: its
// loops survive hidden pages, network errors and box restarts, a lost
// session brings back the login form, and a picture that stops coming is
// marked stale with its age.
"use strict";

const state = { csrf: null, config: null, camera: null, edit: null, saved: null, tool: "move",
  drawing: null, drag: null, overlay: null, errors: [], incidents: new Map(), gen: 0,
  online: true, lostSince: null, cameras: new Map() };
/** A picture older than this (seconds) is marked stale. */
const STALE_SECS = 3;
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  kids.forEach((k) => e.append(k));
  return e;
};

// ---- the link to the box and the session ----
const NO_ANSWER = "the box does not answer (restarting, or the network is down)";
function linkDown() {
  if (state.online) { state.online = false; state.lostSince = new Date(); }
  const banner = $("link-status");
  banner.hidden = false; banner.className = "down";
  banner.textContent = `Connection to the box lost at ${state.lostSince.toLocaleTimeString()} — retrying; what is shown may be out of date.`;
  document.body.dataset.link = "down";
}
function linkUp() {
  document.body.dataset.link = "up";
  if (state.online) return;
  state.online = true;
  const banner = $("link-status");
  banner.className = "up"; banner.textContent = `Connection to the box is back (lost at ${state.lostSince.toLocaleTimeString()}).`;
  setTimeout(() => { if (state.online) banner.hidden = true; }, 4000);
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (init.body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(init.body); }
  if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = state.csrf || "";
  let response;
  try { response = await fetch(path, init); } catch (_) { linkDown(); return { status: 0, ok: false, body: { error: NO_ANSWER } }; }
  linkUp();
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401 && !(body && body.reauth) && path !== "/api/login" && path !== "/api/reauth") loggedOut();
  return { status: response.status, ok: response.ok, body };
}

async function start() {
  const session = await api("/api/session");
  if (session.status === 0) { setTimeout(start, 2000); return; }
  if (session.status === 401) { loggedOut(); return; }
  state.csrf = session.body.csrf;
  $("logout").hidden = false; $("nav").hidden = false; $("login").hidden = true;
  route();
}

/** The session is gone (logged out, expired, the box forgot it): every
 * loop stops and the login form comes back. Unsaved edits stay in memory. */
function loggedOut() {
  if (!$("login").hidden && state.csrf === null) return;
  state.csrf = null; state.gen++;
  if (feed) { feed.close(); feed = null; }
  document.querySelectorAll(".page").forEach((p) => { p.hidden = true; });
  $("nav").hidden = true; $("logout").hidden = true;
  $("login").hidden = false;
  $("login-why").textContent = document.body.dataset.seen ? "Your session has ended: log in again." : "";
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("/api/login", { method: "POST", body: { password: $("password").value } });
  if (!r.ok) { $("login-error").textContent = (r.body && r.body.error) || "login failed"; return; }
  $("login-error").textContent = ""; $("password").value = "";
  $("login").hidden = true;
  start();
});
$("logout").addEventListener("click", async () => { await api("/api/logout", { method: "POST" }); location.reload(); });

// ---- pages and their loops ----
function route() {
  if (state.csrf === null) return;
  document.body.dataset.seen = "1";
  state.gen++;
  const page = (location.hash || "#cameras").slice(1);
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + page; });
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.id === "nav-" + page));
  ({ cameras: showCameras, editor: showEditor, incidents: showIncidents, health: showHealth }[page] || showCameras)();
}
window.addEventListener("hashchange", route);
// a page that was hidden (another tab, a screen saver) starts its loops afresh
document.addEventListener("visibilitychange", () => { if (!document.hidden) route(); });

/** Runs `fn` every `ms` until the page changes; an error never ends it. */
function loop(fn, ms) {
  const gen = state.gen;
  const tick = async () => {
    if (gen !== state.gen) return;
    try { await fn(); } catch (e) { console.error(e); }
    if (gen === state.gen) setTimeout(tick, ms);
  };
  tick();
}

// ---- times and words ----
const localTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
function span(secs) {
  secs = Math.max(0, Math.round(secs));
  if (secs < 90) return `${secs} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${(secs / 3600).toFixed(1)} h`;
  return `${Math.round(secs / 86400)} days`;
}
/** What a camera's state means to an operator. */
const STATE_WORDS = { streaming: "live", connecting: "connecting", backoff: "lost, reconnecting", failed: "down", stopped: "stopped" };
const stateWords = (s) => STATE_WORDS[s] || s;
/** The journal's reason without the decoder's debugging detail (kept in the tooltip). */
const shortReason = (r) => (r ? r.split(" (from ")[0].split("\n")[0] : "");
/** "lost, reconnecting since 14:02:11 (6 min): camera `gate` (rtsp://…): Could not open resource …" */
function downText(cam) {
  return cam.state === "streaming" ? "" : `${stateWords(cam.state)} ${sinceText(cam)}`;
}
/** "since 14:02:11 (6 min): why" */
function sinceText(cam) {
  const secs = (Date.now() - new Date(cam.since).getTime()) / 1000;
  return `since ${localTime(cam.since)} (${span(secs)})${cam.reason ? ": " + shortReason(cam.reason) : ""}`;
}

// ---- drawing shared by the live views and the editor ----
/** Each zone its own colour, the same on every page. */
const ZONE_COLOURS = ["#22c55e", "#38bdf8", "#f59e0b", "#a78bfa", "#f472b6", "#2dd4bf", "#fb7185", "#84cc16"];
const zoneColour = (i) => ZONE_COLOURS[i % ZONE_COLOURS.length];
function toPx(canvas, [x, y]) { return [x * canvas.width, y * canvas.height]; }
function drawShapes(canvas, edit, overlay, selected) {
  const g = canvas.getContext("2d");
  // canvas pixels per pixel on screen, so lines and labels read the same at any picture size
  const u = canvas.width / (canvas.getBoundingClientRect().width || canvas.width);
  g.lineWidth = 2 * u; g.font = `${Math.round(13 * u)}px sans-serif`;
  const path = (points, close) => {
    g.beginPath();
    points.forEach((p, i) => { const [x, y] = toPx(canvas, p); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
    if (close) g.closePath();
  };
  if (edit) {
    for (const mask of edit.masks) { g.fillStyle = "rgba(0,0,0,0.55)"; g.strokeStyle = "#9ca3af"; path(mask, true); g.fill("evenodd"); g.stroke(); }
    edit.zones.forEach((zone, i) => {
      const on = selected === zone.name, colour = zoneColour(i);
      g.strokeStyle = on ? "#facc15" : colour;
      g.fillStyle = colour + "26";
      path(zone.points, zone.kind === "polygon");
      if (zone.kind === "polygon") g.fill();
      g.stroke();
      if (zone.kind === "line") drawArrows(canvas, g, zone.points, u);
      const [lx, ly] = toPx(canvas, zone.points[0]);
      g.fillStyle = "#fff"; g.fillText(zone.name, lx + 4, ly - 4);
      g.fillStyle = colour;
      zone.points.forEach((p) => { const [x, y] = toPx(canvas, p); g.fillRect(x - 3 * u, y - 3 * u, 6 * u, 6 * u); });
    });
  }
  if (overlay) {
    g.strokeStyle = "#f97316";
    for (const d of overlay.detections) {
      const [x1, y1] = toPx(canvas, [d.box[0], d.box[1]]); const [x2, y2] = toPx(canvas, [d.box[2], d.box[3]]);
      g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      g.fillStyle = "#f97316"; g.fillText(d.label + " " + d.score.toFixed(2), x1 + 2, y1 + 14);
    }
    g.setLineDash([4, 3]); g.strokeStyle = "#e879f9";
    for (const t of overlay.tracks) {
      const [x1, y1] = toPx(canvas, [t.box[0], t.box[1]]); const [x2, y2] = toPx(canvas, [t.box[2], t.box[3]]);
      g.strokeRect(x1 - 2, y1 - 2, x2 - x1 + 4, y2 - y1 + 4);
    }
    g.setLineDash([]);
  }
}
// Walking a line from its first point to its last, side A is on the left:
// the arrows point from A to B.
function drawArrows(canvas, g, points, u) {
  for (let i = 1; i < points.length; i++) {
    const [ax, ay] = toPx(canvas, points[i - 1]); const [bx, by] = toPx(canvas, points[i]);
    const [mx, my] = [(ax + bx) / 2, (ay + by) / 2];
    const len = Math.hypot(bx - ax, by - ay) || 1;
    const [nx, ny] = [-(by - ay) / len, (bx - ax) / len]; // to the right: towards B
    const [tx, ty] = [mx + nx * 22 * u, my + ny * 22 * u];
    g.fillStyle = g.strokeStyle;
    g.beginPath(); g.moveTo(mx - nx * 22 * u, my - ny * 22 * u); g.lineTo(tx, ty); g.stroke();
    g.beginPath(); g.moveTo(tx, ty); g.lineTo(tx - (nx * 8 - ny * 6) * u, ty - (ny * 8 + nx * 6) * u); g.lineTo(tx - (nx * 8 + ny * 6) * u, ty - (ny * 8 - nx * 6) * u); g.closePath(); g.fill();
    g.fillText("A", mx - nx * 34 * u, my - ny * 34 * u); g.fillText("B", mx + nx * 30 * u, my + ny * 30 * u);
  }
}
/** A message in the middle of a blank (black) canvas. */
function blank(canvas, text) {
  const g = canvas.getContext("2d");
  g.fillStyle = "#000"; g.fillRect(0, 0, canvas.width, canvas.height);
  const u = canvas.width / (canvas.getBoundingClientRect().width || canvas.width);
  g.fillStyle = "#e5e7eb"; g.font = `${Math.round(16 * u)}px sans-serif`; g.textAlign = "center";
  g.fillText(text, canvas.width / 2, canvas.height / 2, canvas.width * 0.9);
  g.textAlign = "start";
}

/** A camera's live view: the bitmap and when it was taken (ms, page clock), or why there is none. */
async function loadFrame(camera) {
  let response;
  try { response = await fetch("/api/cameras/" + encodeURIComponent(camera) + "/frame.jpg", { credentials: "same-origin" }); }
  catch (_) { linkDown(); return { error: "connection to the box lost", lost: true }; }
  linkUp();
  if (response.status === 401) { loggedOut(); return { error: "logged out" }; }
  if (!response.ok) {
    let reason = "no picture"; try { reason = (await response.json()).error; } catch (_) {}
    return { error: reason };
  }
  const age = Number(response.headers.get("x-frame-age-ms") || 0);
  return { bitmap: await createImageBitmap(await response.blob()), taken: Date.now() - age };
}

async function loadConfig() {
  if (!schema) { const s = await api("/api/schema"); if (s.ok) schema = s.body; }
  const r = await api("/api/config");
  if (r.ok) state.config = r.body;
  return r;
}

// The config file's JSON Schema, from the box (GET /api/schema): the rule
// kinds and every key each accepts, with its type, default and description.
let schema = null;
const resolveRef = (s) => {
  for (let i = 0; s && s.$ref && i < 8; i++) s = s.$ref.slice(2).split("/").reduce((n, p) => n && n[p], schema);
  return s || {};
};
const ruleKinds = () => (schema ? resolveRef(schema.$defs && schema.$defs.Rule).oneOf || [] : []);
const kindSchema = (name) => ruleKinds().find((k) => k.title === name);

// ---- Cameras ----
function showCameras() {
  loop(camerasTick, 2000);
}

async function camerasTick() {
  if (!state.config) await loadConfig();
  const r = await api("/api/cameras");
  const list = $("camera-list");
  if (!r.ok) {
    if (!list.children.length) list.textContent = (r.body && r.body.error) || "cannot list cameras";
    list.querySelectorAll(".camera").forEach((card) => staleness(card));
    return;
  }
  if (!list.querySelector(".camera")) list.textContent = "";
  for (const cam of r.body.cameras) {
    state.cameras.set(cam.name, cam);
    let card = document.getElementById("camera-" + cam.name);
    if (!card) {
      card = el("div", { class: "camera", id: "camera-" + cam.name },
        el("h2", { text: cam.name }), el("p", { class: "facts" }), el("p", { class: "down" }),
        el("canvas", { width: 640, height: 480 }), el("p", { class: "note picture-note" }));
      list.append(card);
    }
    // one live loop per card and page visit
    if (card.dataset.gen !== String(state.gen)) { card.dataset.gen = String(state.gen); loop(() => liveFrame(cam.name, card), 500); }
    const facts = card.querySelector(".facts");
    card.dataset.state = cam.state;
    facts.replaceChildren(el("span", { class: "state " + cam.state, text: stateWords(cam.state) }),
      ` ${cam.fps} fps decoded · ${cam.detect_fps} fps detected · last incident: ${cam.last_incident ? localTime(cam.last_incident) : "none"}`);
    card.querySelector(".down").textContent = downText(cam);
    card.querySelector(".down").title = cam.reason || "";
    staleness(card);
  }
}

/** Marks a card's picture stale (with its age and why) when it is older than STALE_SECS. */
function staleness(card) {
  const note = card.querySelector(".picture-note");
  const taken = Number(card.dataset.taken || 0);
  const age = taken ? (Date.now() - taken) / 1000 : null;
  const stale = !state.online || age === null || age > STALE_SECS;
  card.classList.toggle("stale", stale);
  card.dataset.stale = stale ? "1" : "";
  if (!stale) { note.textContent = ""; return; }
  const cam = state.cameras.get(card.id.slice("camera-".length));
  const why = !state.online ? "connection to the box lost" : card.dataset.error || (cam && cam.state !== "streaming" ? "the camera is " + stateWords(cam.state) : "no new picture");
  note.textContent = age === null ? `No picture: ${why}` : `Picture ${span(age)} old — ${why}`;
}

async function liveFrame(name, card) {
  const canvas = card.querySelector("canvas");
  if (!document.body.contains(canvas)) return;
  const frame = await loadFrame(name);
  if (frame.bitmap) {
    const overlay = await api("/api/cameras/" + encodeURIComponent(name) + "/overlay");
    canvas.width = frame.bitmap.width; canvas.height = frame.bitmap.height;
    canvas.getContext("2d").drawImage(frame.bitmap, 0, 0);
    const edit = state.config && state.config.cameras.find((c) => c.camera === name);
    drawShapes(canvas, edit, overlay.ok ? overlay.body : null, null);
    card.dataset.taken = String(frame.taken); card.dataset.error = "";
    canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
  } else {
    card.dataset.error = frame.lost ? "" : frame.error;
  }
  staleness(card);
}

// ---- Editor ----
/** The edit differs from what was loaded (or last saved). */
const dirty = () => !!state.edit && JSON.stringify(state.edit) !== state.saved;
function updateDirty() {
  const on = dirty();
  $("dirty").hidden = !on;
  document.body.dataset.dirty = on ? "1" : "";
  document.title = (on ? "• " : "") + "watchpost console";
}
window.addEventListener("beforeunload", (e) => { if (dirty()) { e.preventDefault(); e.returnValue = ""; } });

async function showEditor() {
  // an unsaved edit survives going to another page and back
  if (!(state.edit && dirty())) {
    const r = await loadConfig();
    if (!r.ok) { $("save-status").textContent = (r.body && r.body.error) || "cannot read the config"; if (!state.config) { loop(() => (state.config ? route() : null), 3000); return; } }
    const select = $("editor-camera");
    select.replaceChildren(...state.config.cameras.map((c) => el("option", { value: c.camera, text: c.camera })));
    if (state.camera && state.config.cameras.some((c) => c.camera === state.camera)) select.value = state.camera;
    pickCamera(select.value);
  } else {
    renderLists(); redraw();
  }
  loop(editorFrame, 2000);
}
$("editor-camera").addEventListener("change", (e) => {
  if (dirty() && !window.confirm(`Camera ${state.camera} has unsaved changes. Switch to ${e.target.value} and lose them?`)) {
    e.target.value = state.camera; return;
  }
  pickCamera(e.target.value);
  editorFrame();
});

function pickCamera(name) {
  state.camera = name;
  const loaded = state.config.cameras.find((c) => c.camera === name);
  state.edit = loaded ? JSON.parse(JSON.stringify(loaded)) : null;
  state.saved = JSON.stringify(state.edit);
  // never another camera's picture under this one's zones
  editor.picture = null; editor.error = "loading the picture…";
  setTool("move");
  state.errors = []; $("save-errors").replaceChildren(); $("reapply").hidden = true;
  $("try-box").hidden = true; $("try-results").replaceChildren();
  // why Save will refuse this file or camera, before anyone edits
  const why = state.config.refused || (state.edit && state.edit.locked), status = $("save-status");
  if (why) { status.textContent = why; status.dataset.locked = "1"; }
  else { status.textContent = ""; delete status.dataset.locked; }
  delete status.dataset.result;
  if (!state.edit) return;
  renderLists(); redraw();
}

/** The editor's picture: always the selected camera's, or none. */
const editor = { picture: null, error: null };
async function editorFrame() {
  const camera = state.camera;
  if (!camera) return;
  const frame = await loadFrame(camera);
  if (camera !== state.camera) return; // another camera was picked meanwhile
  const canvas = $("editor-canvas");
  if (frame.bitmap) {
    editor.picture = { camera, bitmap: frame.bitmap, taken: frame.taken }; editor.error = null;
    canvas.width = frame.bitmap.width; canvas.height = frame.bitmap.height;
    canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
  } else if (!frame.lost) {
    editor.picture = null; editor.error = frame.error;
  }
  redraw();
}

function redraw() {
  const canvas = $("editor-canvas");
  const g = canvas.getContext("2d");
  const picture = editor.picture && editor.picture.camera === state.camera ? editor.picture : null;
  canvas.dataset.camera = picture ? picture.camera : "";
  const note = $("editor-picture-note");
  if (picture) {
    g.drawImage(picture.bitmap, 0, 0, canvas.width, canvas.height);
    const age = (Date.now() - picture.taken) / 1000;
    const stale = age > STALE_SECS || !state.online;
    note.textContent = stale ? `Picture of ${state.camera} ${span(age)} old${state.online ? "" : " — connection to the box lost"}` : "";
    note.dataset.stale = stale ? "1" : "";
  } else {
    const text = `No picture of ${state.camera || "this camera"}: ${editor.error || "connection to the box lost"}`;
    blank(canvas, text);
    note.textContent = text; note.dataset.stale = "1";
  }
  updateDirty();
  if (!state.edit) return;
  drawShapes(canvas, state.edit, null, state.drag && state.drag.name);
  if (state.drawing) {
    g.strokeStyle = "#facc15"; g.setLineDash([5, 4]); g.beginPath();
    state.drawing.points.forEach((p, i) => { const [x, y] = toPx(canvas, p); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
    g.stroke(); g.setLineDash([]);
    state.drawing.points.forEach((p) => { const [x, y] = toPx(canvas, p); g.fillStyle = "#facc15"; g.fillRect(x - 3, y - 3, 6, 6); });
  }
}

function setTool(tool) {
  state.tool = tool;
  document.querySelectorAll(".tool").forEach((t) => t.classList.toggle("active", t.dataset.tool === tool));
  state.drawing = tool === "move" ? null : { kind: tool, points: [] };
  $("editor-hint").textContent = tool === "move" ? "Drag a corner to move it, or inside a shape to move it all."
    : "Click to add corners, then Finish shape or double-click the last corner (a line may have two points or more; a zone or mask three or more).";
}
document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => { setTool(b.dataset.tool); redraw(); }));

/** Where the pointer is on the picture (0..1); within 1.5 % of an edge, on it. */
function pointer(e) {
  const r = $("editor-canvas").getBoundingClientRect();
  const snap = (v) => (v < 0.015 ? 0 : v > 0.985 ? 1 : v);
  return [snap((e.clientX - r.left) / r.width), snap((e.clientY - r.top) / r.height)];
}
function shapes() {
  return [...state.edit.zones.map((z) => ({ name: z.name, points: z.points, area: z.kind === "polygon" })),
    ...state.edit.masks.map((m, i) => ({ name: "mask " + (i + 1), points: m, area: true }))];
}
function inside(points, [x, y]) {
  let hit = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i]; const [xj, yj] = points[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}
const canvas = $("editor-canvas");
canvas.addEventListener("mousedown", (e) => {
  if (!state.edit) return;
  const p = pointer(e);
  const near = 12 / canvas.getBoundingClientRect().width;
  if (state.drawing) {
    // the second press of a double-click finishes the shape: no second corner there
    const last = state.drawing.points[state.drawing.points.length - 1];
    if (e.detail > 1 || (last && Math.hypot(last[0] - p[0], last[1] - p[1]) < near / 2)) return;
    state.drawing.points.push(p); redraw(); return;
  }
  for (const s of shapes()) {
    const i = s.points.findIndex(([x, y]) => Math.hypot(x - p[0], y - p[1]) < near);
    if (i >= 0) { state.drag = { name: s.name, points: s.points, index: i, from: p }; return; }
  }
  for (const s of shapes()) if (s.area && inside(s.points, p)) { state.drag = { name: s.name, points: s.points, index: -1, from: p }; return; }
});
canvas.addEventListener("mousemove", (e) => {
  if (!state.drag) return;
  const p = pointer(e); const d = state.drag;
  if (d.index >= 0) d.points[d.index] = p;
  else { const [dx, dy] = [p[0] - d.from[0], p[1] - d.from[1]]; d.points.forEach((q) => { q[0] = Math.min(1, Math.max(0, q[0] + dx)); q[1] = Math.min(1, Math.max(0, q[1] + dy)); }); d.from = p; }
  redraw();
});
window.addEventListener("mouseup", () => { if (state.drag) { state.drag = null; renderLists(); redraw(); } });
canvas.addEventListener("dblclick", () => finishShape());
$("finish").addEventListener("click", () => finishShape());
$("cancel-shape").addEventListener("click", () => { setTool("move"); redraw(); });

function finishShape() {
  const d = state.drawing;
  if (!d) return;
  const need = d.kind === "line" ? 2 : 3;
  if (d.points.length < need) { $("editor-hint").textContent = `A ${d.kind === "line" ? "line" : d.kind} needs at least ${need} points.`; return; }
  if (d.kind === "mask") state.edit.masks.push(d.points);
  else {
    let name = $("new-name").value.trim();
    if (!name) { let n = state.edit.zones.length + 1; while (state.edit.zones.some((z) => z.name === "zone-" + n)) n++; name = "zone-" + n; }
    if (state.edit.zones.some((z) => z.name === name)) { $("editor-hint").textContent = `A zone is already named ${name}.`; return; }
    state.edit.zones.push({ name, kind: d.kind, points: d.points });
    $("new-name").value = "";
  }
  setTool("move");
  renderLists(); redraw();
}

/** Removes a zone; the rules that watch it are told at once, not at Save. */
function removeZone(i) {
  const zone = state.edit.zones[i];
  const users = state.edit.rules.filter((r) => r.zone === zone.name).map((r) => r.name);
  if (users.length && !window.confirm(`Rule${users.length > 1 ? "s" : ""} ${users.join(", ")} watch${users.length > 1 ? "" : "es"} ${zone.name}. Remove the zone anyway? ${users.length > 1 ? "They" : "It"} will need another zone before Save.`)) return;
  state.edit.zones.splice(i, 1); renderLists(); redraw();
}

function fieldError(field) {
  const texts = state.errors.filter((e) => e.field && (e.field === field || e.field.startsWith(field + ":"))).map((e) => e.text);
  return el("p", { class: "field-error", "data-field": field, text: texts.join("\n") });
}

function renderLists() {
  if (!state.edit) return;
  const zones = $("zone-list");
  zones.replaceChildren(...state.edit.zones.map((z, i) => el("li", {},
    el("span", { class: "swatch", style: `background:${zoneColour(i)}` }),
    `${z.name} (${z.kind === "line" ? "line" : "zone"}, ${z.points.length} points) `,
    el("button", { class: "remove-zone", onclick: () => removeZone(i), text: "Remove" }),
    fieldError("zone:" + z.name))));
  $("mask-list").replaceChildren(...state.edit.masks.map((m, i) => el("li", {}, `mask ${i + 1} (${m.length} points) `,
    el("button", { onclick: () => { state.edit.masks.splice(i, 1); renderLists(); redraw(); }, text: "Remove" }))));
  const masksError = document.querySelector('#page-editor > .cols .field-error[data-field="masks"]');
  if (masksError) masksError.textContent = state.errors.filter((e) => e.field === "masks").map((e) => e.text).join("\n");
  const zoneNames = state.edit.zones.map((z) => z.name);
  $("rule-list").replaceChildren(...state.edit.rules.map((rule, i) => {
    const box = ruleForm(rule, i);
    if (rule.zone && !zoneNames.includes(rule.zone)) {
      box.append(el("p", { class: "field-error rule-warning", text: `Zone ${rule.zone} is not on this camera (any more): pick another zone before Save.` }));
    }
    return box;
  }));
  $("no-rules").hidden = state.edit.rules.length > 0;
  updateDirty();
}

// numbers are checked as they are typed: what is not a number is marked, and Save waits
function checkNumber(input) {
  const v = input.value.trim();
  const bad = v !== "" && !Number.isFinite(Number(v));
  input.classList.toggle("invalid", bad);
  const name = input.parentElement.querySelector("span");
  if (!name.dataset.key) name.dataset.key = name.textContent;
  name.textContent = bad ? `${name.dataset.key}: not a number` : name.dataset.key;
  name.classList.toggle("error", bad);
}
$("rule-list").addEventListener("input", (e) => { if (e.target.matches("input[data-number]")) checkNumber(e.target); updateDirty(); });
$("rule-list").addEventListener("change", updateDirty);

// The form of one rule: its name, kind and zone, then every other key its
// kind's schema lists, each with the input its type asks for.
function ruleForm(rule, index) {
  const id = (key) => `rule-${index}-${key}`;
  const label = (key, help, control) => el("label", { title: help || "" }, el("span", { text: key }), control);
  const input = (key, value, set, attrs = {}) => el("input", { id: id(key), value: value ?? "", ...attrs, oninput: (e) => set(e.target.value.trim()) });
  const select = (key, options, value, set) => {
    const s = el("select", { id: id(key), onchange: (e) => set(e.target.value) }, ...options.map((o) => el("option", { value: o, text: o || "(default)" })));
    s.value = value ?? "";
    return s;
  };
  const zoneNames = state.edit.zones.map((z) => z.name);
  if (rule.zone && !zoneNames.includes(rule.zone)) zoneNames.push(rule.zone);
  const kinds = ruleKinds().map((k) => k.title);
  if (rule.kind && !kinds.includes(rule.kind)) kinds.push(rule.kind);
  const kind = kindSchema(rule.kind) || { properties: {} };
  const fields = [
    label("name", "", input("name", rule.name, (v) => { rule.name = v; })),
    label("kind", kind.properties.kind && kind.properties.kind.description, select("kind", kinds, rule.kind, (v) => {
      // keys the new kind does not have would be refused: drop them
      const keys = (kindSchema(v) || { properties: {} }).properties;
      for (const key of Object.keys(rule)) if (!(key in keys) && !["name", "kind", "zone"].includes(key)) delete rule[key];
      rule.kind = v; renderLists();
    })),
    label("zone", "", select("zone", ["", ...zoneNames], rule.zone, (v) => { rule.zone = v; })),
  ];
  for (const [key, prop] of Object.entries(kind.properties)) {
    if (["name", "kind", "zone"].includes(key)) continue;
    const field = keyInput(rule, key, prop, id(key), input, select);
    if (field) fields.push(label(key, prop.description || resolveRef(prop).description, field));
  }
  return el("div", { class: "rule", id: "rule-" + index }, ...fields,
    el("button", { onclick: () => { state.edit.rules.splice(index, 1); renderLists(); }, text: "Remove rule" }),
    fieldError("rule:" + rule.name));
}
// The input for one key, from its schema; null for tables the form cannot hold.
function keyInput(rule, key, prop, _id, input, select) {
  const s = resolveRef(prop);
  const hint = prop.default !== undefined ? { placeholder: String(prop.default) } : {};
  const choices = s.enum || (s.oneOf && s.oneOf.every((v) => v.const !== undefined) ? s.oneOf.map((v) => v.const) : null);
  if (key === "schedule") {
    return input(key, scheduleText(rule.schedule), (v) => { rule.schedule = parseSchedule(v); }, { size: 28, placeholder: "sat,sun 22:00-06:00; 08:00-17:00" });
  }
  if (choices) return select(key, ["", ...choices], rule[key], (v) => { rule[key] = v || null; });
  if (s.type === "boolean") {
    return select(key, ["", "true", "false"], rule[key] == null ? "" : String(rule[key]), (v) => { rule[key] = v === "" ? null : v === "true"; });
  }
  if (s.type === "number" || s.type === "integer") {
    return input(key, rule[key], (v) => { rule[key] = v === "" ? null : Number(v); }, { size: 6, "data-number": "", inputmode: "decimal", ...hint });
  }
  if (s.type === "string") return input(key, rule[key], (v) => { rule[key] = v || null; }, hint);
  if (s.type === "array" && ["string", "number"].includes(resolveRef(s.items).type)) {
    const numbers = resolveRef(s.items).type === "number";
    return input(key, (rule[key] || []).join(", "), (v) => {
      rule[key] = v ? v.split(",").map((t) => t.trim()).filter(Boolean).map((t) => (numbers ? Number(t) : t)) : null;
    }, hint);
  }
  return null;
}
function scheduleText(schedule) {
  return (schedule || []).map((w) => `${w.days ? w.days.join(",") + " " : ""}${w.from}-${w.to}`).join("; ");
}
function parseSchedule(text) {
  if (!text) return null;
  return text.split(";").map((part) => part.trim()).filter(Boolean).map((part) => {
    const bits = part.split(/\s+/);
    const times = bits.pop().split("-");
    return { days: bits.length ? bits.join(",").split(",").filter(Boolean) : null, from: times[0] || "", to: times[1] || "" };
  });
}
$("add-rule").addEventListener("click", () => {
  if (!state.edit) return;
  let n = state.edit.rules.length + 1; while (state.edit.rules.some((r) => r.name === "rule-" + n)) n++;
  const zone = state.edit.zones.length ? state.edit.zones[state.edit.zones.length - 1] : null;
  state.edit.rules.push({ name: "rule-" + n, kind: zone && zone.kind === "line" ? "line_crossing" : "intrusion", zone: zone ? zone.name : "",
    labels: ["person"] });
  renderLists();
});
$("revert").addEventListener("click", () => pickCamera(state.camera));
// The password again, for a save that removes what protects people; true once confirmed.
function confirmPassword(why) {
  return new Promise((resolve) => {
    const dialog = $("reauth");
    $("reauth-why").textContent = why; $("reauth-error").textContent = ""; $("reauth-password").value = "";
    const done = (ok) => { $("reauth-form").onsubmit = null; $("reauth-cancel").onclick = null; dialog.close(); resolve(ok); };
    $("reauth-cancel").onclick = () => done(false);
    $("reauth-form").onsubmit = async (e) => {
      e.preventDefault();
      const r = await api("/api/reauth", { method: "POST", body: { password: $("reauth-password").value } });
      if (r.ok) done(true); else $("reauth-error").textContent = (r.body && r.body.error) || "not confirmed";
    };
    dialog.showModal();
  });
}

async function save() {
  const status = $("save-status");
  $("save-errors").replaceChildren(); $("reapply").hidden = true;
  if (document.querySelector("#rule-list input.invalid")) {
    status.textContent = "Some numbers are not numbers (marked in red): correct them first."; status.dataset.result = "refused"; return;
  }
  status.textContent = "Saving…";
  const send = () => api("/api/config", { method: "POST", body: { etag: state.config.etag, edit: state.edit } });
  let r = await send();
  if (r.status === 401 && r.body && r.body.reauth) {
    if (await confirmPassword(r.body.error)) r = await send();
  }
  state.errors = (r.body && r.body.errors) || [];
  if (r.ok && r.body.saved) {
    status.textContent = `Saved (${r.body.changes.length} change${r.body.changes.length === 1 ? "" : "s"}); reload: ${r.body.reload}. Backup: ${r.body.backup}`;
    state.config.etag = r.body.etag;
    const kept = state.camera; await loadConfig(); state.camera = kept; pickCamera(kept);
    status.textContent = `Saved (${r.body.changes.length} change${r.body.changes.length === 1 ? "" : "s"}); reload: ${r.body.reload}. Backup: ${r.body.backup}`;
  } else if (r.ok) {
    status.textContent = r.body.message;
  } else {
    status.textContent = (r.body && r.body.error) || "Save failed";
    if (r.status === 409) $("reapply").hidden = false;
    renderLists();
    // each problem once: beside its zone or rule when it has one, listed here otherwise
    const shown = [...document.querySelectorAll("#page-editor .field-error[data-field]")].map((f) => f.dataset.field);
    const rest = state.errors.filter((e) => !(e.field && shown.some((f) => e.field === f || e.field.startsWith(f + ":"))));
    $("save-errors").replaceChildren(...rest.map((e) => el("li", { text: e.text })));
  }
  status.dataset.result = r.ok && r.body.saved ? "saved" : "refused";
}
$("save").addEventListener("click", save);
// the file changed on disk since it was loaded: load it again, keep this camera's edit, save it over the new file
$("reapply").addEventListener("click", async () => {
  const edit = state.edit;
  const r = await loadConfig();
  if (!r.ok) { $("save-status").textContent = (r.body && r.body.error) || "cannot read the config"; return; }
  const loaded = state.config.cameras.find((c) => c.camera === state.camera);
  if (!loaded) { $("save-status").textContent = `Camera ${state.camera} is no longer in the file.`; return; }
  state.saved = JSON.stringify(loaded);
  state.edit = edit;
  renderLists(); redraw();
  await save();
});

$("try").addEventListener("click", async () => {
  $("try-box").hidden = false; $("try-status").textContent = "trying…"; $("try-results").replaceChildren();
  const r = await api(`/api/cameras/${encodeURIComponent(state.camera)}/try`, { method: "POST", body: { edit: state.edit } });
  if (!r.ok) {
    $("try-status").textContent = (r.body && r.body.error) || "the trial failed";
    $("try-results").replaceChildren(...((r.body && r.body.errors) || []).map((e) => el("li", { text: e })));
    $("try-box").dataset.result = "refused";
    return;
  }
  const t = r.body;
  $("try-status").textContent = `(${t.frames} frames, ${t.secs.toFixed(0)} s, nothing saved)` +
    (t.not_tried.length ? ` — not tried (they watch pixels): ${t.not_tried.join(", ")}` : "");
  // one entry per rule: how many incidents it would have started, each event below
  const rules = new Map();
  for (const e of t.events) { if (!rules.has(e.rule)) rules.set(e.rule, []); rules.get(e.rule).push(e); }
  const lines = rules.size ? [...rules].map(([rule, events]) => el("li", {},
    el("strong", { text: `${rule}: ${events.filter((e) => e.event === "start").length} incident(s)` }),
    el("ul", {}, ...events.map((e) => el("li", { text: `${e.secs_ago.toFixed(0)} s ago: ${e.event} ${e.rule} in ${e.zone} (${e.labels.join(", ") || "no objects"})` })))))
    : [el("li", { text: "nothing" })];
  $("try-results").replaceChildren(...lines);
  $("try-box").dataset.result = "tried";
});

// ---- Incidents ----
// One row per incident (not per event): open or closed, how long, its
// severity's colour, a snapshot that opens large, and who acknowledged it.
let feed = null;
let feedRetry = null;
function showIncidents() {
  openFeed();
  loop(renderIncidents, 5000); // durations of open incidents move on
}
function openFeed() {
  if (feed || state.csrf === null) return;
  feed = new EventSource("/api/incidents/events");
  feed.onopen = () => { $("feed-status").textContent = "live"; $("feed-status").dataset.live = "1"; };
  feed.onerror = () => {
    $("feed-status").textContent = `reconnecting… (since ${new Date().toLocaleTimeString()})`; $("feed-status").dataset.live = "";
    // the browser retries by itself unless the answer was an error (a lost session): ask, then open again
    if (feed && feed.readyState === EventSource.CLOSED) { feed = null; reopenFeed(); }
  };
  feed.addEventListener("incident", (e) => { incidentEvent(JSON.parse(e.data)); renderSoon(); });
  feed.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    incident(s.incident_id, s.camera).snapshot = true;
    renderSoon();
  });
  feed.addEventListener("ack", (e) => {
    const a = JSON.parse(e.data);
    const i = incident(a.incident_id, a.camera);
    if (!i.acks.some((k) => k.time === a.time)) i.acks.push(a);
    renderSoon();
  });
  feed.addEventListener("missed", (e) => { $("feed-status").textContent = `live (missed ${e.data} events: the page was too slow)`; });
}
function reopenFeed() {
  clearTimeout(feedRetry);
  feedRetry = setTimeout(async () => {
    const s = await api("/api/session");
    if (s.ok) openFeed(); else if (s.status !== 401) reopenFeed();
  }, 2000);
}

function incident(id, camera) {
  if (!state.incidents.has(id)) state.incidents.set(id, { id, camera, rule: "", zone: "", severity: "", labels: [], events: [], snapshot: false, acks: [], start: null, end: null, last: null });
  return state.incidents.get(id);
}
function incidentEvent(ev) {
  const i = incident(ev.incident_id, ev.camera);
  if (i.events.some((e) => e.seq === ev.seq && e.event === ev.event)) return;
  i.events.push(ev); i.events.sort((a, b) => a.seq - b.seq);
  Object.assign(i, { camera: ev.camera, rule: ev.rule, zone: ev.zone, severity: ev.severity, labels: ev.labels });
  if (ev.event === "start" || !i.start) i.start = ev.time;
  if (ev.event === "end") i.end = ev.time;
  i.last = ev.time;
}
let renderPending = false;
function renderSoon() { if (renderPending) return; renderPending = true; requestAnimationFrame(() => { renderPending = false; renderIncidents(); }); }

const SINCE = { hour: 3600e3, day: 86400e3, week: 7 * 86400e3, all: Infinity };
function renderIncidents() {
  if ($("page-incidents").hidden) return;
  const cam = $("filter-camera").value.trim(); const rule = $("filter-rule").value.trim();
  const which = $("filter-state").value; const since = Date.now() - SINCE[$("filter-since").value];
  const all = [...state.incidents.values()].filter((i) => i.start || i.last)
    .sort((a, b) => new Date(b.start || b.last) - new Date(a.start || a.last));
  const rows = all.filter((i) => (!cam || i.camera.includes(cam)) && (!rule || i.rule.includes(rule))
    && new Date(i.last || i.start).getTime() >= since
    && (which === "all" || (which === "open" && !i.end) || (which === "closed" && i.end) || (which === "unacknowledged" && !i.acks.length)));
  const open = all.filter((i) => !i.end).length;
  $("incident-count").textContent = `${rows.length} shown of ${all.length} (${open} open)`;
  $("incident-table").tBodies[0].replaceChildren(...rows.map((i) => {
    const from = new Date(i.start || i.last).getTime();
    const secs = ((i.end ? new Date(i.end).getTime() : Date.now()) - from) / 1000;
    const ack = i.acks[i.acks.length - 1];
    return el("tr", { class: `incident sev-${i.severity}${i.end ? " closed" : " open"}${ack ? " acked" : ""}${state.selected === i.id ? " selected" : ""}`, "data-incident": i.id, onclick: () => { state.selected = i.id; renderIncidents(); } },
      el("td", { text: localTime(i.start || i.last) }), el("td", { text: i.camera }), el("td", { text: i.rule }), el("td", { text: i.zone }),
      el("td", {}, el("span", { class: "severity", text: i.severity })),
      el("td", { class: "incident-state", text: i.end ? `closed after ${span(secs)}` : `open for ${span(secs)}` }),
      el("td", { class: "incident-ack", text: ack ? `✓ ${new Date(ack.time).toLocaleTimeString()}${ack.note ? ": " + ack.note : ""}` : "" }),
      el("td", {}, i.snapshot ? el("img", { src: "/api/snapshots/" + encodeURIComponent(i.id), alt: "redacted snapshot", loading: "lazy" }) : ""));
  }));
  renderDetail();
}
$("filter-camera").addEventListener("input", renderIncidents);
$("filter-rule").addEventListener("input", renderIncidents);
$("filter-state").addEventListener("change", renderIncidents);
$("filter-since").addEventListener("change", renderIncidents);

function renderDetail() {
  const i = state.selected && state.incidents.get(state.selected);
  $("incident-detail").hidden = !i;
  if (!i) return;
  if ($("incident-detail").dataset.incident !== i.id) { $("ack-note").value = ""; $("ack-status").textContent = ""; }
  $("incident-detail").dataset.incident = i.id;
  $("detail-title").textContent = `${i.rule} on ${i.camera}, zone ${i.zone} — ${i.severity}`;
  $("detail-facts").textContent = `${i.end ? "closed" : "open"}; started ${localTime(i.start || i.last)}${i.end ? ", ended " + localTime(i.end) : ""}; ${i.labels.join(", ")}`;
  const img = $("detail-snapshot");
  img.hidden = !i.snapshot;
  const src = "/api/snapshots/" + encodeURIComponent(i.id);
  if (i.snapshot && img.getAttribute("src") !== src) img.setAttribute("src", src);
  // the evidence clip of a rule that records one: asked for until it is sealed
  const wants = i.events.some((e) => e.evidence);
  const video = $("detail-clip");
  video.hidden = !wants;
  if (wants && video.dataset.incident !== i.id) {
    video.dataset.incident = i.id; $("clip-status").textContent = "";
    video.setAttribute("src", "/api/clips/" + encodeURIComponent(i.id));
  }
  if (!wants && video.dataset.incident) { delete video.dataset.incident; video.removeAttribute("src"); video.load(); $("clip-status").textContent = ""; }
  $("detail-acks").replaceChildren(...i.acks.map((a) => el("li", { text: `Acknowledged ${localTime(a.time)}${a.note ? ": " + a.note : ""}` })));
  $("incident-json").textContent = i.events.map((e) => JSON.stringify(e, null, 2)).join("\n");
}
$("detail-snapshot").addEventListener("click", () => { $("snapshot-large").src = $("detail-snapshot").src; $("snapshot-dialog").showModal(); });
$("snapshot-dialog").addEventListener("click", () => $("snapshot-dialog").close());
$("detail-clip").addEventListener("error", () => {
  const video = $("detail-clip"); const id = video.dataset.incident;
  if (!id) return;
  $("clip-status").textContent = "The evidence clip is not sealed yet (it is made after the incident's last seconds); asking again in 5 s.";
  setTimeout(() => { if (video.dataset.incident === id) video.setAttribute("src", "/api/clips/" + encodeURIComponent(id) + "?again=" + Date.now()); }, 5000);
});
$("detail-clip").addEventListener("loadeddata", () => { $("clip-status").textContent = "Evidence clip: redacted frame by frame and signed by the box (check it with watchpost verify)."; });
$("ack-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = state.selected; if (!id) return;
  const r = await api(`/api/incidents/${encodeURIComponent(id)}/ack`, { method: "POST", body: { note: $("ack-note").value } });
  $("ack-status").textContent = r.ok ? "Acknowledged." : (r.body && r.body.error) || "not acknowledged";
  $("ack-status").dataset.result = r.ok ? "acked" : "refused";
  if (r.ok) { const i = state.incidents.get(id); if (!i.acks.some((k) => k.time === r.body.time)) i.acks.push(r.body); $("ack-note").value = ""; renderIncidents(); }
});

// ---- Health ----
function showHealth() { loop(healthTick, 2000); }
async function healthTick() {
  const r = await api("/api/health");
  if (!r.ok) {
    $("health-box").textContent = `Box: unknown — ${(r.body && r.body.error) || "no answer"}`;
    $("health-box").className = "unknown";
    return;
  }
  const h = r.body;
  $("health-box").textContent = h.healthy ? "Box: healthy" : `Box: NOT healthy — ${h.why || "see the journal"}`;
  $("health-box").className = h.healthy ? "healthy" : "unhealthy";
  $("health-broker").textContent = `Broker: ${h.broker.connected === null ? "not started" : h.broker.connected ? "connected" : "disconnected"}`;
  $("health-outbox").textContent = `Outbox: ${h.outbox.pending} waiting for the broker${h.outbox.writable ? "" : " — the disk cannot be written!"}`;
  $("health-cameras").tBodies[0].replaceChildren(...h.cameras.map((c) => el("tr", { class: "camera-health " + c.state + (c.down ? " down" : ""), "data-camera": c.name },
    el("td", { text: c.name }), el("td", {}, el("span", { class: "state " + c.state, text: stateWords(c.state) })),
    el("td", { text: c.state === "streaming" ? `since ${localTime(c.since)}` : sinceText(c) + (c.down ? ` — down for more than ${h.down_limit_secs} s: the box counts as not healthy` : "") }))));
  $("metrics-table").tBodies[0].replaceChildren(...h.metrics.map((m) => el("tr", {}, el("td", { text: m.name }), el("td", { text: m.value }))));
}

start();
