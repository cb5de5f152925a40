// timeline.js - samples over time, stacked by group, as an SVG chart; a
// drag across it selects a range.
'use strict';

const Timeline = (function () {
  const NS = 'http://www.w3.org/2000/svg';
  const M = { left: 56, right: 12, top: 8, bottom: 22 };
  const HEIGHT = 150;
  const MAX_BUCKETS = 5000;
  const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948',
    '#e15759', '#9c755f', '#ff9da7', '#bab0ac'];

  function color(i) { return COLORS[i % COLORS.length]; }

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function tickLabel(t, step) {
    const d = new Date(t * 1000);
    const hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (step >= 86400 || (d.getHours() === 0 && d.getMinutes() === 0))
      return (d.getMonth() + 1) + '-' + pad(d.getDate()) + (step >= 86400 ? '' : ' ' + hm);
    return hm;
  }

  const STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];

  function short(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
    if (n >= 1e3) return (n / 1e3).toFixed(n >= 1e4 ? 0 : 1) + 'k';
    return String(n);
  }

  // Stack the points: sums[b][g] for each bucket.
  function stackUp(data) {
    const width = Math.max(1, Number(data.width) || 60);
    const from = Number(data.from), until = Number(data.until);
    const start = from - (((from % width) + width) % width);
    const n = Math.min(MAX_BUCKETS, Math.max(1, Math.ceil((until - start) / width)));
    const groups = Array.isArray(data.groups) ? data.groups.map(String) : [];
    const vals = groups.map(() => new Float64Array(n));
    for (const p of Array.isArray(data.points) ? data.points : []) {
      const b = Math.floor((Number(p[0]) - start) / width);
      const g = Number(p[1]);
      if (b >= 0 && b < n && g >= 0 && g < groups.length) vals[g][b] += Number(p[2]) || 0;
    }
    return { start, width, n, groups, vals };
  }

  // svg: the <svg> element; data: /api/v1/timeline; opts: {marks: [{from,
  // until, cls, label}], onSelect(from, until)}.  The range shown is
  // [data.from, data.until).
  function draw(svg, data, opts) {
    const W = Math.max(300, svg.parentNode.clientWidth);
    const from = Number(data.from), until = Number(data.until);
    svg.setAttribute('width', W);
    svg.setAttribute('height', HEIGHT);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + HEIGHT);
    const pw = W - M.left - M.right, ph = HEIGHT - M.top - M.bottom;
    // For tests and the drag: where the plot is and what it shows.
    svg.dataset.from = String(from);
    svg.dataset.until = String(until);
    svg.dataset.plotLeft = String(M.left);
    svg.dataset.plotWidth = String(pw);
    const x = (t) => M.left + (t - from) / (until - from) * pw;
    const s = stackUp(data);
    let max = 0;
    for (let b = 0; b < s.n; b++) {
      let sum = 0;
      for (const v of s.vals) sum += v[b];
      max = Math.max(max, sum);
    }
    const y = (v) => M.top + ph - (max ? v / max * ph : 0);
    svg.replaceChildren();
    el('rect', { x: M.left, y: M.top, width: pw, height: ph, class: 'plot' }, svg);
    // Axes: time ticks, and the biggest bucket.
    const span = until - from;
    const step = STEPS.find((st) => span / st <= Math.max(2, pw / 90)) || 604800;
    for (let t = Math.ceil(from / step) * step; t < until; t += step) {
      el('line', { x1: x(t), x2: x(t), y1: M.top, y2: M.top + ph, class: 'grid' }, svg);
      el('text', { x: x(t), y: HEIGHT - 6, class: 'tick', 'text-anchor': 'middle' }, svg)
        .textContent = tickLabel(t, step);
    }
    el('text', { x: M.left - 4, y: M.top + 10, class: 'tick', 'text-anchor': 'end' }, svg)
      .textContent = short(max);
    el('text', { x: M.left - 4, y: M.top + ph, class: 'tick', 'text-anchor': 'end' }, svg)
      .textContent = '0';
    // One step-shaped area per group, stacked.
    const under = new Float64Array(s.n);
    s.vals.forEach((v, g) => {
      let top = '', bottom = '';
      for (let b = 0; b < s.n; b++) {
        const t0 = Math.max(from, s.start + b * s.width), t1 = Math.min(until, s.start + (b + 1) * s.width);
        const hi = y(under[b] + v[b]), lo = y(under[b]);
        top += (b ? 'L' : 'M') + x(t0).toFixed(1) + ',' + hi.toFixed(1) + 'L' + x(t1).toFixed(1) + ',' + hi.toFixed(1);
        bottom = 'L' + x(t1).toFixed(1) + ',' + lo.toFixed(1) + 'L' + x(t0).toFixed(1) + ',' + lo.toFixed(1) + bottom;
        under[b] += v[b];
      }
      const p = el('path', { d: top + bottom + 'Z', fill: color(g), class: 'area' }, svg);
      el('title', {}, p).textContent = s.groups[g];
    });
    // Marks: the compare intervals.
    for (const m of opts.marks || []) {
      const a = Math.max(from, m.from), b = Math.min(until, m.until);
      if (!(b > a)) continue;
      el('rect', { x: x(a), y: M.top, width: Math.max(1, x(b) - x(a)), height: ph, class: 'mark ' + m.cls }, svg);
      el('text', { x: x(a) + 3, y: M.top + 12, class: 'mark-label ' + m.cls }, svg).textContent = m.label;
    }
    const sel = el('rect', { x: 0, y: M.top, width: 0, height: ph, class: 'drag hidden' }, svg);
    // Drag to select.
    const tAt = (clientX) => {
      const r = svg.getBoundingClientRect();
      const px = Math.min(Math.max(clientX - r.left, M.left), M.left + pw);
      return from + (px - M.left) / pw * (until - from);
    };
    let down = null;
    svg.onpointerdown = (e) => {
      if (e.button !== 0) return;
      down = { cx: e.clientX, t: tAt(e.clientX) };
      if (opts.onHover) opts.onHover(e, null);
      svg.setPointerCapture(e.pointerId);
      e.preventDefault();
    };
    svg.onpointermove = (e) => {
      if (!down) {
        if (opts.onHover) opts.onHover(e, bucketAt(e.clientX));
        return;
      }
      const a = x(down.t), b = x(tAt(e.clientX));
      sel.setAttribute('x', Math.min(a, b));
      sel.setAttribute('width', Math.abs(b - a));
      sel.setAttribute('class', 'drag');
    };
    svg.onpointerup = (e) => {
      if (!down) return;
      const d = down;
      down = null;
      sel.setAttribute('class', 'drag hidden');
      if (Math.abs(e.clientX - d.cx) < 4) return;
      const t0 = Math.floor(Math.min(d.t, tAt(e.clientX)));
      const t1 = Math.ceil(Math.max(d.t, tAt(e.clientX)));
      if (t1 > t0) opts.onSelect(t0, t1);
    };
    svg.onpointerleave = (e) => { if (opts.onHover) opts.onHover(e, null); };
    // The bucket under the mouse: its span and each group's samples.
    const bucketAt = (clientX) => {
      const r = svg.getBoundingClientRect();
      const px = clientX - r.left;
      if (px < M.left || px > M.left + pw) return null;
      const b = Math.floor((tAt(clientX) - s.start) / s.width);
      if (b < 0 || b >= s.n) return null;
      return {
        from: Math.max(from, s.start + b * s.width), until: Math.min(until, s.start + (b + 1) * s.width),
        groups: s.groups.map((name, g) => [name, s.vals[g][b]]),
      };
    };
    svg.onpointercancel = () => { down = null; sel.setAttribute('class', 'drag hidden'); };
    return s.groups.map((name, g) => {
      let total = 0;
      for (const v of s.vals[g]) total += v;
      return { name, color: color(g), samples: total };
    });
  }

  return { draw, color };
})();
