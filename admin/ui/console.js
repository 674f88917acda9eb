// The cutover console: one page over the admin API (docs/admin-api.md). It polls the API every
// second, draws each route's last 15 minutes from GET /v1/stats/series with Chart.js, and makes
// changes with the same calls cutoverctl makes, each after a confirmation that states it. The
// token is kept in sessionStorage and sent as a bearer token: no cookie, so no cross-site request
// can act with it. A read-only token sees everything; the page hides the controls for it (and the
// API refuses its changes anyway). An ES module: strict, and nothing of it is global.

const POLL_MS = 1000;
const SERIES_MS = 5000;
const TOKEN_KEY = 'cutover.token';
const SIDES = ['source', 'target'];
const STYLE = {
  source: { color: '#0072b2', dash: [], point: 'circle' },
  target: { color: '#d55e00', dash: [6, 4], point: 'triangle' },
};

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  canChange: false,
  fleet: false,  // whether GET /v1/fleet answers (a node of a fleet); from GET /v1/whoami
  sections: new Map(),  // route name -> {root, charts, openSample}
};

const $ = (sel, root = document) => root.querySelector(sel);
// The first of its arguments that is neither undefined nor null.
const defined = (...values) => values.find((v) => v !== undefined && v !== null);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, cache: 'no-store',
                              body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { status: 0, ok: false, data: { error: 'the admin API is unreachable' } };
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  return { status: res.status, ok: res.ok, data };
}

function banner(text) {
  const b = $('#banner');
  b.textContent = text || '';
  b.hidden = !text;
}

// ---- access ------------------------------------------------------------------------------------

async function refreshIdentity() {
  const r = await api('GET', '/v1/whoami');
  const who = $('#identity');
  if (!r.ok) {
    who.textContent = 'access unknown: ' + (r.data && r.data.error || r.status);
    state.canChange = false;
  } else {
    const d = r.data;
    state.canChange = d.can_change;
    state.fleet = !!d.fleet;
    if (!d.tokens) who.textContent = 'no tokens configured (loopback admin): changes allowed';
    else if (!d.actor) who.textContent = state.token ? 'token not recognised: read-only' : 'no token: read-only';
    else who.textContent = `token "${d.actor}" (${d.role})` + (d.can_change ? '' : ': read-only');
  }
  document.body.classList.toggle('read-only', !state.canChange);
}

$('#token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('#token').value.trim();
  $('#token').value = '';
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
  else sessionStorage.removeItem(TOKEN_KEY);
  refreshIdentity();
});
$('#token-forget').addEventListener('click', () => {
  state.token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  refreshIdentity();
});

// ---- confirmation ------------------------------------------------------------------------------

// Resolves to the reason typed (maybe empty) when confirmed, null when cancelled.
function confirmChange(title, text) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-reason').value = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok' ? $('#confirm-reason').value : null);
    }, { once: true });
    dialog.showModal();
    $('#confirm-cancel').focus();
  });
}

async function change(title, text, method, path, body = {}) {
  const reason = await confirmChange(title, text);
  if (reason === null) return;
  if (reason) body.reason = reason;
  const r = await api(method, path, body);
  banner(r.ok ? '' : `${title} failed (${r.status}): ${r.data && r.data.error || 'no answer'}`);
  await poll();
}

// ---- formatting --------------------------------------------------------------------------------

