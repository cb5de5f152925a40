// app.js - the page of `pyspy-c web`: state in the URL, the API calls, and
// the timeline, filters, flame graph, tables and compare mode wired together.
// Everything from the server is put into the page as text (textContent).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // ---- state: the page's query string --------------------------------------
  const DEFAULTS = {
    from: '-1h', until: 'now', service: '', host: '', pid: '', group: 'service',
    q: '', zoom: '', cmp: '', a_from: '', a_until: '', b_from: '', b_until: '', cb: '', view: 'flame',
  };
  const state = Object.assign({}, DEFAULTS);

  function readURL() {
    const p = new URLSearchParams(location.search);
    for (const k in DEFAULTS) {
      const v = p.get(k);
      state[k] = v === null ? DEFAULTS[k] : v.slice(0, 4096);
    }
    if (state.group !== 'host') state.group = 'service';
    if (state.view !== 'table') state.view = 'flame';
  }

  function pageURL() {
    const p = new URLSearchParams();
    for (const k in DEFAULTS) if (state[k] !== DEFAULTS[k]) p.set(k, state[k]);
    const s = p.toString();
    return location.origin + location.pathname + (s ? '?' + s : '');
  }

  function writeURL() {
    history.replaceState(null, '', pageURL());
    $('link-url').value = pageURL();
  }

  // ---- the server ----------------------------------------------------------
  function filters() {
    const f = {};
    for (const k of ['service', 'host', 'pid']) if (state[k]) f[k] = state[k];
    return f;
  }

  function apiURL(path, params) {
    return path + '?' + new URLSearchParams(params).toString();
  }

  async function api(path, params) {
    let r;
    try {
      r = await fetch(apiURL(path, params), { headers: { Accept: 'application/json' } });
    } catch (e) {
      throw new Error('cannot reach the server: ' + e.message);
    }
    if (!r.ok) {
      const text = (await r.text()).split('\n')[0].slice(0, 300);
      throw new Error('server: ' + r.status + ' ' + (text || r.statusText));
    }
    return r.json();
  }

  // ---- status ----------------------------------------------------------------
  function status(text, kind) {
    const s = $('status');
    s.textContent = text;
    s.className = 'status' + (kind ? ' ' + kind : '');
  }

  // ---- time formatting --------------------------------------------------------
  const pad = (n) => (n < 10 ? '0' + n : String(n));
  function fmtTime(t) {
    const d = new Date(t * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function fmtSpan(s) {
    if (s >= 86400 && s % 86400 === 0) return s / 86400 + 'd';
    if (s >= 3600) return Math.floor(s / 3600) + 'h' + (s % 3600 >= 60 ? ' ' + Math.floor(s % 3600 / 60) + 'm' : '');
    if (s >= 60) return Math.floor(s / 60) + 'm' + (s % 60 ? ' ' + s % 60 + 's' : '');
    return s + 's';
  }
  function fmtRange(a, b) {
    const fa = fmtTime(a), fb = fmtTime(b);
    return fa + ' – ' + (fa.slice(0, 10) === fb.slice(0, 10) ? fb.slice(11) : fb) + ' (' + fmtSpan(b - a) + ')';
  }
  const pct = (x) => (x * 100).toFixed(x >= 0.1 ? 1 : 2) + '%';
  const pp = (x) => (x >= 0 ? '+' : '−') + Math.abs(x * 100).toFixed(2) + ' pp';

  // ---- what was loaded ---------------------------------------------------------
  let gen = 0;                // the newest load; older answers are dropped
  let view = null;            // {timeline, root (tree drawn), before (compare), samples, ...}
  let drawn = [];             // nodes of the flame graph's elements, by data-i

  function renders() {
    document.body.dataset.renders = String(Number(document.body.dataset.renders) + 1);
  }

  // Load what the state asks for and draw it.
  async function load() {
    const g = ++gen;
    document.body.dataset.state = 'loading';
    status('loading…', 'loading');
    writeURL();
    const range = { from: state.from, until: state.until };
    const f = filters();
    try {
      // The flame graph asked for first: it takes the server longest.
      let flameP;
      if (state.cmp) {
        flameP = Promise.all([
          api('/api/v1/flamegraph', Object.assign({ from: state.a_from, until: state.a_until }, f)),
          api('/api/v1/flamegraph', Object.assign({ from: state.b_from, until: state.b_until }, f)),
        ]);
      } else {
        flameP = api('/api/v1/flamegraph', Object.assign({}, range, f));
      }
      const timelineP = api('/api/v1/timeline', Object.assign({}, range, f, { group: state.group }));
      const seriesP = loadSeries(range);
      // The timeline and filters first (quick), the flame graph when it comes.
      flameP.catch(() => {});
      const [tl, series] = await Promise.all([timelineP, seriesP]);
      if (g !== gen) return;
      view = { timeline: tl, root: null };
      drawFilters(series);
      drawTimeline();
      drawControls();
      status('loading the flame graph…', 'loading');
      $('flamegraph').classList.add('stale');
      const fl = await flameP;
      if (g !== gen) return;
      // For bench/web: when the answers were in, and when drawn.
      performance.mark('pyspy:fetched-' + g);
      if (state.cmp) {
        view.before = Flame.build(fl[0]);
        view.root = Flame.build(fl[1]);
        Flame.attachBase(view.root, view.before);
        view.data = fl[1];
      } else {
        view.root = Flame.build(fl);
        view.data = fl;
      }
      performance.mark('pyspy:built-' + g);
      drawAll(g);
      const empty = state.cmp
        ? (!view.root.total ? 'no samples in interval B' : !view.before.total ? 'no samples in interval A' : '')
        : (!view.root.total ? 'no samples in this range' + (Object.keys(f).length ? ' for these filters' : '') : '');
      if (empty) {
        const extent = await storeExtent();
        if (g !== gen) return;
        status(empty + extent, 'empty');
      }
      else status(describe(), '');
      performance.mark('pyspy:drawn-' + g);
      document.body.dataset.state = 'ready';
      renders();
    } catch (e) {
      if (g !== gen) return;
      $('flamegraph').classList.remove('stale');
      status(e.message, 'error');
      document.body.dataset.state = 'error';
      renders();
    }
  }

  // What the store holds (for an empty range), and the version in the footer.
  let info = null;
  async function storeExtent() {
    try {
      info = info || await api('/api/v1/info', {});
    } catch (e) {
      return '';
    }
    if (info.first === null || info.last === null) return ' (the store is empty)';
    return ' (the store holds ' + fmtRange(Number(info.first), Number(info.last)) + ')';
  }

  function describe() {
    const d = view.data;
    let s = Number(d.samples || view.root.total).toLocaleString() + ' samples';
    if (d.errors) s += ', ' + Number(d.errors).toLocaleString() + ' errors';
    if (state.cmp) s = 'B: ' + s + '; A: ' + view.before.total.toLocaleString() + ' samples';
    if (d.exact === false) s += ' (range widened to the store\u2019s buckets)';
    return s;
  }

  // Filter choices with counts: each select lists what the other filters allow.
  async function loadSeries(range) {
    const want = {
      service: { host: state.host, pid: state.pid },
      host: { service: state.service, pid: state.pid },
      pid: { service: state.service, host: state.host },
    };
    const cache = new Map();
    const out = {};
    for (const k in want) {
      const p = Object.assign({}, range);
      for (const [fk, fv] of Object.entries(want[k])) if (fv) p[fk] = fv;
      const key = apiURL('', p);
      if (!cache.has(key)) cache.set(key, api('/api/v1/series', p));
      out[k] = cache.get(key);
    }
    const [s, h, p] = await Promise.all([out.service, out.host, out.pid]);
    return { services: s.services || [], hosts: h.hosts || [], pids: p.pids || [] };
  }

  function fillSelect(sel, items, value, label) {
    const opts = [new Option('all', '')];
    let seen = false;
    for (const it of items.slice(0, 1000)) {
      const v = String(it.value);
      seen = seen || v === value;
      opts.push(new Option(label(it), v));
    }
    if (value && !seen) opts.push(new Option(value + ' (no samples)', value));
    sel.replaceChildren(...opts);
    sel.value = value;
  }

  function drawFilters(series) {
    const n = (x) => Number(x).toLocaleString();
    fillSelect($('filter-service'), series.services.map((s) => ({ value: s.name, s })), state.service,
      (it) => it.s.name + ' (' + n(it.s.samples) + ')');
    fillSelect($('filter-host'), series.hosts.map((s) => ({ value: s.name, s })), state.host,
      (it) => it.s.name + ' (' + n(it.s.samples) + ')');
    fillSelect($('filter-pid'), series.pids.map((s) => ({ value: s.pid, s })), state.pid,
      (it) => it.s.pid + ' ' + it.s.host + '/' + it.s.service +
        (it.s.program ? ' ' + String(it.s.program).slice(0, 60) : '') + ' (' + n(it.s.samples) + ')');
    $('group').value = state.group;
  }

  // ---- drawing -------------------------------------------------------------------
  // g: the load that draws (bench/web times its phases by these marks).
  function drawAll(g) {
    if (!view) return;
    drawTimeline();
    drawControls();
    if (!view.root) return;
    drawFlame();
    if (g) performance.mark('pyspy:flame-' + g);
    drawTables();
    if (g) performance.mark('pyspy:tables-' + g);
    drawDownloads();
  }

  function drawTimeline() {
    const tl = view.timeline;
    const marks = [];
    if (state.cmp) {
      marks.push({ from: Number(state.a_from), until: Number(state.a_until), cls: 'a', label: 'A' });
      marks.push({ from: Number(state.b_from), until: Number(state.b_until), cls: 'b', label: 'B' });
    }
    const groups = Timeline.draw($('timeline'), tl, { marks, onSelect: selectRange, onHover: timelineTip });
    const legend = $('timeline-legend');
    legend.replaceChildren(...groups.map((gr) => {
      const item = document.createElement('span');
      item.className = 'item';
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = gr.color;
      item.append(sw, gr.name + ' ' + gr.samples.toLocaleString());
      return item;
    }));
    $('range-label').textContent = fmtRange(Number(tl.from), Number(tl.until));
    $('tier').textContent = 'buckets of ' + fmtSpan(Number(tl.width)) + ' (tier ' + String(tl.tier) + ')';
    $('timeline-hint').textContent = state.cmp
      ? 'Drag across the chart to set interval ' + pick().toUpperCase() + '.'
      : 'Drag across the chart to select a range.';
  }

  function drawControls() {
    $('compare-toggle').checked = !!state.cmp;
    $('colorblind-toggle').checked = !!state.cb;
    $('compare-bar').classList.toggle('hidden', !state.cmp);
    $('diff-legend').classList.toggle('hidden', !state.cmp);
    $('search').value = state.q;
    $('view-flame').classList.toggle('on', state.view === 'flame');
    $('view-table').classList.toggle('on', state.view === 'table');
    $('flamegraph').classList.toggle('hidden', state.view === 'table');
    if (state.cmp) {
      $('a-label').textContent = 'A: ' + fmtRange(Number(state.a_from), Number(state.a_until));
      $('b-label').textContent = 'B: ' + fmtRange(Number(state.b_from), Number(state.b_until));
      $(pick() === 'a' ? 'pick-a' : 'pick-b').checked = true;
      drawDiffLegend();
    }
    for (const b of document.querySelectorAll('.presets button')) {
      b.classList.toggle('on', state.from === '-' + b.dataset.range && state.until === 'now');
    }
  }

  let nextPick = 'a';
  function pick() { return nextPick; }

  function drawDiffLegend() {
    const lg = $('diff-legend');
    const scale = document.createElement('span');
    scale.className = 'scale';
    for (const t of [-1, -0.5, 0, 0.5, 1]) {
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = Flame.diffColor(t, !!state.cb);
      scale.appendChild(sw);
    }
    const left = document.createElement('span');
    left.textContent = 'shrank (' + (state.cb ? 'purple' : 'blue') + ')';
    const right = document.createElement('span');
    right.textContent = 'grew (' + (state.cb ? 'orange' : 'red') + ')';
    const note = document.createElement('span');
    note.className = 'note';
    note.textContent = 'widths: interval B; colour: change of each frame\u2019s share of samples from A to B, ' +
      'normalised to the biggest change';
    lg.replaceChildren(left, scale, right, note);
  }

  function zoomNode() {
    return state.zoom ? Flame.find(view.root, state.zoom.split(';')) : view.root;
  }

  function drawFlame() {
    $('flamegraph').classList.remove('stale');
    const matched = Flame.search(view.root, state.q);
    drawn = Flame.render($('flamegraph'), view.root, zoomNode(), {
      diff: !!state.cmp, cb: !!state.cb, searching: state.q !== '',
    });
    const share = view.root.total ? matched / view.root.total : 0;
    $('search-share').textContent = state.q
      ? pct(share) + ' matched (' + matched.toLocaleString() + ' samples)' : '';
    $('reset-zoom').disabled = !state.zoom;
  }

  let sortKey = 'self', sortDesc = true;
  const MAX_ROWS = 200;

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function drawTables() {
    const total = view.root.total || 1;
    const fns = Flame.functions(view.root);
    const body = $('functions-table').tBodies[0];
    $('functions-table').classList.toggle('hidden', !!state.cmp);
    $('diff-table').classList.toggle('hidden', !state.cmp);
    if (!state.cmp) {
      fns.sort((a, b) => {
        const x = a[sortKey], y = b[sortKey];
        const c = x < y ? -1 : x > y ? 1 : 0;
        return (sortDesc ? -c : c) || b.self - a.self;
      });
      for (const th of $('functions-table').tHead.rows[0].cells) {
        th.className = (th.dataset.sort === sortKey ? (sortDesc ? 'sorted desc' : 'sorted asc') : '') +
          (th.dataset.sort === 'self' || th.dataset.sort === 'total' ? ' num' : '');
      }
      body.replaceChildren(...fns.slice(0, MAX_ROWS).map((fn) => {
        const tr = document.createElement('tr');
        tr.setAttribute('data-testid', 'function-row');
        tr.dataset.name = fn.name;
        if (state.q && fn.name === state.q) tr.className = 'selected';
        cell(tr, fn.name, 'name');
        cell(tr, fn.file, 'file');
        cell(tr, pct(fn.self / total), 'num');
        cell(tr, pct(fn.total / total), 'num');
        return tr;
      }));
      return;
    }
    // Diff: join the functions of A and B by name and file.
    const before = new Map(Flame.functions(view.before).map((fn) => [fn.key, fn]));
    const ta = view.before.total || 1;
    const rows = fns.map((fn) => {
      const a = before.get(fn.key);
      before.delete(fn.key);
      return {
        name: fn.name, file: fn.file, a: a ? a.total / ta : 0, b: fn.total / total,
        own: fn.self / total - (a ? a.self / ta : 0),
      };
    });
    for (const a of before.values()) rows.push({ name: a.name, file: a.file, a: a.total / ta, b: 0, own: -a.self / ta });
    for (const r of rows) r.d = r.b - r.a;
    const EPS = 1e-9;
    const grew = rows.filter((r) => r.d > EPS || (Math.abs(r.d) <= EPS && r.own > EPS))
      .sort((p, q) => q.d - p.d || q.own - p.own);
    const shrank = rows.filter((r) => r.d < -EPS || (Math.abs(r.d) <= EPS && r.own < -EPS))
      .sort((p, q) => p.d - q.d || p.own - q.own);
    const list = grew.slice(0, MAX_ROWS / 2).concat(shrank.slice(0, MAX_ROWS / 2));
    $('diff-table').tBodies[0].replaceChildren(...list.map((r) => {
      const tr = document.createElement('tr');
      tr.setAttribute('data-testid', 'diff-row');
      const dir = r.d > EPS || (r.d >= -EPS && r.own > 0) ? 'grew' : 'shrank';
      tr.dataset.change = dir;
      tr.dataset.name = r.name;
      tr.className = dir + (state.cb ? ' cb' : '');
      cell(tr, r.name, 'name');
      cell(tr, r.file, 'file');
      cell(tr, pct(r.a), 'num');
      cell(tr, pct(r.b), 'num');
      const c = cell(tr, pp(r.d), 'num change');
      c.style.background = Flame.diffColor(r.d >= 0 ? Math.max(0.35, Math.min(1, r.d * 5)) : Math.min(-0.35, Math.max(-1, r.d * 5)), !!state.cb);
      cell(tr, pp(r.own), 'num');
      return tr;
    }));
  }

  function drawDownloads() {
    const range = state.cmp ? { from: state.b_from, until: state.b_until } : { from: state.from, until: state.until };
    for (const fmt of ['folded', 'pprof', 'speedscope']) {
      const a = $('download-' + fmt);
      a.href = apiURL('/api/v1/flamegraph', Object.assign({}, range, filters(), { format: fmt }));
      a.setAttribute('download', '');
    }
  }

  // ---- tooltip -----------------------------------------------------------------
  function showTooltip(e, node) {
    const root = view.root;
    const total = root.total || 1;
    const lines = [node.name];
    if (node.file) lines.push(node.file + (node.line > 0 ? ':' + node.line : ''));
    lines.push(node.total.toLocaleString() + ' samples, ' + pct(node.total / total) +
      (node.self ? ' (own ' + pct(node.self / total) + ')' : ''));
    if (state.cmp) {
      const a = root.baseTotal ? node.base / root.baseTotal : 0;
      lines.push('A ' + pct(a) + ' → B ' + pct(node.total / total) + ': ' + pp(Flame.change(node, root)));
    }
    placeTooltip(e, lines);
  }

  function placeTooltip(e, lines) {
    const tip = $('tooltip');
    tip.replaceChildren(...lines.map((l, i) => {
      const d = document.createElement('div');
      d.textContent = l;
      if (i === 0) d.className = 'fn';
      return d;
    }));
    tip.classList.remove('hidden');
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let x = e.clientX + 14, y = e.clientY + 14;
    if (x + w > window.innerWidth) x = Math.max(0, e.clientX - w - 14);
    if (y + h > window.innerHeight) y = Math.max(0, e.clientY - h - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  // b: {from, until, groups: [[name, samples]]} of the bucket under the mouse, or null.
  function timelineTip(e, b) {
    if (!b) { hideTooltip(); return; }
    const lines = [fmtRange(b.from, b.until)];
    let sum = 0;
    for (const [name, n] of b.groups) {
      sum += n;
      if (n) lines.push(name + ': ' + n.toLocaleString() + ' samples');
    }
    if (b.groups.length > 1) lines.push('all: ' + sum.toLocaleString() + ' samples');
    placeTooltip(e, lines);
  }

  function hideTooltip() { $('tooltip').classList.add('hidden'); }

  // ---- actions -------------------------------------------------------------------
  function selectRange(t0, t1) {
    if (state.cmp) {
      state[pick() + '_from'] = String(t0);
      state[pick() + '_until'] = String(t1);
      nextPick = pick() === 'a' ? 'b' : 'a';
    } else {
      state.from = String(t0);
      state.until = String(t1);
    }
    load();
  }

  function startCompare() {
    // A and B: the halves of the range shown, until the user drags others.
    const tl = view && view.timeline;
    const from = tl ? Number(tl.from) : Math.floor(Date.now() / 1000) - 3600;
    const until = tl ? Number(tl.until) : Math.floor(Date.now() / 1000);
    const mid = Math.floor((from + until) / 2);
    if (!state.a_from || !state.b_from) {
      Object.assign(state, { a_from: String(from), a_until: String(mid), b_from: String(mid), b_until: String(until) });
    }
    state.cmp = '1';
    nextPick = 'a';
  }

  function bind() {
    for (const b of document.querySelectorAll('.presets button')) {
      b.addEventListener('click', () => {
        state.from = '-' + b.dataset.range;
        state.until = 'now';
        if (state.cmp) Object.assign(state, { a_from: '', a_until: '', b_from: '', b_until: '', cmp: '' });
        load();
      });
    }
    for (const k of ['service', 'host', 'pid']) {
      $('filter-' + k).addEventListener('change', (e) => { state[k] = e.target.value; load(); });
    }
    $('group').addEventListener('change', (e) => { state.group = e.target.value; load(); });
    $('compare-toggle').addEventListener('change', (e) => {
      if (e.target.checked) startCompare();
      else state.cmp = '';
      state.zoom = '';
      load();
    });
    $('colorblind-toggle').addEventListener('change', (e) => {
      state.cb = e.target.checked ? '1' : '';
      writeURL();
      drawAll();
    });
    for (const id of ['pick-a', 'pick-b']) {
      $(id).addEventListener('change', (e) => { nextPick = e.target.value; if (view) drawTimeline(); });
    }
    let typing = 0;
    $('search').addEventListener('input', (e) => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        state.q = e.target.value.slice(0, 200);
        writeURL();
        if (view && view.root) { drawFlame(); drawTables(); }
      }, 120);
    });
    $('reset-zoom').addEventListener('click', () => {
      state.zoom = '';
      writeURL();
      if (view && view.root) drawFlame();
    });
    for (const b of document.querySelectorAll('.views button')) {
      b.addEventListener('click', () => { state.view = b.dataset.view; writeURL(); drawAll(); });
    }
    const fg = $('flamegraph');
    fg.addEventListener('click', (e) => {
      if (!view || !view.root) return;
      const n = e.target.dataset && drawn[Number(e.target.dataset.i)];
      if (!n) return;
      state.zoom = Flame.path(n).join(';');
      writeURL();
      drawFlame();
      hideTooltip();
    });
    fg.addEventListener('mousemove', (e) => {
      if (!view || !view.root) return;
      const n = e.target.dataset && drawn[Number(e.target.dataset.i)];
      if (n) showTooltip(e, n);
      else hideTooltip();
    });
    fg.addEventListener('mouseleave', hideTooltip);
    for (const th of $('functions-table').tHead.rows[0].cells) {
      th.addEventListener('click', () => {
        const k = th.dataset.sort;
        if (sortKey === k) sortDesc = !sortDesc;
        else { sortKey = k; sortDesc = k === 'self' || k === 'total'; }
        drawTables();
      });
    }
    const rowClick = (e) => {
      const tr = e.target.closest('tr');
      if (!tr || !tr.dataset.name) return;
      if (!view || !view.root) return;
      state.q = tr.dataset.name;
      $('search').value = state.q;
      writeURL();
      drawFlame();
      drawTables();
    };
    $('functions-table').tBodies[0].addEventListener('click', rowClick);
    $('diff-table').tBodies[0].addEventListener('click', rowClick);
    $('copy-link').addEventListener('click', async () => {
      const url = pageURL();
      $('link-url').value = url;
      $('link-url').select();
      try {
        await navigator.clipboard.writeText(url);
        status('link copied', '');
      } catch (e) {
        status('link selected: copy it with Ctrl+C', '');
      }
    });
    let resizing = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(drawAll, 150);
    });
  }

  function start() {
    readURL();
    if (state.cmp && !(state.a_from && state.a_until && state.b_from && state.b_until)) state.cmp = '';
    bind();
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
