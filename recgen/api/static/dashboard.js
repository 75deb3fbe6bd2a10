// recgen dashboard: reads /v1/dashboard/* with the admin key and draws everything itself
// (inline SVG charts, no libraries: nothing may be downloaded at run time).
// Untrusted strings (generated text, titles, reasons) only ever go through textContent.
"use strict";

const KEY_STORE = "recgen.dashboard.key";
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let apiKey = sessionStorage.getItem(KEY_STORE) || "";
let nextUsers = 0;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function facts(pairs) {
  return el("dl", { class: "facts" },
    pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "–")]));
}

const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%");
const num = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en"));
const when = (t) => (t ? new Date(typeof t === "number" ? t * 1000 : t).toISOString()
  .replace("T", " ").slice(0, 19) + " UTC" : "–");

async function api(path) {
  const response = await fetch(path, { headers: { "X-API-Key": apiKey } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// ---- charts ---------------------------------------------------------------------------

// Horizontal bars: rows of {label, parts: [{value, cls}]} stacked left to right.
function barChart(rows, { width = 360, label = 120 } = {}) {
  const rowH = 18;
  const max = Math.max(1, ...rows.map((r) => r.parts.reduce((s, p) => s + p.value, 0)));
  const svg = svgEl("svg", { width, height: rows.length * rowH + 4, role: "img" });
  rows.forEach((row, i) => {
    const y = i * rowH + 2;
    // About 6 px per character at 11 px: cut labels to the space they have.
    svg.append(svgEl("text", { x: 0, y: y + 12 }, row.label.slice(0, Math.floor(label / 6))));
    let x = label;
    let total = 0;
    for (const part of row.parts) {
      const w = ((width - label - 40) * part.value) / max;
      svg.append(svgEl("rect", { x, y, width: Math.max(w, 0), height: rowH - 5, class: part.cls }));
      x += w;
      total += part.value;
    }
    svg.append(svgEl("text", { x: x + 4, y: y + 12 }, num(total)));
  });
  return svg;
}

// Rates with confidence intervals: one dot and whisker per arm on a shared axis.
function intervalChart(points, { width = 360 } = {}) {
  const rowH = 26;
  const hi = Math.max(1e-6, ...points.map((p) => p.high ?? p.value ?? 0)) * 1.1;
  const left = 90;
  const scale = (v) => left + ((width - left - 20) * v) / hi;
  const svg = svgEl("svg", { width, height: points.length * rowH + 18, role: "img" });
  svg.append(svgEl("line", { x1: left, x2: left, y1: 0, y2: points.length * rowH, class: "axis" }));
  points.forEach((p, i) => {
    const y = i * rowH + 13;
    svg.append(svgEl("text", { x: 0, y: y + 4 }, p.label));
    if (p.value === null || p.value === undefined) return;
    if (p.low !== null && p.high !== null) {
      svg.append(svgEl("line", { x1: scale(p.low), x2: scale(p.high), y1: y, y2: y,
        class: "whisker" }));
    }
    svg.append(svgEl("circle", { cx: scale(p.value), cy: y, r: 5, class: p.cls }));
  });
  svg.append(svgEl("text", { x: left, y: points.length * rowH + 14 }, "0"));
  svg.append(svgEl("text", { x: width - 60, y: points.length * rowH + 14 }, pct(hi)));
  return svg;
}

// Counts over time: one column per bucket, stacked by class.
function columnChart(buckets, { width = 520, height = 110 } = {}) {
  const svg = svgEl("svg", { width, height: height + 18, role: "img" });
  const max = Math.max(1, ...buckets.map((b) => b.parts.reduce((s, p) => s + p.value, 0)));
  const w = Math.max(4, Math.min(40, (width - 10) / Math.max(1, buckets.length) - 3));
  buckets.forEach((b, i) => {
    let y = height;
    const x = 5 + i * (w + 3);
    for (const part of b.parts) {
      const h = (height * part.value) / max;
      y -= h;
      svg.append(svgEl("rect", { x, y, width: w, height: h, class: part.cls }));
    }
  });
  if (buckets.length) svg.append(svgEl("text", { x: 5, y: height + 14 }, buckets[0].label));
  if (buckets.length > 1) {
    svg.append(svgEl("text", { x: width - 110, y: height + 14 }, buckets[buckets.length - 1].label));
  }
  return svg;
}

// ---- users ------------------------------------------------------------------------------

async function loadUsers(reset) {
  if (reset) { $("users").replaceChildren(); nextUsers = 0; }
  const page = await api(`/v1/dashboard/users?after_id=${nextUsers}&limit=100`);
  for (const u of page.users) {
    const persona = u.persona_id === null ? "" : ` · persona ${u.persona_id}`;
    $("users").append(el("option", { value: u.user_id }, `#${u.user_id} · ${u.events} events${persona}`));
  }
  nextUsers = page.next_after_id;
  $("more-users").hidden = nextUsers === null;
  return page.users;
}

function mixChart(mix) {
  const rows = Object.entries(mix)
    .map(([value, kinds]) => ({ value, kinds, total: Object.values(kinds).reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.total - a.total)
    .slice(0, 5);
  return barChart(rows.map((r) => ({
    label: r.value,
    parts: [
      { value: (r.kinds.view || 0), cls: "stock" },
      { value: (r.kinds.click || 0) + (r.kinds.add_to_cart || 0) + (r.kinds.purchase || 0),
        cls: "gen" },
    ],
  })), { width: 300, label: 110 });
}

function renderUser(u) {
  const p = u.profile;
  const mixes = Object.entries(u.interaction_mix).map(([attribute, mix]) =>
    el("div", {}, el("h3", {}, attribute.replace("_", " ")), mixChart(mix)));
  $("user-body").className = "";
  $("user-body").replaceChildren(
    el("div", { class: "row" },
      facts([
        ["user", `#${u.user_id}`], ["gender", u.gender], ["age", u.age],
        ["sign-up", Object.entries(u.signup_preferences).map(([k, v]) => `${k}=${v}`).join(", ") || null],
        ["profile", p ? `${p.model_version}, ${p.event_count} events` : "none (cold start)"],
        ["persona", p && p.persona_id !== null ? `#${p.persona_id}` : null],
        ["updated", p ? when(p.updated_at) : null],
      ]),
      ...mixes),
    el("p", { class: "muted" }, "Bars: views (grey) and clicks, carts, purchases (blue) by product attribute."),
    el("h3", {}, "Latest events"),
    el("ul", {}, u.recent.map((e) => el("li", {}, `${when(e.occurred_at)} · ${e.kind} · ${e.title}`))),
  );
}

// ---- feed -------------------------------------------------------------------------------

function gateBadge(name, gate) {
  if (!gate) return el("span", { class: "badge stock" }, `${name}: stock`);
  return el("span", { class: `badge ${gate.passed ? "pass" : "reject"}`, "data-gate": gate.passed ? "pass" : "reject" },
    `${name} gate: ${gate.passed ? "pass" : "reject"}`);
}

function provenance(name, asset) {
  const p = asset.provenance;
  if (!p) return el("details", {}, el("summary", {}, `${name}: no audit record`));
  const c = p.conditions || {};
  const controls = Object.entries(c.controls || {}).filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${v}`).join(", ");
  const product = Object.entries(c.product || {}).filter(([, v]) => v !== null)
    .map(([, v]) => v).join(" · ");
  return el("details", { "data-provenance": name },
    el("summary", {}, `${name}: ${p.model_name} ${p.model_version}`),
    facts([
      ["model", `${p.model_name} @ ${p.model_version}`], ["seed", p.seed],
      ["made for", p.persona_id !== null ? `persona #${p.persona_id}` : `user #${p.user_id}`],
      ["product", product], ["controls", controls || null],
      ["taste", c.taste_vector ? `${c.taste_vector.dim}-d ${c.taste_vector.sha1}` : null],
      ["profile", c.profile_vector ? `${c.profile_vector.dim}-d ${c.profile_vector.sha1}` : null],
      ["created", when(p.created_at)], ["key", asset.key],
    ]));
}

function feedCard(item, serves) {
  const generatedImage = serves === "generated" && item.image.url;
  const generatedText = serves === "generated" && item.text.value;
  const imageUrl = generatedImage ? item.image.url : item.stock_image_url;
  const reasons = [item.text.gate, item.image.gate].filter((g) => g && !g.passed)
    .flatMap((g) => g.reasons);
  return el("article", { class: "card", "data-product": item.product_id,
    "data-content": generatedImage || generatedText ? "generated" : "stock" },
    el("figure", {},
      imageUrl ? el("img", { src: imageUrl, alt: `product ${item.product_id}` }) : null,
      // The stock photo beside a generated image: what the generated content replaces.
      generatedImage && item.stock_image_url
        ? el("img", { class: "inset", src: item.stock_image_url, alt: "stock photo", title: "stock photo" })
        : null),
    el("div", {},
      el("span", { class: `badge ${generatedImage ? "generated" : "stock"}` }, `image: ${generatedImage ? "generated" : "stock"}`),
      el("span", { class: `badge ${generatedText ? "generated" : "stock"}` }, `text: ${generatedText ? "generated" : "stock"}`)),
    el("div", { class: "title" }, item.product ? item.product.title : `product ${item.product_id}`),
    el("p", { class: "text", "data-text": generatedText ? "generated" : "stock" },
      generatedText ? item.text.value : "(stock description)"),
    el("div", {}, gateBadge("text", item.text.gate), gateBadge("image", item.image.gate)),
    reasons.length ? el("div", { class: "reasons" }, reasons.join("; ")) : null,
    provenance("text", item.text), provenance("image", item.image));
}

function renderFeed(f) {
  const arm = f.arm ? `arm “${f.arm}” of experiment #${f.experiment_id}` : "no experiment arm";
  $("feed-head").className = "muted";
  $("feed-head").replaceChildren(f.state === "missing"
    ? "No feed in the cache for this user (it is built on the next refresh)."
    : `Serves ${f.serves} content (${arm}). Built ${when(f.generated_at)} with ` +
      Object.entries(f.model_versions).map(([k, v]) => `${k} ${v}`).join(", ") +
      `. ${f.items.length} items; viewing here is not logged as an exposure.`);
  $("feed-items").replaceChildren(...f.items.map((item) => feedCard(item, f.serves)));
}

// ---- experiments --------------------------------------------------------------------------

function renderExperiment(x) {
  const r = x.report;
  const arms = Object.entries(r.arms);
  const table = el("table", {},
    el("tr", {}, ["arm", "users", "exposures", "clicks", "CTR", "95% CI", "conversion"].map((h) => el("th", {}, h))),
    arms.map(([name, a]) => el("tr", {},
      el("td", {}, name), el("td", {}, num(a.users)), el("td", {}, num(a.exposures)),
      el("td", {}, num(a.click)), el("td", {}, pct(a.ctr.value)),
      el("td", {}, `${pct(a.ctr.ci_low)} – ${pct(a.ctr.ci_high)}`),
      el("td", {}, pct(a.conversion_rate.value)))));
  const points = arms.map(([name, a]) => ({ label: name, value: a.ctr.value, low: a.ctr.ci_low,
    high: a.ctr.ci_high, cls: name === r.control ? "stock" : "gen" }));
  const lifts = Object.entries(r.comparisons).map(([name, c]) => el("p", {},
    `${name} vs ${r.control}: CTR lift ${pct(c.ctr.lift)} (CI ${pct(c.ctr.ci_low)} – ${pct(c.ctr.ci_high)}), p = ${c.ctr.p_value === null ? "–" : c.ctr.p_value.toFixed(4)}` +
    (c.ctr_cuped ? `; CUPED lift ${pct(c.ctr_cuped.lift)}` : "")));
  const mixRows = arms.map(([name]) => ({ label: name, parts: ["generated", "stock"].map((content) => ({
    value: x.content_mix.filter((m) => m.arm === name && m.content === content).reduce((s, m) => s + m.count, 0),
    cls: content === "generated" ? "gen" : "stock" })) }));
  return el("div", { class: "experiment", "data-experiment": x.id },
    el("h3", {}, `#${x.id} ${x.name} — ${x.status}`),
    el("p", { class: "muted" }, `started ${when(r.experiment.started_at)}, traffic ${pct(r.experiment.traffic_share)}, weights ` +
      Object.entries(r.experiment.arms).map(([k, v]) => `${k} ${v}`).join(" / ")),
    el("div", { class: "row" },
      table,
      el("div", {}, el("div", { class: "muted" }, "CTR by arm (95% CI)"), intervalChart(points)),
      el("div", {}, el("div", { class: "muted" }, "Exposures: generated (blue) / stock (grey) shown"), barChart(mixRows, { width: 300, label: 80 }))),
    ...lifts,
    el("p", { class: r.srm.flagged ? "flag" : "muted" },
      `Sample ratio check: χ² ${r.srm.chi2 === null ? "–" : r.srm.chi2.toFixed(2)}, p = ${r.srm.p_value === null ? "–" : r.srm.p_value.toFixed(4)}` +
      (r.srm.flagged ? " — SAMPLE RATIO MISMATCH: do not trust this report" : "")));
}

function renderExperiments(body) {
  $("experiments-body").className = "";
  $("experiments-body").replaceChildren(body.experiments.length
    ? el("div", {}, body.experiments.map(renderExperiment))
    : el("p", { class: "muted" }, "No running or stopped experiments."));
}

// ---- stats --------------------------------------------------------------------------------

function renderStats(s) {
  const g = s.generation;
  const models = el("table", { "data-table": "models" },
    el("tr", {}, ["kind", "model", "version", "generated", "passed", "rejected", "pass rate"].map((h) => el("th", {}, h))),
    g.models.map((m) => el("tr", {}, el("td", {}, m.kind), el("td", {}, m.model_name),
      el("td", {}, m.model_version), el("td", {}, num(m.generated)), el("td", {}, num(m.passed)),
      el("td", {}, num(m.rejected)), el("td", {}, pct(m.generated ? m.passed / m.generated : null)))));
  const hours = [...new Set(g.timeline.map((t) => t.hour))].sort();
  const buckets = hours.map((h) => ({ label: h.replace("T", " "), parts: [true, false].map((ok) => ({
    value: g.timeline.filter((t) => t.hour === h && t.passed === ok).reduce((a, t) => a + t.count, 0),
    cls: ok ? "ok" : "bad" })) }));
  const lookups = s.serving.asset_lookups;
  const ratio = (hit, miss) => (hit + miss ? pct(hit / (hit + miss)) : "–");
  $("stats-body").className = "";
  $("stats-body").replaceChildren(
    el("p", { class: "muted" }, `Since ${when(g.since)}.`),
    el("div", { class: "row" },
      models,
      el("div", {}, el("div", { class: "muted" }, "Assets per hour: passed (green) / rejected (red)"), columnChart(buckets))),
    el("h3", {}, "Why the gates rejected"),
    g.rejection_reasons.length
      ? barChart(g.rejection_reasons.map((r) => ({ label: `${r.kind}: ${r.reason}`, parts: [{ value: r.count, cls: "bad" }] })), { width: 620, label: 360 })
      : el("p", { class: "muted" }, "No rejections in the window."),
    el("div", { class: "row" },
      el("div", {}, el("h3", {}, "Cache"), facts([
        ["backend", s.cache.backend], ["feeds tracked", num(s.cache.feeds_tracked)],
        ["feeds fresh", num(s.cache.feeds_fresh)],
        ["memory", s.cache.used_memory_bytes !== undefined ? `${(s.cache.used_memory_bytes / 2 ** 20).toFixed(1)} MiB` : null],
        ["server hit ratio", s.cache.server_keyspace_hits !== undefined ? ratio(s.cache.server_keyspace_hits, s.cache.server_keyspace_misses) : null],
      ])),
      el("div", {}, el("h3", {}, "Serving (this API process)"), facts([
        ["text hit ratio", ratio(lookups.text_hit, lookups.text_miss)],
        ["image hit ratio", ratio(lookups.image_hit, lookups.image_miss)],
        ["items generated / stock", `${num(s.serving.feed_items.generated)} / ${num(s.serving.feed_items.stock)}`],
        ["gate rejections served as stock", `text ${num(s.serving.gate_rejections.text)}, image ${num(s.serving.gate_rejections.image)}`],
      ]))));
}

// ---- wiring -------------------------------------------------------------------------------

async function showUser(userId) {
  document.body.dataset.state = "loading";
  try {
    const [u, f] = await Promise.all([api(`/v1/dashboard/users/${userId}`), api(`/v1/dashboard/users/${userId}/feed`)]);
    renderUser(u);
    renderFeed(f);
    document.body.dataset.state = "ready";
    setStatus(`User #${userId}: ${f.items.length} feed items.`);
  } catch (err) {
    document.body.dataset.state = "error";
    setStatus(`Could not load user ${userId}: ${err.message}`, true);
  }
}

async function connect() {
  document.body.dataset.state = "loading";
  try {
    const [users, experiments, stats] = await Promise.all([loadUsers(true), api("/v1/dashboard/experiments"), api("/v1/dashboard/stats")]);
    renderExperiments(experiments);
    renderStats(stats);
    setStatus(`Connected: ${users.length} users listed.`);
    const wanted = new URLSearchParams(location.search).get("user") || (users[0] && users[0].user_id);
    if (wanted) {
      $("users").value = String(wanted);
      await showUser(wanted);
    } else {
      document.body.dataset.state = "ready";
    }
  } catch (err) {
    document.body.dataset.state = "error";
    setStatus(`Could not connect: ${err.message}`, true);
  }
}

$("connect").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = $("api-key").value.trim();
  sessionStorage.setItem(KEY_STORE, apiKey);
  connect();
});
$("users").addEventListener("change", () => showUser($("users").value));
$("more-users").addEventListener("click", () => loadUsers(false));
if (apiKey) { $("api-key").value = apiKey; connect(); }