const pct = (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(2).replace(/\.?0+$/, '')} %`);
const num = (v, digits = 1) => (v === null || v === undefined ? '—' : Number(v).toFixed(digits));
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });

function seconds(s) {
  if (s === null || s === undefined) return '—';
  s = Math.round(s);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

// ---- routes ------------------------------------------------------------------------------------

function makeChart(canvas, label, yTitle) {
  canvas.setAttribute('aria-label', `${label}: source and target over the last 15 minutes`);
  return new Chart(canvas, {
    type: 'line',
    data: { labels: [], datasets: SIDES.map((side) => ({
      label: side, data: [], borderColor: STYLE[side].color, backgroundColor: STYLE[side].color,
      borderDash: STYLE[side].dash, pointStyle: STYLE[side].point, pointRadius: 2, borderWidth: 2,
      spanGaps: false, tension: 0,
    })) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { display: false } },
      scales: { x: { ticks: { maxTicksLimit: 4, autoSkip: true } },
                y: { beginAtZero: true, title: { display: false, text: yTitle } } },
    },
  });
}

function section(route) {
  let s = state.sections.get(route.name);
  if (s) return s;
  const root = $('#route-template').content.firstElementChild.cloneNode(true);
  root.dataset.route = route.name;
  const title = root.querySelector('.route-name');
  title.textContent = route.name;
  title.id = `route-${route.name}`;
  root.setAttribute('aria-labelledby', title.id);
  s = { root, openSample: null, charts: {
    rps: makeChart(root.querySelector('.c-rps'), 'requests per second', 'req/s'),
    errors: makeChart(root.querySelector('.c-errors'), '5xx rate in percent', '%'),
    p50: makeChart(root.querySelector('.c-p50'), 'p50 latency in ms', 'ms'),
    p99: makeChart(root.querySelector('.c-p99'), 'p99 latency in ms', 'ms'),
  } };
  wireControls(s, route.name);
  state.sections.set(route.name, s);
  $('#routes').append(root);
  return s;
}

function wireControls(s, name) {
  const root = s.root;
  const base = `/v1/routes/${encodeURIComponent(name)}`;
  const current = () => s.route || {};
  root.querySelector('.rollback').addEventListener('click', () => {
    const r = current();
    change('Rollback', `Roll back route "${name}": read weight ${pct(r.read_weight)} → 0 %, write weight ` +
           `${pct(r.write_weight)} → 0 %; all traffic to source at once, a running ramp is aborted.`,
           'POST', `${base}/rollback`);
  });
  root.querySelector('form.weights').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const read = Number(f.read.value), write = Number(f.write.value);
    const r = current();
    change('Set weights', `Route "${name}" (generation ${r.generation}): read weight ${pct(r.read_weight)} → ` +
           `${pct(read)}, write weight ${pct(r.write_weight)} → ${pct(write)}.`, 'PUT', `${base}/weights`,
           { read_weight: read, write_weight: write, if_generation: r.generation })
      .then(() => { f.dataset.edited = ''; });
  });
  for (const input of root.querySelectorAll('form.weights input')) {
    input.addEventListener('input', () => { input.form.dataset.edited = '1'; });
  }
  root.querySelector('.hold').addEventListener('click', () => change('Hold writes',
    `Hold every write on route "${name}" until released (reads keep flowing). The call answers once ` +
    'the writes in flight have drained.', 'POST', `${base}/writes/hold`));
  root.querySelector('.release').addEventListener('click', () => change('Release writes',
    `Release the held writes of route "${name}" in arrival order, to the current write weight ` +
    `(${pct(current().write_weight)} to target).`, 'POST', `${base}/writes/release`));
  root.querySelector('.maintenance-on').addEventListener('click', () => change('Maintenance on',
    `Answer every request of route "${name}" with 503 and Retry-After from cutover itself (testers ` +
    'allowed to force a side pass through).', 'PUT', `${base}/maintenance`, { status: 503, retry_after: '120s' }));
  root.querySelector('.maintenance-off').addEventListener('click', () => change('Maintenance off',
    `End the maintenance answer of route "${name}": requests reach the upstreams again.`, 'DELETE',
    `${base}/maintenance`));
  for (const [cls, action, text] of [
    ['.ramp-approve', 'approve', 'let the ramp go on to its next step'],
    ['.ramp-pause', 'pause', 'stop stepping and evaluating; the weights stay'],
    ['.ramp-resume', 'resume', 'apply the current step again and start its interval anew'],
    ['.ramp-abort', 'abort', 'end the ramp; the weights stay where they are (roll back to move them)']]) {
    root.querySelector(cls).addEventListener('click', () => change(`Ramp: ${action}`,
      `Route "${name}": ${text}.`, 'POST', `${base}/ramp/${action}`));
  }
}

function setText(root, sel, text) {
  const node = root.querySelector(sel);
  if (node.textContent !== text) node.textContent = text;
}

function renderRoute(route, shadow) {
  const s = section(route);
  s.route = route;
  const root = s.root;
  const m = route.match || {};
  setText(root, '.route-match', `listener ${route.listener}` + (m.host ? `, host ${m.host}` : '') +
          (m.path_prefix ? `, path ${m.path_prefix}` : ''));
  setText(root, '.route-generation', `generation ${route.generation}`);
  setText(root, '.f-source', route.source);
  setText(root, '.f-target', route.target);
  const read = defined(route.read_weight, route.weight), write = defined(route.write_weight, route.weight);
  setText(root, '.f-read', pct(read));
  setText(root, '.f-write', pct(write));
  const w = route.writes || {};
  setText(root, '.f-writes', w.held ? `HELD: ${w.held_requests} waiting` : `flowing (${defined(w.in_flight, 0)} in flight)`);
  const maint = route.maintenance;
  setText(root, '.f-maintenance', maint ? `ON: answers ${maint.status}` : 'off');
  root.querySelector('.maintenance-on').hidden = !('maintenance' in route) || !!maint;
  root.querySelector('.maintenance-off').hidden = !('maintenance' in route) || !maint;
  const seg = route.segments;
  setText(root, '.f-segments', Array.isArray(seg) ? (seg.length ? `${seg.length} pinned` : 'none') : '—');
  setText(root, '.f-tunnels', route.tunnels ? `source ${route.tunnels.source}, target ${route.tunnels.target}` : '—');
  setText(root, '.f-mirror', route.mirror ? `${pct(route.mirror.percent)} mirrored` : 'off');
  root.querySelector('.hold').hidden = !!w.held;
  root.querySelector('.release').hidden = !w.held;
  const form = root.querySelector('form.weights');
  if (!form.dataset.edited && !form.contains(document.activeElement)) {
    form.read.value = defined(read, 0);
    form.write.value = defined(write, 0);
  }
  renderRamp(root, route.ramp);
  renderShadow(s, shadow);
}

function renderRamp(root, ramp) {
  const box = root.querySelector('.ramp');
  box.hidden = !ramp;
  if (!ramp) return;
  const label = ramp.dry_run ? `${ramp.state} (rehearsal: no weight changes)` : ramp.state;
  setText(box, '.ramp-state', `— ${label.replaceAll('_', ' ')}`);
  const steps = box.querySelector('.ramp-steps');
  const stepWeights = ramp.steps || [];
  if (steps.children.length !== stepWeights.length) steps.replaceChildren(...stepWeights.map(() => el('li')));
  stepWeights.forEach((wt, i) => {
    const li = steps.children[i];
    const approve = typeof wt === 'object' && wt !== null;
    const weight = approve ? wt.weight : wt;
    li.textContent = `${pct(weight)}${approve && wt.approve ? ' (approval)' : ''}${i === ramp.step ? ' ◀ current' : ''}`;
    li.classList.toggle('done', i < ramp.step);
    if (i === ramp.step) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
  });
  const bits = [`step ${ramp.step + 1} of ${ramp.steps_total}`, `time in step ${seconds(ramp.step_elapsed_s)}`,
                `interval ${seconds(ramp.interval_s)}`];
  if (ramp.reason) bits.push(`reason: ${ramp.reason}`);
  setText(box, '.ramp-info', bits.join(' · '));
  const ev = ramp.last_evaluation;
  const rows = [];
  for (const g of (ev && ev.gates) || []) {
    let result;
    if (ev.waiting) result = el('span', { class: 'wait', text: '… waiting for min_requests' });
    else if (g.passed === false) result = el('span', { class: 'fail', text: '✗ fail' });
    else result = el('span', { class: 'pass', text: '✓ pass' });
    // A Prometheus gate is named by its query; without a number it says why.
    const name = g.gate === 'prometheus' ? `prometheus ${g.bound === 'min' ? '≥' : '≤'}: ${g.query}` : g.gate;
    const value = g.value === null ? (g.error || 'not measured') : num(g.value, 3);
    rows.push(el('tr', {}, el('td', { text: name }), el('td', { text: value }),
                 el('td', { text: num(g.threshold, 3) }), el('td', {}, result)));
  }
  if (ramp.failed_gate) {
    const g = ramp.failed_gate;
    rows.push(el('tr', {}, el('td', { text: `${g.gate} (rolled back)` }), el('td', { text: num(g.value, 3) }),
                 el('td', { text: num(g.threshold, 3) }), el('td', {}, el('span', { class: 'fail', text: '✗ fail' }))));
  }
  box.querySelector('.gates tbody').replaceChildren(...rows);
  const st = ramp.state;
  box.querySelector('.ramp-approve').hidden = st !== 'awaiting_approval';
  box.querySelector('.ramp-pause').hidden = st !== 'running' && st !== 'awaiting_approval';
  box.querySelector('.ramp-resume').hidden = st !== 'paused';
  box.querySelector('.ramp-abort').hidden = !['running', 'paused', 'awaiting_approval'].includes(st);
}

// ---- shadow ------------------------------------------------------------------------------------

function renderShadow(s, shadow) {
  const box = s.root.querySelector('.shadow');
  box.hidden = !shadow || !shadow.enabled;
  if (box.hidden) return;
  const compared = shadow.compared || 0;
  const matchRate = compared ? (100 * (shadow.matched || 0)) / compared : null;
  setText(box, '.shadow-summary', `${pct(shadow.percent)} mirrored · ${compared} compared · match ${pct(matchRate)} · ` +
          `mismatch ${pct(shadow.mismatch_rate === undefined ? null : 100 * shadow.mismatch_rate)} · ` +
          `${shadow.errors || 0} errors · ${shadow.dropped || 0} dropped`);
  const samples = (shadow.samples || []).slice(-10).reverse();
  const list = box.querySelector('.samples');
  const key = samples.map((x) => x.request_id + x.time).join('|');
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...samples.map((x) => {
      const b = el('button', { type: 'button', 'aria-expanded': String(s.openSample === x.request_id),
                               text: `${x.time} ${x.method} ${x.path} — ${x.primary_side} ${x.primary_status} vs ` +
                                     `shadow ${x.shadow_status} — ${x.first_difference}` });
      b.addEventListener('click', () => {
        s.openSample = s.openSample === x.request_id ? null : x.request_id;
        for (const other of list.querySelectorAll('button')) other.setAttribute('aria-expanded', 'false');
        b.setAttribute('aria-expanded', String(s.openSample !== null));
        showSample(box, s.openSample ? x : null);
      });
      return el('li', {}, b);
    }));
  }
}

// A JSON body pretty-printed with each value's path in the notation of the comparison's
// differences ($.items[2].price, $["odd key"]); lines at a differing path (or inside one) marked.
function jsonLines(value, diffPaths) {
  const out = [];
  const ident = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const differs = (path) => diffPaths.some((d) => path === d || path.startsWith(d + '.') || path.startsWith(d + '['));
  const walk = (v, path, indent, prefix, comma) => {
    const pad = '  '.repeat(indent);
    if (v !== null && typeof v === 'object') {
      const isArr = Array.isArray(v);
      const entries = isArr ? v.map((x, i) => [i, x]) : Object.keys(v).sort().map((k) => [k, v[k]]);
      out.push({ text: `${pad}${prefix}${isArr ? '[' : '{'}`, mark: differs(path) });
      entries.forEach(([k, x], i) => {
        const sub = isArr ? `${path}[${k}]` : (ident.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);
        walk(x, sub, indent + 1, isArr ? '' : `${JSON.stringify(k)}: `, i < entries.length - 1 ? ',' : '');
      });
      out.push({ text: `${pad}${isArr ? ']' : '}'}${comma}`, mark: differs(path) });
    } else {
      out.push({ text: `${pad}${prefix}${JSON.stringify(v)}${comma}`, mark: differs(path) });
    }
  };
  walk(value, '$', 0, '', '');
  return out;
}

// The key a path ends with: "side" for $.side, "odd key" for $["odd key"], none for $.items[2].
function lastKey(path) {
  const m = /(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\])$/.exec(path);
  if (!m) return null;
  return m[1] !== undefined ? m[1] : JSON.parse(m[2]);
}

function fillBody(pre, text, diffPaths) {
  let parsed;
  try { parsed = JSON.parse(text); } catch (e) { parsed = undefined; }
  if (parsed === undefined) {
    // Not JSON, or cut at the sample's size: the differing keys are marked where they appear.
    const keys = diffPaths.map(lastKey).filter((k) => k !== null).map((k) => JSON.stringify(k) + ':');
    if (!text || !keys.length) {
      pre.textContent = text || '(empty)';
      return;
    }
    const parts = [];
    let rest = text;
    for (;;) {
      let at = -1, key = '';
      for (const k of keys) {
        const i = rest.indexOf(k);
        if (i >= 0 && (at < 0 || i < at)) { at = i; key = k; }
      }
      if (at < 0) break;
      parts.push(document.createTextNode(rest.slice(0, at)), el('mark', { class: 'diff', text: key }));
      rest = rest.slice(at + key.length);
    }
    parts.push(document.createTextNode(rest));
    pre.replaceChildren(...parts);
    return;
  }
  pre.replaceChildren(...jsonLines(parsed, diffPaths).map((line) =>
    line.mark ? el('mark', { class: 'diff', text: line.text + '\n' }) : document.createTextNode(line.text + '\n')));
}

function showSample(box, x) {
  const detail = box.querySelector('.sample');
  detail.hidden = !x;
  if (!x) return;
  setText(detail, '.sample-title', `${x.method} ${x.path} (request id ${x.request_id})`);
  const diffs = x.differences || [];
  detail.querySelector('.sample-differences').replaceChildren(...diffs.map((d) => {
    const kind = d === 'status' ? 'status' : d.startsWith('header:') ? 'header' : d.startsWith('trailer:') ? 'trailer'
      : d === 'body' ? 'body bytes' : 'JSON path';
    return el('li', {}, `${kind}: `, el('code', { text: d }));
  }));
  const paths = diffs.filter((d) => d.startsWith('$'));
  const shadowSide = x.primary_side === 'source' ? 'target' : 'source';
  setText(detail, '.primary-title', `${x.primary_side} (answered the client): ${x.primary_status}`);
  setText(detail, '.shadow-title', `${shadowSide} (shadow): ${x.shadow_status}`);
  for (const [cls, body] of [['.primary-body', x.primary_body], ['.shadow-body', x.shadow_body]]) {
    const pre = detail.querySelector(cls);
    fillBody(pre, body, paths);
    const first = pre.querySelector('mark.diff');  // the first difference in view
    pre.scrollTop = first ? Math.max(0, first.offsetTop - pre.offsetTop - 40) : 0;
  }
}

// ---- series ------------------------------------------------------------------------------------

async function refreshSeries() {
  for (const [name, s] of state.sections) {
    const r = await api('GET', `/v1/stats/series?route=${encodeURIComponent(name)}&window=15m&step=5s`);
    if (!r.ok) continue;
    const points = r.data.points || [];
    const labels = points.map((p) => clock(p.t));
    const put = (chart, field, scale = 1) => {
      chart.data.labels = labels;
      SIDES.forEach((side, i) => {
        chart.data.datasets[i].data = points.map((p) => (p[side][field] === null ? null : p[side][field] * scale));
      });
      chart.update('none');
    };
    put(s.charts.rps, 'rps');
    put(s.charts.errors, 'error_rate', 100);
    put(s.charts.p50, 'p50_ms');
    put(s.charts.p99, 'p99_ms');
  }
}

// ---- fleet and audit ---------------------------------------------------------------------------

function renderFleet(r) {
  const box = $('#fleet');
  box.hidden = !r.ok;
  if (!r.ok) return;
  const f = r.data;
  const etcd = f.etcd || {};
  $('#fleet-summary').textContent = `this node: ${f.node} · etcd ${etcd.up ? 'up' : 'DOWN: ' + (etcd.error || '')} · ` +
    `applied revision ${f.applied_revision}` + (f.leader !== undefined ? ` · ramp leader ${f.leader || 'none'}` : '') +
    ((f.local_overrides || []).length ? ` · ${f.local_overrides.length} local override(s) waiting for etcd` : '');
  $('#fleet-nodes').replaceChildren(...(f.nodes || []).map((n) => el('tr', {}, el('td', { text: n.node }),
    el('td', { text: String(n.applied_revision) }), el('td', { text: f.leader === n.node ? 'ramp leader' : '' }))));
}

function describeChange(e) {
  const w = (x) => (x ? `${pct(defined(x.read_weight, x.weight))} / ${pct(defined(x.write_weight, x.weight))}` : '');
  return e.before || e.after ? `${w(e.before)} → ${w(e.after)}` : '';
}

function renderAudit(r) {
  if (!r.ok) return;
  const entries = (r.data.entries || []).slice(-20).reverse();
  $('#audit-rows').replaceChildren(...entries.map((e) => el('tr', {}, el('td', { text: e.time || '' }),
    el('td', { text: e.action || '' }), el('td', { text: e.route || '' }), el('td', { text: e.actor || '' }),
    el('td', { text: describeChange(e) }), el('td', { text: e.reason || '' }))));
}

// ---- the loop ----------------------------------------------------------------------------------

async function pollOnce() {
  const [routes, shadow, audit, fleet] = await Promise.all([
    api('GET', '/v1/routes'), api('GET', '/v1/shadow'), api('GET', '/v1/audit?limit=20'),
    state.fleet ? api('GET', '/v1/fleet') : Promise.resolve({ ok: false })]);
  if (!routes.ok) {
    $('#updated').textContent = `admin API: ${routes.data && routes.data.error || routes.status}`;
    return;
  }
  const shadowByRoute = new Map(((shadow.ok && shadow.data.routes) || []).map((x) => [x.route || x.name, x]));
  const list = routes.data.routes || [];
  for (const route of list) renderRoute(route, shadowByRoute.get(route.name));
  const names = new Set(list.map((x) => x.name));
  for (const [name, s] of state.sections) {
    if (!names.has(name)) {
      Object.values(s.charts).forEach((c) => c.destroy());
      s.root.remove();
      state.sections.delete(name);
    }
  }
  renderFleet(fleet);
  renderAudit(audit);
  $('#updated').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
}

// One call at a time per loop: a slow answer delays the next poll rather than piling calls up.
function serialized(task) {
  let running = null;
  return () => {
    if (!running) running = task().finally(() => { running = null; });
    return running;
  };
}
const poll = serialized(pollOnce);
const pollSeries = serialized(refreshSeries);

refreshIdentity().then(poll).then(pollSeries);
setInterval(poll, POLL_MS);
setInterval(pollSeries, SERIES_MS);
