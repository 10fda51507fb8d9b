// watchpost console: four pages over the box's JSON API. No framework, no
// outside resources; every picture shown comes redacted from the box.
"use strict";

const state = { csrf: null, config: null, camera: null, edit: null, tool: "move",
  drawing: null, drag: null, overlay: null, errors: [], incidents: [] };
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  kids.forEach((k) => e.append(k));
  return e;
};

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (init.body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(init.body); }
  if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = state.csrf || "";
  const response = await fetch(path, init);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  return { status: response.status, ok: response.ok, body };
}

async function start() {
  const session = await api("/api/session");
  if (session.status === 401) { $("login").hidden = false; return; }
  state.csrf = session.body.csrf;
  $("logout").hidden = false;
  window.addEventListener("hashchange", route);
  route();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("/api/login", { method: "POST", body: { password: $("password").value } });
  if (!r.ok) { $("login-error").textContent = (r.body && r.body.error) || "login failed"; return; }
  $("login-error").textContent = "";
  $("login").hidden = true;
  start();
});
$("logout").addEventListener("click", async () => { await api("/api/logout", { method: "POST" }); location.reload(); });

let timers = [];
function route() {
  timers.forEach(clearTimeout); timers = [];
  const page = (location.hash || "#cameras").slice(1);
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + page; });
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.id === "nav-" + page));
  ({ cameras: showCameras, editor: showEditor, incidents: showIncidents, health: showHealth }[page] || showCameras)();
}
const later = (fn, ms) => timers.push(setTimeout(fn, ms));

// ---- drawing shared by the live views and the editor ----
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
    for (const zone of edit.zones) {
      const on = selected === zone.name;
      g.strokeStyle = on ? "#facc15" : zone.kind === "line" ? "#38bdf8" : "#22c55e";
      g.fillStyle = "rgba(34,197,94,0.15)";
      path(zone.points, zone.kind === "polygon");
      if (zone.kind === "polygon") g.fill();
      g.stroke();
      if (zone.kind === "line") drawArrows(canvas, g, zone.points, u);
      const [lx, ly] = toPx(canvas, zone.points[0]);
      g.fillStyle = "#fff"; g.fillText(zone.name, lx + 4, ly - 4);
      zone.points.forEach((p) => { const [x, y] = toPx(canvas, p); g.fillRect(x - 3 * u, y - 3 * u, 6 * u, 6 * u); });
    }
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

async function loadFrame(camera) {
  const response = await fetch("/api/cameras/" + encodeURIComponent(camera) + "/frame.jpg", { credentials: "same-origin" });
  if (!response.ok) {
    let reason = "no picture"; try { reason = (await response.json()).error; } catch (_) {}
    return { error: reason };
  }
  return { bitmap: await createImageBitmap(await response.blob()) };
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
async function showCameras() {
  if (!state.config) await loadConfig();
  const r = await api("/api/cameras");
  const list = $("camera-list");
  if (!r.ok) { list.textContent = (r.body && r.body.error) || "cannot list cameras"; return; }
  for (const cam of r.body.cameras) {
    let card = document.getElementById("camera-" + cam.name);
    if (!card) {
      card = el("div", { class: "camera", id: "camera-" + cam.name },
        el("h2", { text: cam.name }), el("p", { class: "facts" }), el("canvas", { width: 640, height: 480 }), el("p", { class: "note picture-note" }));
      list.append(card);
      liveView(cam.name, card);
    }
    const facts = card.querySelector(".facts");
    facts.replaceChildren(el("span", { class: "state " + cam.state, text: cam.state }),
      ` ${cam.fps} fps decoded · ${cam.detect_fps} fps detected · last incident: ${cam.last_incident || "none"}`);
  }
  later(showCameras, 2000);
}

async function liveView(name, card) {
  const canvas = card.querySelector("canvas");
  while (!$("page-cameras").hidden && document.body.contains(canvas)) {
    const frame = await loadFrame(name);
    const overlay = await api("/api/cameras/" + encodeURIComponent(name) + "/overlay");
    if (frame.bitmap) {
      canvas.width = frame.bitmap.width; canvas.height = frame.bitmap.height;
      canvas.getContext("2d").drawImage(frame.bitmap, 0, 0);
      const edit = state.config && state.config.cameras.find((c) => c.camera === name);
      drawShapes(canvas, edit, overlay.ok ? overlay.body : null, null);
      card.querySelector(".picture-note").textContent = "";
      canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
    } else {
      card.querySelector(".picture-note").textContent = frame.error;
    }
    await new Promise((done) => setTimeout(done, 500));
  }
}

// ---- Editor ----
async function showEditor() {
  const r = await loadConfig();
  if (!r.ok) { $("save-status").textContent = (r.body && r.body.error) || "cannot read the config"; return; }
  const select = $("editor-camera");
  select.replaceChildren(...state.config.cameras.map((c) => el("option", { value: c.camera, text: c.camera })));
  if (state.camera && state.config.cameras.some((c) => c.camera === state.camera)) select.value = state.camera;
  pickCamera(select.value);
  editorFrames();
}
$("editor-camera").addEventListener("change", (e) => pickCamera(e.target.value));

function pickCamera(name) {
  state.camera = name;
  state.edit = JSON.parse(JSON.stringify(state.config.cameras.find((c) => c.camera === name)));
  state.drawing = null; state.errors = [];
  // why Save will refuse this file or camera, before anyone edits
  const why = state.config.refused || state.edit.locked, status = $("save-status");
  if (why) { status.textContent = why; status.dataset.locked = "1"; }
  else if (status.dataset.locked) { status.textContent = ""; delete status.dataset.locked; }
  renderLists(); redraw();
}

let editorBitmap = null;
async function editorFrames() {
  if ($("page-editor").hidden) return;
  const frame = await loadFrame(state.camera);
  const canvas = $("editor-canvas");
  if (frame.bitmap) { editorBitmap = frame.bitmap; canvas.width = frame.bitmap.width; canvas.height = frame.bitmap.height; canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1); }
  else $("editor-hint").textContent = frame.error;
  redraw();
  later(editorFrames, 2000);
}

