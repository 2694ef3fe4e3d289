// The dashboard page: reads the token (link fragment, form, or this tab's storage),
// streams the node's state from /api/events and draws it. Every value from the node
// goes into the page as text (textContent), never as markup.

const LEVELS = ["CALM", "ELEVATED", "CRITICAL", "PANIC"];
const KEY = "wdp-dashboard-token";
const $ = (id) => document.getElementById(id);
let clock = { server: 0, local: 0 }; // the node's time at the last snapshot, and ours then
const opened = new Set(); // details the viewer opened stay open across updates

function details(key, summary) {
  const d = el("details");
  d.append(el("summary", summary));
  d.open = opened.has(key);
  d.addEventListener("toggle", () => (d.open ? opened.add(key) : opened.delete(key)));
  return d;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
  return tr;
}

function fill(table, rows) {
  const body = $(table).querySelector("tbody");
  body.replaceChildren(...rows);
}

function now() {
  return clock.server + (Date.now() - clock.local) / 1000;
}

function ago(t) {
  if (t === null || t === undefined) return "—";
  return span(now() - t) + " ago";
}

function until(t) {
  if (t === null || t === undefined) return "—";
  const s = t - now();
  return s <= 0 ? "due" : "in " + span(s);
}

function span(s) {
  s = Math.max(0, s);
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function peerState(p) {
  if (p.distrusted || p.excluded) return "distrusted";
  if (p.lost) return "lost";
  return p.healthy ? "healthy" : "unhealthy";
}

function angle(hex) {
  return (parseInt(hex.slice(0, 6), 16) / 0xffffff) * 2 * Math.PI;
}

function drawMap(peers) {
  const svg = $("map");
  const ns = "http://www.w3.org/2000/svg";
  const shape = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const rtts = peers.map((p) => p.rtt_ms).filter((r) => r !== null);
  const top = Math.max(1, ...rtts);
  const radius = (ms) => 30 + (160 * Math.log1p(ms)) / Math.log1p(top);
  const items = [shape("circle", { class: "ring", r: radius(top) }),
    shape("text", { x: 4, y: -radius(top) + 12 }, top.toFixed(1) + " ms"),
    shape("circle", { class: "self", r: 7 }, undefined)];
  for (const p of peers) {
    const r = p.rtt_ms === null ? 190 : radius(p.rtt_ms);
    const a = angle(p.peer);
    const dot = shape("circle", { class: peerState(p), r: 5, cx: r * Math.cos(a),
      cy: r * Math.sin(a), "data-peer": p.peer });
    dot.append(shape("title", {}, `${p.peer} ${p.rtt_ms ?? "?"} ms, ${peerState(p)}`));
    items.push(dot);
  }
  svg.replaceChildren(...items);
}

function audits(a) {
  if (!a) return "—";
  const parts = [`${a.proved} proved`];
  if (a.moved) parts.push(`${a.moved} moved`);
  if (a.failed) parts.push(`${a.failed} failed`);
  if (a.unanswered) parts.push(`${a.unanswered} silent`);
  return parts.join(", ");
}

function render(s) {
  clock = { server: s.now, local: Date.now() };
  document.body.dataset.updates = Number(document.body.dataset.updates || 0) + 1;
  $("peer-id").textContent = s.peer_id;
  const badge = $("threat");
  badge.textContent = LEVELS[s.threat_level] ?? String(s.threat_level);
  badge.className = "badge level-" + s.threat_level;
  $("threat-now").textContent = s.threat_reasons.length
    ? "Now: " + s.threat_reasons.join("; ") : "Now: calm, nothing raised it.";

  $("peer-count").textContent = `${s.peers.length}`;
  drawMap(s.peers);
  fill("peers", s.peers.map((p) => {
    const tr = row([el("td", p.peer, "mono"), p.group ?? "—",
      el("td", p.rtt_ms ?? "—", "num rtt"), el("td", p.min_rtt_ms ?? "—", "num"),
      el("td", Math.round(p.loss * 100) + " %", "num"),
      el("td", peerState(p) + (p.proven ? ", proven" : ""),
        { healthy: "ok", unhealthy: "warn", lost: "dim", distrusted: "bad" }[peerState(p)]),
      audits(p.audits)]);
    tr.dataset.peer = p.peer;
    return tr;
  }));

  fill("threats", [...s.threat_history].reverse().map((t) => row([ago(t.at),
    el("td", LEVELS[t.level] ?? t.level, t.level ? "bad" : "ok"),
    t.reasons.join("; ") || "calm"])));

  $("held-count").textContent = `${s.held.length}`;
  fill("held", s.held.map((h) => {
    const chain = details("chain " + h.shard, `${h.chain.length} hops`);
    const list = el("ol");
    list.start = 0;
    for (const c of h.chain) {
      list.append(el("li", `${c.reason} ${c.from} → ${c.to}, ` +
        new Date(c.time_ms).toISOString().replace("T", " ").slice(0, 19)));
    }
    chain.append(list);
    const td = el("td");
    td.append(chain);
    return row([el("td", h.shard, "mono"), el("td", h.hop, "num"), h.reason,
      span(now() - h.acquired_at), until(h.next_hop_at), td]);
  }));

  $("hop-count").textContent = `in ${s.hops_in}, out ${s.hops_out}`;
  fill("hops", [...s.hop_log].reverse().slice(0, 50).map((h) => {
    const tr = row([ago(h.at), h.direction, el("td", h.shard, "mono"), h.hop ?? "—",
      h.reason || "—", el("td", h.peer, "mono"),
      el("td", h.ok ? "ok" : `${h.code || "failed"} ${h.detail}`, h.ok ? "ok" : "warn")]);
    tr.dataset.reason = h.reason;
    tr.dataset.at = h.at;
    tr.dataset.direction = h.direction;
    tr.dataset.ok = h.ok;
    return tr;
  }));

  fill("wanderers", s.wanderers.map((w) => {
    const repairs = el("td");
    if (w.repairs.length) {
      const d = details("repairs " + w.id, `${w.repairs.length}`);
      const list = el("ul");
      for (const r of w.repairs) {
        list.append(el("li", `shard ${r.shard} → generation ${r.generation}: ${r.why}` +
          (r.blamed ? ` (lost by ${String(r.blamed).slice(0, 16)})` : "")));
      }
      d.append(list);
      repairs.append(d);
    } else repairs.textContent = "0";
    const stale = w.stale.filter((x) => x > 0).length;
    const shards = details("shards " + w.id, w.generations.join(" "));
    const list = el("ol");
    list.start = 0;
    w.generations.forEach((g, i) => {
      const proven = w.carriers_at[i] ? ago(w.carriers_at[i]) : "not yet";
      list.append(el("li", `generation ${g}, carrier ${w.carriers[i] || "unknown"}, ` +
        `last proven ${proven}` + (w.stale[i] ? `, stale ${w.stale[i]} checks` : "")));
    });
    shards.append(list);
    const gens = el("td");
    gens.append(shards);
    return row([w.name || w.id, w.role, `${w.k} of ${w.n}`, size(w.size), gens,
      el("td", stale, stale ? "warn" : "ok"), ago(w.last_check_at), until(w.next_check_at),
      repairs]);
  }));
}

function showLogin(message) {
  sessionStorage.removeItem(KEY);
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  setLive(false, "no token");
}

function setLive(on, text) {
  const live = $("live");
  live.className = "live " + (on ? "on" : "off");
  live.textContent = text;
}

async function stream(token) {
  let res;
  try {
    res = await fetch("/api/events", { headers: { Authorization: "Bearer " + token },
      cache: "no-store" });
  } catch (err) {
    setLive(false, "node unreachable; retrying");
    return true;
  }
  if (res.status === 401) {
    const body = await res.json().catch(() => ({}));
    showLogin(body.error || "wrong token");
    return false;
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    setLive(false, body.error || res.statusText);
    return true;
  }
  sessionStorage.setItem(KEY, token);
  $("login").hidden = true;
  $("main").hidden = false;
  setLive(true, "live");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (err) {
      break;
    }
    if (chunk.done) break;
    buf += chunk.value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const message = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = message.split("\n").filter((l) => l.startsWith("data: "))
        .map((l) => l.slice(6)).join("\n");
      if (data) render(JSON.parse(data));
    }
  }
  setLive(false, "disconnected; retrying");
  return true;
}

async function run(token) {
  while (await stream(token)) {
    await new Promise((done) => setTimeout(done, 2000));
  }
}

function tokenFromLink() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (!fragment.has("token")) return null;
  history.replaceState(null, "", location.pathname); // the token leaves the address bar
  return fragment.get("token");
}

let running = false;

async function begin(token) {
  if (running) return;
  running = true;
  try {
    await run(token);
  } finally {
    running = false;
  }
}

function start() {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    begin($("token").value.trim());
  });
  window.addEventListener("hashchange", () => {
    const token = tokenFromLink();
    if (token) begin(token);
  });
  const token = tokenFromLink() || sessionStorage.getItem(KEY);
  if (token) begin(token);
  else showLogin("");
}

start();
