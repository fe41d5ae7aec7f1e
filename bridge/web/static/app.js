// The gateway's web page: device list, details and gateway state, updated live over
// Server-Sent Events. Every change is a POST with the CSRF token in X-CSRF-Token; the
// gateway checks it like any other command and answers {error, message} when it refuses.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const devices = new Map();
  let csrf = null, events = null, shown = "devices", detailsId = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function say(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.className = kind || "";
    box.hidden = !text;
  }

  async function call(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") { headers["Content-Type"] = "application/json"; if (csrf) headers["X-CSRF-Token"] = csrf; }
    const response = await fetch(path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    let data = null;
    try { data = await response.json(); } catch (e) { data = {error: "http", message: response.statusText}; }
    if (response.status === 401 && path !== "/api/login") { showLogin(); }
    if (!response.ok) { const err = new Error(data.message || response.statusText); err.reason = data.error; throw err; }
    return data;
  }

  function text(value) {
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
    if (typeof value === "boolean") return value ? "on" : "off";
    return JSON.stringify(value);
  }

  function ago(seconds) {
    if (!seconds) return "-";
    const d = Math.max(0, Date.now() / 1000 - seconds);
    if (d < 60) return Math.round(d) + " s ago";
    if (d < 3600) return Math.round(d / 60) + " min ago";
    return new Date(seconds * 1000).toLocaleString();
  }

  function stateOf(row) {
    if (row.not_bridgeable) return ["not bridgeable", "gone"];
    if (row.virtual) return ["virtual", "up"];
    return row.available ? ["up", "up"] : ["gone", "gone"];
  }

  async function send(row, capability, values, where) {
    where.textContent = "";
    try {
      await call("POST", `/api/devices/${encodeURIComponent(row.id)}/set`, {capability, values});
      say("");
    } catch (err) {
      where.textContent = err.message;
      say(`${row.name}: ${err.message}`);
    }
  }

  function control(row, key, cap, prop, where) {
    const value = cap.state[prop.name];
    if (!prop.writable || row.virtual || !row.available) return [];
    if (prop.type === "boolean" || prop.signature === "b") {
      return el("button", {type: "button", class: "toggle" + (value ? " on" : ""), "data-cap": key, "data-prop": prop.name,
        title: `switch ${prop.name}`, onclick: () => send(row, key, {[prop.name]: !value}, where)}, value ? "Turn off" : "Turn on");
    }
    let input;
    if (prop.type === "enum") {
      input = el("select", {"data-cap": key, "data-prop": prop.name}, prop.values.map((v) => el("option", {selected: v === value}, v)));
    } else {
      const numeric = ["integer", "number"].includes(prop.type);
      input = el("input", {type: numeric ? "number" : "text", "data-cap": key, "data-prop": prop.name,
        step: numeric ? (prop.step || (prop.type === "integer" ? 1 : "any")) : null,
        min: prop.minimum, max: prop.maximum, value: value === undefined ? "" : value, "aria-label": `${key} ${prop.name}`});
    }
    const set = () => {
      let v = input.value;
      if (prop.type === "integer" || prop.type === "number") v = v.trim() === "" ? v : Number(v);
      send(row, key, {[prop.name]: v}, where);
    };
    return [input, el("button", {type: "button", "data-set": `${key}.${prop.name}`, onclick: set}, "Set")];
  }

  function capabilities(row) {
    const cell = el("td");
    for (const [key, cap] of Object.entries(row.capabilities).sort()) {
      const where = el("span", {class: "err", "data-error": key});
      const props = cap.properties || [];
      const shownProps = props.length ? props : Object.keys(cap.state).map((name) => ({name}));
      for (const prop of shownProps) {
        if (!(prop.name in cap.state) && !prop.writable) continue;
        const unit = prop.unit ? " " + prop.unit : "";
        cell.append(el("span", {class: "cap"}, el("b", {}, `${key}.${prop.name}`),
          el("span", {"data-value": `${key}.${prop.name}`}, prop.name in cap.state ? text(cap.state[prop.name]) + unit : "-"),
          control(row, key, cap, prop, where)));
      }
      cell.append(where);
    }
    return cell;
  }

  function deviceRow(row) {
    const [label, kind] = stateOf(row);
    return el("tr", {"data-id": row.id, class: kind === "gone" ? "gone" : ""},
      el("td", {class: "name"}, row.name),
      el("td", {}, row.origin),
      el("td", {}, row.bridged_to.join(", ") || "-"),
      el("td", {class: "state-" + kind, "data-state": label}, label),
      el("td", {}, ago(row.last_seen)),
      capabilities(row),
      el("td", {}, el("button", {type: "button", onclick: () => openDetails(row.id)}, "Details")));
  }

  function renderDevices() {
    const body = $("device-rows");
    const rows = [...devices.values()].sort((a, b) => (a.origin + a.name).localeCompare(b.origin + b.name));
    body.replaceChildren(...rows.map(deviceRow));
    const up = rows.filter((r) => r.available).length;
    $("summary").textContent = `${rows.length} devices, ${up} available`;
    if (detailsId && devices.has(detailsId)) renderDetails(devices.get(detailsId));
  }

  function facts(table, pairs) {
    table.replaceChildren(...pairs.filter(([, v]) => v !== "" && v !== undefined && v !== null)
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, el("code", {}, typeof v === "string" ? v : JSON.stringify(v))))));
  }

  function renderDetails(row) {
    $("details-name").textContent = `${row.name} (${row.origin})`;
    const why = $("details-why");
    why.hidden = !row.not_bridgeable;
    why.textContent = row.not_bridgeable ? `Not bridged: ${row.not_bridgeable}` : "";
    $("details-forget").hidden = row.available;
    facts($("details-ids"), [["gateway id", row.id], ["OCF di", row.di], ["OCF piid", row.piid],
      ["AllJoyn AppId", row.app_id], ["AllJoyn DeviceId", row.device_id], ["AllJoyn bus name", row.alljoyn_bus_name],
      ["MQTT topic", row.mqtt_topic], ["bridged to", row.bridged_to.join(", ") || "nowhere"]]);
    $("rename-form").hidden = !row.mqtt_topic;
    const input = $("rename-name");
    if (document.activeElement !== input) input.value = (row.mqtt_topic || "").split("/").pop();
    facts($("details-info"), [["device type", row.device_type], ["manufacturer", row.info.manufacturer],
      ["model", row.info.model], ["software", row.info.sw_version], ["OCF device types", row.info.device_types.join(", ")],
      ["virtual (made by a bridge)", row.virtual ? "yes" : "no"]]);
    $("details-caps").replaceChildren(el("tr", {}, el("th", {}, "Capability"), el("th", {}, "Mapping"), el("th", {}, "Origin"), el("th", {}, "State")),
      ...Object.entries(row.capabilities).sort().map(([key, cap]) => el("tr", {},
        el("td", {}, key),
        el("td", {}, cap.model === "generic" ? `generic: ${cap.interface} ${(cap.resource_types || []).join(" ")}` : `model ${cap.model}`),
        el("td", {}, el("code", {}, JSON.stringify(cap.origin || {}))),
        el("td", {}, el("code", {}, JSON.stringify(cap.state))))));
    facts($("details-diag"), Object.entries(row.diagnostics));
  }

  function openDetails(id) { detailsId = id; $("rename-error").textContent = ""; show("details"); renderDetails(devices.get(id)); }

  const ACTIONS = ["allow", "deny", "read_only"], SIDES = ["any", "ocf", "alljoyn", "mqtt"];
  const MATCHES = ["id", "name", "resource_type", "interface"];
  let policyRules = [];

  function choice(options, value, label, change) {
    return el("select", {"aria-label": label, onchange: (e) => change(e.target.value)},
      options.map((o) => el("option", {selected: o === value}, o)));
  }

  function renderPolicyRules() {
    $("policy-rules").replaceChildren(...policyRules.map((rule, i) => el("tr", {"data-rule": i},
      el("td", {}, choice(ACTIONS, rule.action, `rule ${i + 1} action`, (v) => { rule.action = v; })),
      el("td", {}, choice(SIDES, rule.side || "any", `rule ${i + 1} side`, (v) => { rule.side = v; })),
      MATCHES.map((key) => el("td", {}, el("input", {value: rule[key] || "", "aria-label": `rule ${i + 1} ${key}`, "data-key": key,
        oninput: (e) => { rule[key] = e.target.value; }}))),
      el("td", {}, el("button", {type: "button", title: "remove this rule", onclick: () => { policyRules.splice(i, 1); renderPolicyRules(); }}, "Remove")))));
  }

  async function renderPolicy() {
    const policy = await call("GET", "/api/policy");
    $("policy-default").value = policy.default;
    $("policy-source").textContent = policy.stored ? `(set here, stored in ${policy.file})` : "(from the configuration file)";
    policyRules = policy.rules.map((r) => ({...r}));
    $("policy-error").textContent = "";
    renderPolicyRules();
  }

  async function savePolicy() {
    const rules = policyRules.map((r) => Object.fromEntries(Object.entries(r).filter(([k, v]) => k === "action" || (v !== "" && v !== "any"))));
    $("policy-error").textContent = "";
    try {
      const answer = await call("PUT", "/api/policy", {default: $("policy-default").value, rules});
      say(`policy applied: ${answer.changed} devices changed where they cross` + (answer.persisted ? "" : " (not stored: see the log)"), "info");
      await renderPolicy();
    } catch (err) { $("policy-error").textContent = err.message; say(err.message); }
  }

  async function renderGateway() {
    const gw = await call("GET", `/api/gateway?log_level=${$("log-show").value}`);
    $("gw-name").textContent = gw.name;
    facts($("gw-facts"), [["name", gw.name], ["version", gw.version], ["uptime", `${Math.round(gw.uptime)} s`],
      ["devices", gw.devices], ["log level", gw.log_level]]);
    $("log-level").value = gw.log_level;
    $("gw-parts").replaceChildren(...Object.entries(gw.parts).map(([name, p]) => {
      const {running, restarts, ...status} = p;
      return el("tr", {}, el("td", {}, name), el("td", {class: running ? "state-up" : "state-gone"}, running ? "yes" : "no"),
        el("td", {}, restarts), el("td", {}, el("code", {}, JSON.stringify(status))));
    }));
    $("log").textContent = gw.log.map((l) => `${new Date(l.time * 1000).toLocaleTimeString()} ${l.level.toUpperCase()} ${l.logger}: ${l.message}`).join("\n");
  }

  function show(view) {
    shown = view;
    for (const id of ["login", "devices", "details", "policy", "gateway"]) $(id).hidden = id !== view;
    for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
    if (view === "gateway") renderGateway().catch((err) => say(err.message));
    if (view === "policy") renderPolicy().catch((err) => say(err.message));
  }

  function showLogin() {
    if (events) { events.close(); events = null; }
    $("logout").hidden = true;
    show("login");
    $("password").focus();
  }

  function connect() {
    events = new EventSource("/api/events");
    events.addEventListener("hello", () => { $("live").textContent = "live"; $("live").className = "badge on"; loadDevices(); });
    events.addEventListener("device", (e) => { const row = JSON.parse(e.data); devices.set(row.id, row); renderDevices(); });
    events.addEventListener("removed", (e) => { devices.delete(JSON.parse(e.data).id); renderDevices(); });
    events.addEventListener("rejected", (e) => { const r = JSON.parse(e.data); if (r.source !== "control") say(`refused ${r.source} command to ${r.id}: ${r.message}`, "info"); });
    events.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "badge"; };
  }

  async function loadDevices() {
    const rows = await call("GET", "/api/devices");
    devices.clear();
    for (const row of rows) devices.set(row.id, row);
    renderDevices();
  }

  async function start() {
    const session = await call("GET", "/api/session");
    if (!session.logged_in) { showLogin(); return; }
    csrf = session.csrf;
    $("logout").hidden = !session.auth_required;
    show(shown === "login" ? "devices" : shown);
    connect();
  }

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const answer = await call("POST", "/api/login", {password: $("password").value});
      $("password").value = "";
      csrf = answer.csrf;
      say("");
      shown = "devices";
      await start();
    } catch (err) { say(err.message); }
  });
  $("logout").addEventListener("click", async () => { await call("POST", "/api/logout", {}); csrf = null; showLogin(); });
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => { detailsId = null; show(tab.dataset.view); });
  $("details-back").addEventListener("click", () => { detailsId = null; show("devices"); });
  $("details-refresh").addEventListener("click", () => call("POST", `/api/devices/${encodeURIComponent(detailsId)}/refresh`, {})
    .then(() => say("read again", "info"), (err) => say(err.message)));
  $("details-forget").addEventListener("click", () => call("POST", `/api/devices/${encodeURIComponent(detailsId)}/forget`, {})
    .then(() => { detailsId = null; show("devices"); }, (err) => say(err.message)));
  $("rename-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("rename-error").textContent = "";
    try {
      const answer = await call("POST", `/api/devices/${encodeURIComponent(detailsId)}/rename`, {name: $("rename-name").value});
      if (answer.device) { devices.set(answer.device.id, answer.device); renderDevices(); }
      say(`renamed from ${answer.from} to ${answer.to}`, "info");
    } catch (err) { $("rename-error").textContent = err.message; say(err.message); }
  });
  $("discover").addEventListener("click", async () => {
    $("discover-result").textContent = "discovering...";
    try {
      const answer = await call("POST", "/api/discover", {});
      $("discover-result").textContent = `done (${Object.entries(answer.sides).map(([k, v]) => `${k}: ${v}`).join(", ")}): ${answer.new} new, ${answer.devices} devices`;
    } catch (err) { $("discover-result").textContent = ""; say(err.message); }
  });
  $("policy-add").addEventListener("click", () => { policyRules.push({action: "deny", side: "any"}); renderPolicyRules(); });
  $("policy-save").addEventListener("click", () => savePolicy());
  $("log-show").addEventListener("change", () => renderGateway().catch((err) => say(err.message)));
  $("log-level-set").addEventListener("click", () => call("POST", "/api/log-level", {level: $("log-level").value})
    .then(() => renderGateway(), (err) => say(err.message)));
  setInterval(() => { if (shown === "gateway") renderGateway().catch(() => {}); }, 5000);
  start().catch((err) => say(err.message));
})();