function redraw() {
  const canvas = $("editor-canvas");
  const g = canvas.getContext("2d");
  g.fillStyle = "#000"; g.fillRect(0, 0, canvas.width, canvas.height);
  if (editorBitmap) g.drawImage(editorBitmap, 0, 0, canvas.width, canvas.height);
  if (!state.edit) return;
  drawShapes(canvas, state.edit, null, state.drag && state.drag.name);
  if (state.drawing) {
    g.strokeStyle = "#facc15"; g.setLineDash([5, 4]); g.beginPath();
    state.drawing.points.forEach((p, i) => { const [x, y] = toPx(canvas, p); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
    g.stroke(); g.setLineDash([]);
    state.drawing.points.forEach((p) => { const [x, y] = toPx(canvas, p); g.fillStyle = "#facc15"; g.fillRect(x - 3, y - 3, 6, 6); });
  }
}

document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => {
  state.tool = b.dataset.tool;
  document.querySelectorAll(".tool").forEach((t) => t.classList.toggle("active", t === b));
  state.drawing = state.tool === "move" ? null : { kind: state.tool, points: [] };
  $("editor-hint").textContent = state.tool === "move" ? "Drag a corner to move it, or inside a shape to move it all."
    : "Click to add corners, then Finish shape (a line may have two points or more; a zone or mask three or more).";
  redraw();
}));

function pointer(e) {
  const r = $("editor-canvas").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
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
  if (state.drawing) { state.drawing.points.push(p); redraw(); return; }
  const near = 12 / canvas.getBoundingClientRect().width;
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
$("cancel-shape").addEventListener("click", () => { if (state.drawing) state.drawing.points = []; redraw(); });

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
  d.points = [];
  renderLists(); redraw();
}

function fieldError(field) {
  const texts = state.errors.filter((e) => e.field && (e.field === field || e.field.startsWith(field + ":"))).map((e) => e.text);
  return el("p", { class: "field-error", "data-field": field, text: texts.join("\n") });
}

function renderLists() {
  const zones = $("zone-list");
  zones.replaceChildren(...state.edit.zones.map((z, i) => el("li", {},
    `${z.name} (${z.kind === "line" ? "line" : "zone"}, ${z.points.length} points) `,
    el("button", { class: "remove-zone", onclick: () => { state.edit.zones.splice(i, 1); renderLists(); redraw(); }, text: "Remove" }),
    fieldError("zone:" + z.name))));
  $("mask-list").replaceChildren(...state.edit.masks.map((m, i) => el("li", {}, `mask ${i + 1} (${m.length} points) `,
    el("button", { onclick: () => { state.edit.masks.splice(i, 1); renderLists(); redraw(); }, text: "Remove" }))));
  const masksError = document.querySelector('#page-editor > .cols .field-error[data-field="masks"]');
  if (masksError) masksError.textContent = state.errors.filter((e) => e.field === "masks").map((e) => e.text).join("\n");
  $("rule-list").replaceChildren(...state.edit.rules.map((rule, i) => ruleForm(rule, i)));
}

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
    return input(key, rule[key], (v) => { rule[key] = v === "" ? null : Number(v); }, { size: 6, ...hint });
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

