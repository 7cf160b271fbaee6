// Petrel console: one page, hash routes, plain DOM. No framework, no build.
"use strict";

const main = document.getElementById("main");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function table(headers, rows, numeric) {
  const t = el("table", {}, el("tr", {}, ...headers.map(h => el("th", {}, h))));
  for (const r of rows) {
    t.append(el("tr", {}, ...r.map((c, i) => el("td", numeric && numeric.includes(i) ? { class: "num" } : {}, c))));
  }
  return t;
}

async function api(path, opts) {
  const resp = await fetch(path, opts);
  if (resp.status === 401) { location.href = "/login.html"; throw new Error("login required"); }
  const data = await resp.json();
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

// statusOf writes a form's outcome into a span: text, or an error in red.
function ok(span, text) { span.className = "muted status"; span.textContent = text; span.setAttribute("data-done", "1"); }
function bad(span, err) { span.className = "error status"; span.textContent = "Error: " + err.message; span.setAttribute("data-done", "1"); }

const PERMS = [["6", "6: read and write"], ["4", "4: read only"], ["2", "2: write only"]];
function permSelect(id, value) {
  return el("select", { id }, ...PERMS.map(([v, t]) => { const o = el("option", { value: v }, t); if (v === String(value)) o.selected = true; return o; }));
}

function show(...nodes) { main.replaceChildren(...nodes); }
function fail(err) { show(el("p", { class: "error", id: "error" }, "Error: " + err.message)); }

// chart draws series ({name: [{t, v}]}) as SVG lines over the last hour.
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
function chart(id, title, series) {
  const names = Object.keys(series).sort();
  const w = 640, h = 160, pad = 36;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("id", id); svg.setAttribute("width", w); svg.setAttribute("height", h + 24);
  svg.setAttribute("class", "chart");
  const pts = names.flatMap(n => series[n]);
  const t1 = Date.now(), t0 = t1 - 3600 * 1000;
  const vmax = Math.max(1, ...pts.map(p => p.v));
  const x = t => pad + (w - pad - 8) * (t - t0) / (t1 - t0);
  const y = v => 8 + (h - 16) * (1 - v / vmax);
  const line = (x1, y1, x2, y2) => { const l = document.createElementNS(SVG, "line");
    Object.entries({ x1, y1, x2, y2, stroke: "#99a" }).forEach(([k, v]) => l.setAttribute(k, v)); svg.append(l); };
  const text = (tx, ty, s) => { const e = document.createElementNS(SVG, "text");
    e.setAttribute("x", tx); e.setAttribute("y", ty); e.setAttribute("font-size", "11"); e.textContent = s; svg.append(e); };
  line(pad, 8, pad, h - 8); line(pad, h - 8, w - 8, h - 8);
  text(2, 14, String(Math.round(vmax * 100) / 100)); text(2, h - 8, "0"); text(pad, h + 6, "-60 min"); text(w - 40, h + 6, "now");
  names.forEach((n, i) => {
    const pl = document.createElementNS(SVG, "polyline");
    pl.setAttribute("fill", "none"); pl.setAttribute("stroke", COLOURS[i % COLOURS.length]); pl.setAttribute("stroke-width", "2");
    pl.setAttribute("points", series[n].filter(p => p.t >= t0).map(p => x(p.t).toFixed(1) + "," + y(p.v).toFixed(1)).join(" "));
    pl.setAttribute("data-series", n);
    svg.append(pl);
    text(pad + 8 + i * 150, h + 20, "■ " + n.replace(/^[a-z]+\//, ""));
    svg.lastChild.setAttribute("fill", COLOURS[i % COLOURS.length]);
  });
  return el("div", {}, el("h3", {}, title), svg);
}

async function clusterPage() {
  const d = await api("/api/cluster");
  const hist = await api("/api/history?prefix=tps/");
  show(el("h2", {}, "Cluster"), chart("tps-chart", "Messages per second (all brokers), last hour", hist.series),
    table(["Cluster", "Broker", "ID", "Role", "Address", "Version", "Put TPS", "Get TPS", "Disk used", "Messages today", "Error"],
      d.brokers.map(b => [b.cluster, b.name, b.id, b.role, b.addr, b.version, b.putTps, b.getTps, b.disk, b.stored, b.error || ""]),
      [2]));
}

async function topicsPage() {
  const d = await api("/api/topics");
  const name = el("input", { id: "new-topic", placeholder: "topic name" });
  const rq = el("input", { id: "new-read", type: "number", value: "8", min: "1", title: "read queues", size: "4" });
  const wq = el("input", { id: "new-write", type: "number", value: "8", min: "1", title: "write queues", size: "4" });
  const perm = permSelect("new-perm", 6);
  const status = el("span", { id: "create-status", class: "muted" });
  const form = el("form", { id: "create-topic",
    onsubmit: async ev => {
      ev.preventDefault();
      try {
        await post("/api/topic", { name: name.value, readQueues: Number(rq.value), writeQueues: Number(wq.value), perm: Number(perm.value) });
        location.hash = "#topic/" + encodeURIComponent(name.value);
      } catch (err) { bad(status, err); }
    }
  }, "Create topic: ", name, " read queues ", rq, " write queues ", wq, " ", perm, el("button", { type: "submit" }, "Create"), " ", status);
  const rows = d.topics.filter(t => !t.system).map(t => [el("a", { href: "#topic/" + encodeURIComponent(t.name) }, t.name)]);
  const sys = d.topics.filter(t => t.system).map(t => [el("a", { href: "#topic/" + encodeURIComponent(t.name) }, t.name)]);
  show(el("h2", {}, "Topics"), form, table(["Topic"], rows), el("h3", {}, "System, retry and dead-letter topics"), table(["Topic"], sys));
}

async function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function topicPage(name) {
  const d = await api("/api/topic?name=" + encodeURIComponent(name));
  const brokers = (d.route.brokerDatas || []).map(b => [b.brokerName, b.cluster, JSON.stringify(b.brokerAddrs)]);
  const qds = d.route.queueDatas || [];
  const status = el("span", { id: "delete-status" });
  const del = el("button", { id: "delete-topic", onclick: async () => {
    if (!confirm("Delete topic " + name + " and its messages' routes?")) return;
    try { await post("/api/topic/delete", { name }); location.hash = "#topics"; }
    catch (err) { status.textContent = "Error: " + err.message; status.className = "error"; }
  } }, "Delete topic");

  const q0 = qds[0] || { perm: 6, readQueueNums: 8, writeQueueNums: 8 };
  const perm = permSelect("upd-perm", q0.perm);
  const rq = el("input", { id: "upd-read", type: "number", min: "1", value: String(q0.readQueueNums) });
  const wq = el("input", { id: "upd-write", type: "number", min: "1", value: String(q0.writeQueueNums) });
  const updStatus = el("span", { id: "update-status", class: "muted status" });
  const upd = el("form", { id: "update-topic", onsubmit: async ev => {
    ev.preventDefault();
    try {
      const r = await post("/api/topic/update", { name, perm: Number(perm.value), readQueues: Number(rq.value), writeQueues: Number(wq.value) });
      ok(updStatus, "Updated on " + r.brokers.join(", "));
    } catch (err) { bad(updStatus, err); }
  } }, "Permission ", perm, " read queues ", rq, " write queues ", wq, el("button", { type: "submit" }, "Update"), " ", updStatus);

  const tag = el("input", { id: "send-tag", placeholder: "tag" });
  const keys = el("input", { id: "send-keys", placeholder: "keys (space-separated)" });
  const body = el("textarea", { id: "send-body", rows: "3", cols: "60", placeholder: "message body" });
  const sendStatus = el("div", { id: "send-result" });
  const send = el("form", { id: "send", onsubmit: async ev => {
    ev.preventDefault();
    try {
      const r = await post("/api/topic/send", { topic: name, tag: tag.value, keys: keys.value, body: body.value });
      sendStatus.replaceChildren(table(["Status", "Message id", "Offset message id", "Broker", "Queue", "Queue offset"],
        [[r.status, r.msgId, r.offsetMsgId, r.broker, r.queueId, r.queueOffset]]));
      sendStatus.setAttribute("data-done", "1");
    } catch (err) { sendStatus.replaceChildren(el("p", { class: "error" }, "Error: " + err.message)); sendStatus.setAttribute("data-done", "1"); }
  } }, tag, keys, el("br"), body, el("br"), el("button", { type: "submit" }, "Send"));

  show(el("h2", {}, "Topic " + name), el("p", {}, del, " ", status),
    el("p", {}, "Messages held: ", el("b", { id: "topic-messages" }, d.messages)),
    el("h3", {}, "Route"), table(["Broker", "Cluster", "Addresses"], brokers),
    el("h3", {}, "Configuration"), table(["Broker", "Permission", "Read queues", "Write queues"],
      qds.map(q => [q.brokerName, q.perm, q.readQueueNums, q.writeQueueNums]), [1, 2, 3]),
    el("h4", {}, "Update (on every master of the route)"), upd,
    el("h3", {}, "Queues"), table(["Broker", "Queue", "Min offset", "Max offset"], d.queues.map(q => [q.broker, q.id, q.min, q.max]), [1, 2, 3]),
    el("h3", {}, "Send a test message"), send, sendStatus);
}

async function producersPage(query) {
  const params = new URLSearchParams(query || "");
  const group = el("input", { id: "p-group", placeholder: "producer group", value: params.get("group") || "" });
  const topic = el("input", { id: "p-topic", placeholder: "topic (optional)", value: params.get("topic") || "" });
  const out = el("div", { id: "producers" });
  const form = el("form", { id: "producer-search", onsubmit: ev => {
    ev.preventDefault();
    const q = new URLSearchParams({ group: group.value });
    if (topic.value) q.set("topic", topic.value);
    location.hash = "#producers?" + q.toString();
  } }, "Producer group: ", group, topic, el("button", { type: "submit" }, "Show connections"));
  show(el("h2", {}, "Producers"),
    el("p", { class: "muted" }, "Brokers know producer groups from their clients' heartbeats only: give the group's name. With a topic, the masters of its route are asked; without, every master."),
    form, out);
  if (!params.get("group")) return;
  try {
    const d = await api("/api/producers?" + params.toString());
    out.replaceChildren(el("p", {}, el("b", { id: "producer-count" }, d.connections.length), " client(s) of group " + d.group + " online"),
      table(["Client id", "Client address", "Language", "Version", "Broker"],
        d.connections.map(c => [c.clientId, c.clientAddr, c.language, c.versionDesc || c.version, c.broker || "(route of " + d.topic + ")"]), [3]));
  } catch (err) { out.replaceChildren(el("p", { class: "error", id: "producer-error" }, "Error: " + err.message)); }
}

async function dlqPage(query) {
  const params = new URLSearchParams(query || "");
  const topics = await api("/api/topics");
  const groups = topics.topics.filter(t => t.name.startsWith("%DLQ%")).map(t => t.name.slice(5));
  const group = el("input", { id: "dlq-group", placeholder: "consumer group", value: params.get("group") || "" });
  const form = el("form", { id: "dlq-search", onsubmit: ev => {
    ev.preventDefault();
    location.hash = "#dlq?" + new URLSearchParams({ group: group.value }).toString();
  } }, "Consumer group: ", group, el("button", { type: "submit" }, "Show dead letters"));
  const list = groups.length ? el("p", {}, "Groups with a dead-letter topic: ",
    ...groups.flatMap((g, i) => [i ? ", " : "", el("a", { href: "#dlq?" + new URLSearchParams({ group: g }).toString() }, g)]))
    : el("p", { class: "muted" }, "No group has a dead-letter topic (%DLQ%<group>).");
  const out = el("div", { id: "dlq" });
  show(el("h2", {}, "Dead letters"), list, form, out);
  const g = params.get("group");
  if (!g) return;
  try {
    const d = await api("/api/dlq?" + new URLSearchParams({ group: g }).toString());
    const exp = f => el("a", { class: "export", id: "export-" + f, href: "/api/dlq/export?" + new URLSearchParams({ group: g, format: f }).toString(),
      download: "dlq-" + g + "." + f }, f === "csv" ? "CSV" : "JSON lines");
    const rows = d.messages.map(m => {
      const st = el("span", { class: "muted resend-status" });
      const b = el("button", { class: "resend", onclick: async () => {
        try { const r = await post("/api/dlq/resend", { id: m.offsetMsgId }); ok(st, "Resent to " + r.topic); st.className = "muted resend-status"; }
        catch (err) { bad(st, err); st.className = "error resend-status"; }
      } }, "Resend");
      return [el("span", { title: "offset message id " + m.offsetMsgId }, m.msgId), m.keys, m.tags, (m.properties || {}).RETRY_TOPIC || "",
        m.storeTime, m.reconsumeTimes, m.body.length > 60 ? m.body.slice(0, 60) + "…" : m.body, el("span", {}, b, " ", st)];
    });
    out.replaceChildren(el("p", {}, el("b", { id: "dlq-total" }, d.total), " dead letters in " + d.topic + "; showing " + d.messages.length + ". Export all: ",
      exp("jsonl"), " · ", exp("csv")),
      table(["Message id", "Keys", "Tags", "Original topic", "Stored", "Reconsumed", "Body", ""], rows, [5]));
  } catch (err) { out.replaceChildren(el("p", { class: "error", id: "dlq-error" }, "Error: " + err.message)); }
}

async function groupsPage() {
  const d = await api("/api/groups");
  const rows = [];
  for (const g of d.groups) {
    rows.push([el("b", {}, g.group), g.topic, el("span", { class: "lag", "data-group": g.group, "data-topic": g.topic }, g.lag),
      g.clients.length ? g.clients.length + ": " + g.clients.join("; ") : "none online", g.subscription,
      g.queues.map(q => q.broker + ":" + q.id + " " + q.consumerOffset + "/" + q.brokerOffset + " (lag " + q.lag + ")").join("; ")]);
  }
  const group = el("input", { id: "reset-group", placeholder: "group" });
  const topic = el("input", { id: "reset-topic", placeholder: "topic" });
  const when = el("input", { id: "reset-time", placeholder: "now, or 2026-01-02T15:04:05Z", size: "28" });
  const status = el("span", { id: "reset-status", class: "muted" });
  const form = el("form", { id: "reset", onsubmit: async ev => {
    ev.preventDefault();
    try {
      const r = await post("/api/group/reset", { group: group.value, topic: topic.value, time: when.value || "now" });
      status.className = "muted";
      status.textContent = "Reset " + r.queues + " queues" + (r.online ? " (consumers told)" : " (no consumer online: offsets committed)");
      setTimeout(route, 300);
    } catch (err) { status.textContent = "Error: " + err.message; status.className = "error"; }
  } }, "Reset offsets (\"now\" skips the backlog): ", group, topic, when, el("button", { type: "submit" }, "Reset"), " ", status);
  const hist = await api("/api/history?prefix=lag/");
  const last = s => s.length ? s[s.length - 1].v : 0;
  const top = Object.entries(hist.series).sort((a, b) => last(b[1]) - last(a[1])).slice(0, 8);
  show(el("h2", {}, "Consumer groups"), chart("lag-chart", "Lag of the 8 groups furthest behind, last hour", Object.fromEntries(top)),
    form, el("p", { class: "muted" }, d.calls + " broker calls"),
    table(["Group", "Topic", "Lag", "Consumers online", "Subscription", "Queues (consumer/broker offset)"], rows, [2]));
}

// traceView loads the message's trace records (RMQ_SYS_TRACE_TOPIC) into a table.
function traceView(msgId) {
  const box = el("div", { class: "trace", "data-msgid": msgId }, el("p", { class: "muted" }, "Loading trace…"));
  api("/api/trace?id=" + encodeURIComponent(msgId)).then(d => {
    if (d.traces.length === 0) {
      box.replaceChildren(el("p", { class: "muted" }, d.note || "No trace: the producer and consumers did not enable message trace."));
      box.setAttribute("data-loaded", "0");
      return;
    }
    box.replaceChildren(table(["Type", "Time", "Group", "Cost (ms)", "Success", "Client", "Store host"],
      d.traces.map(t => [t.type, t.time, t.group, t.costMillis, String(t.success), t.clientHost, t.storeHost])));
    box.setAttribute("data-loaded", String(d.traces.length));
  }).catch(err => box.replaceChildren(el("p", { class: "error" }, "Error: " + err.message)));
  return box;
}

// resendButton sends a dead-letter message back to its group's retry topic.
function resendButton(m) {
  const status = el("span", { class: "muted resend-status" });
  const b = el("button", { class: "resend", onclick: async () => {
    try {
      const r = await post("/api/dlq/resend", { id: m.offsetMsgId });
      status.className = "muted resend-status";
      status.textContent = "Resent to " + r.topic + " for group " + r.group;
      status.setAttribute("data-done", "1");
    } catch (err) { status.textContent = "Error: " + err.message; status.className = "error resend-status"; }
  } }, "Resend to group " + m.topic.slice(5));
  return el("p", {}, b, " ", status);
}

async function messagesPage() {
  const topic = el("input", { id: "q-topic", placeholder: "topic" });
  const key = el("input", { id: "q-key", placeholder: "key" });
  const id = el("input", { id: "q-id", placeholder: "offset message id", size: "36" });
  const out = el("div", { id: "results" });
  const run = async query => {
    try {
      const d = await api("/api/messages?" + query);
      if (d.messages.length === 0) { out.replaceChildren(el("p", {}, "No message found.")); return; }
      out.replaceChildren(...d.messages.map(m => el("div", { class: "message" },
        table(["Field", "Value"], [["Message id", m.msgId], ["Offset message id", m.offsetMsgId], ["Topic", m.topic],
          ["Queue", m.queueId + " @ " + m.queueOffset], ["Tags", m.tags], ["Keys", m.keys], ["Born", m.bornTime],
          ["Stored", m.storeTime + " on " + m.storeHost], ["Reconsume times", m.reconsumeTimes]]),
        el("h4", {}, "Properties"), table(["Name", "Value"], Object.entries(m.properties || {}).sort()),
        el("h4", {}, "Body"), el("pre", { class: "body" }, m.body),
        el("h4", {}, "Trace"), traceView(m.msgId),
        m.topic.startsWith("%DLQ%") ? resendButton(m) : "")));
    } catch (err) { out.replaceChildren(el("p", { class: "error" }, "Error: " + err.message)); }
  };
  show(el("h2", {}, "Messages"),
    el("form", { id: "by-key", onsubmit: ev => { ev.preventDefault(); run("topic=" + encodeURIComponent(topic.value) + "&key=" + encodeURIComponent(key.value)); } },
      "By key: ", topic, key, el("button", { type: "submit" }, "Search")),
    el("form", { id: "by-id", onsubmit: ev => { ev.preventDefault(); run("id=" + encodeURIComponent(id.value)); } },
      "By id: ", id, el("button", { type: "submit" }, "Show")),
    out);
}

async function route() {
  const raw = location.hash.slice(1);
  const h = decodeURIComponent(raw) || "cluster";
  const [page, query] = raw.split("?", 2);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", h.startsWith(a.getAttribute("href").slice(1)));
  try {
    if (h.startsWith("topic/")) await topicPage(h.slice(6));
    else if (page === "producers") await producersPage(query);
    else if (page === "dlq") await dlqPage(query);
    else if (h === "topics") await topicsPage();
    else if (h === "groups") await groupsPage();
    else if (h === "messages") await messagesPage();
    else await clusterPage();
    main.setAttribute("data-loaded", page.startsWith("topic/") ? h : page || "cluster");
  } catch (err) { fail(err); main.setAttribute("data-loaded", page.startsWith("topic/") ? h : page || "cluster"); }
}

// whoami shows the logged-in user and a logout button when the login is on.
async function whoami() {
  const w = await api("/api/whoami");
  if (!w.login) return;
  const out = el("button", { id: "logout", onclick: async () => { await post("/api/logout", {}); location.href = "/login.html"; } }, "Log out");
  document.getElementById("user").replaceChildren(el("span", { id: "user-name" }, w.user + (w.admin ? " (admin)" : " (read-only)")), " ", out);
}

window.addEventListener("hashchange", route);
whoami().catch(() => {});
route();