$("save").addEventListener("click", async () => {
  $("save-status").textContent = "Saving…"; $("save-errors").replaceChildren();
  const send = () => api("/api/config", { method: "POST", body: { etag: state.config.etag, edit: state.edit } });
  let r = await send();
  if (r.status === 401 && r.body && r.body.reauth) {
    if (await confirmPassword(r.body.error)) r = await send();
  }
  state.errors = (r.body && r.body.errors) || [];
  if (r.ok && r.body.saved) {
    $("save-status").textContent = `Saved (${r.body.changes.length} change${r.body.changes.length === 1 ? "" : "s"}); reload: ${r.body.reload}. Backup: ${r.body.backup}`;
    state.config.etag = r.body.etag;
    const kept = state.camera; await loadConfig(); state.camera = kept; pickCamera(kept);
  } else if (r.ok) {
    $("save-status").textContent = r.body.message;
  } else {
    $("save-status").textContent = (r.body && r.body.error) || "Save failed";
    $("save-errors").replaceChildren(...state.errors.map((e) => el("li", { text: e.text })));
    renderLists();
  }
  $("save-status").dataset.result = r.ok && r.body.saved ? "saved" : "refused";
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
  const lines = t.events.length ? t.events.map((e) => el("li", {
    text: `${e.secs_ago.toFixed(0)} s ago: ${e.event} ${e.rule} in ${e.zone} (${e.labels.join(", ") || "no objects"})` }))
    : [el("li", { text: "nothing" })];
  $("try-results").replaceChildren(...lines);
  $("try-box").dataset.result = "tried";
});

// ---- Incidents ----
let feed = null;
function showIncidents() {
  if (feed) return;
  feed = new EventSource("/api/incidents/events");
  feed.onopen = () => { $("feed-status").textContent = "live"; };
  feed.onerror = () => { $("feed-status").textContent = "reconnecting…"; };
  feed.addEventListener("incident", (e) => {
    const event = JSON.parse(e.data);
    if (state.incidents.some((i) => i.seq === event.seq && i.incident_id === event.incident_id && i.event === event.event)) return;
    state.incidents.unshift(event);
    if (state.incidents.length > 500) state.incidents.pop();
    renderIncidents();
  });
  feed.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    state.incidents.filter((i) => i.incident_id === s.incident_id).forEach((i) => { i.snapshot = true; });
    renderIncidents();
  });
  feed.addEventListener("missed", (e) => { $("feed-status").textContent = `live (missed ${e.data} events: the page was too slow)`; });
}
function renderIncidents() {
  const cam = $("filter-camera").value.trim(); const rule = $("filter-rule").value.trim();
  const rows = state.incidents.filter((i) => (!cam || i.camera.includes(cam)) && (!rule || i.rule.includes(rule)));
  $("incident-table").tBodies[0].replaceChildren(...rows.map((i) => el("tr", { class: "incident", "data-incident": i.incident_id, onclick: () => { $("incident-json").textContent = JSON.stringify(i, (k, v) => (k === "snapshot" ? undefined : v), 2); } },
    el("td", { text: i.time }), el("td", { text: i.camera }), el("td", { text: i.rule }), el("td", { text: i.event }), el("td", { text: i.severity }),
    el("td", {}, i.snapshot ? el("img", { src: "/api/snapshots/" + encodeURIComponent(i.incident_id), alt: "redacted snapshot" }) : ""))));
}
$("filter-camera").addEventListener("input", renderIncidents);
$("filter-rule").addEventListener("input", renderIncidents);

// ---- Health ----
async function showHealth() {
  const r = await api("/api/health");
  if (r.ok) {
    const h = r.body;
    $("health-summary").replaceChildren(
      el("p", { id: "health-box", text: `Box: ${h.healthy ? "healthy" : "NOT healthy (see the log)"}` }),
      el("p", { id: "health-broker", text: `Broker: ${h.broker.connected === null ? "not started" : h.broker.connected ? "connected" : "disconnected"}` }),
      el("p", { id: "health-outbox", text: `Outbox: ${h.outbox.pending} waiting for the broker${h.outbox.writable ? "" : " — the disk cannot be written!"}` }));
    $("metrics-table").tBodies[0].replaceChildren(...h.metrics.map((m) => el("tr", {}, el("td", { text: m.name }), el("td", { text: m.value }))));
  }
  later(showHealth, 2000);
}

start();
