// flame.js - the flame graph: a tree built from /api/v1/flamegraph's stacks,
// drawn as absolutely placed <div> boxes (root at the top), with zoom, search,
// the functions table's aggregates and the diff of two trees.
//
// Frame names and file names come from the profiled programs: they only ever
// reach the DOM as text (textContent), never as markup.
'use strict';

const Flame = (function () {
  const ROW = 18;          // px per row
  // px: narrower boxes (and their children) are not drawn.  A box is drawn
  // 1 px narrower than its share (the gap between neighbours): under 2 px
  // nothing of it would show, and a day of a fleet has thousands of those.
  const MIN_WIDTH = 2;
  // px: narrower boxes are 'thin': no text (no room for a character inside
  // the padding; the text of thousands of thin boxes was most of the page's
  // layout time) and no padding (which would widen them past their share).
  const MIN_TEXT = 10;
  const MAX_DEPTH = 4096;  // a stack deeper than this is cut (the server bounds it already)

  // The frame's identity across requests (indices are per response): also
  // the element of a zoom path in the page URL.
  function frameKey(name, file, line) {
    return file ? name + '@' + file + ':' + line : name;
  }

  // fn: the function's identity (name and file, any line), for the table.
  function newNode(key, name, file, line, fn, parent) {
    return {
      key, name, file, line, fn, parent,
      depth: parent ? parent.depth + 1 : 0,
      total: 0, self: 0, children: new Map(),
      base: 0,       // diff: the same path's total in the "before" tree
      hit: false,    // search: this node matches
    };
  }

  // data: the JSON of /api/v1/flamegraph.  Malformed entries are skipped.
  function build(data) {
    const frames = Array.isArray(data.frames) ? data.frames : [];
    // Per frame, once: its texts and keys (a frame is in many stacks).
    const info = frames.map((f) => {
      if (!Array.isArray(f)) return null;
      const name = String(f[0]), file = String(f[1] || ''), line = Number(f[2]) || 0;
      return { key: frameKey(name, file, line), name, file, line, fn: name + '\u0000' + file };
    });
    const root = newNode('', 'all', '', 0, 'all\u0000', null);
    for (const st of Array.isArray(data.stacks) ? data.stacks : []) {
      if (!Array.isArray(st) || !Array.isArray(st[1])) continue;
      const count = Number(st[0]);
      if (!(count > 0)) continue;
      let n = root;
      n.total += count;
      const idx = st[1];
      for (let j = 0; j < idx.length && j < MAX_DEPTH; j++) {
        const f = info[idx[j]];
        if (!f) continue;
        let c = n.children.get(f.key);
        if (!c) {
          c = newNode(f.key, f.name, f.file, f.line, f.fn, n);
          n.children.set(f.key, c);
        }
        c.total += count;
        n = c;
      }
      n.self += count;
    }
    return root;
  }

  function path(node) {
    const keys = [];
    for (let n = node; n && n.parent; n = n.parent) keys.push(n.key);
    return keys.reverse();
  }

  // The deepest node along a path of keys (a path from another range may
  // stop matching part way).
  function find(root, keys) {
    let n = root;
    for (const k of keys) {
      const c = n.children.get(k);
      if (!c) break;
      n = c;
    }
    return n;
  }

  // diff: for each node of `after`, `base` = the total of the same path in
  // `before`; totals become shares to compare ranges of different sizes.
  function attachBase(after, before) {
    const walk = (a, b) => {
      a.base = b ? b.total : 0;
      for (const [k, c] of a.children) walk(c, b ? b.children.get(k) : undefined);
    };
    walk(after, before);
    after.baseTotal = before.total;
  }

  // The change of a node's share: after - before, in [-1, 1].
  function change(node, root) {
    const b = root.total ? node.total / root.total : 0;
    const a = root.baseTotal ? node.base / root.baseTotal : 0;
    return b - a;
  }

  function maxChange(root) {
    let m = 0;
    const walk = (n) => {
      m = Math.max(m, Math.abs(change(n, root)));
      for (const c of n.children.values()) walk(c);
    };
    walk(root);
    return m;
  }

  // Search: mark matching nodes; returns the samples under a match (a match
  // inside another one is counted once).
  function search(root, query) {
    const q = query.toLowerCase();
    let matched = 0;
    const walk = (n, inside) => {
      n.hit = q !== '' && n.parent !== null &&
        (n.name.toLowerCase().includes(q) || n.file.toLowerCase().includes(q));
      if (n.hit && !inside) matched += n.total;
      for (const c of n.children.values()) walk(c, inside || n.hit);
    };
    walk(root, false);
    return matched;
  }

  // Functions (name and file, any line): own samples, and total samples
  // counted once per stack (recursion does not count twice).
  function functions(root) {
    const m = new Map();
    const onPath = new Map();
    const walk = (n) => {
      const k = n.fn;
      let f = m.get(k);
      if (!f) { f = { key: k, name: n.name, file: n.file, self: 0, total: 0 }; m.set(k, f); }
      f.self += n.self;
      const depth = onPath.get(k) || 0;
      if (depth === 0) f.total += n.total;
      onPath.set(k, depth + 1);
      for (const c of n.children.values()) walk(c);
      onPath.set(k, depth);
    };
    for (const c of root.children.values()) walk(c);
    return Array.from(m.values());
  }

  // Colours.  Normal: warm hues hashed from the name (labels grey).  Diff:
  // red grew, blue shrank (colour-blind-safe: orange and purple), by the
  // change normalised to the biggest one.
  function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return h >>> 0;
  }

  function normalColor(node) {
    if (!node.parent) return 'hsl(0, 0%, 82%)';
    if (!node.file) return 'hsl(0, 0%, 72%)';
    const h = hash(node.name);
    return 'hsl(' + (h % 50 + 5) + ', ' + (70 + (h >> 8) % 25) + '%, ' + (58 + (h >> 16) % 14) + '%)';
  }

  const PALETTES = {
    normal: { grew: [215, 48, 39], shrank: [49, 104, 176] },
    cb: { grew: [230, 97, 1], shrank: [94, 60, 153] },
  };
  const NEUTRAL = [228, 228, 228];

  // t in [-1, 1]
  function diffColor(t, cb) {
    const p = cb ? PALETTES.cb : PALETTES.normal;
    const to = t >= 0 ? p.grew : p.shrank;
    const a = Math.min(1, Math.abs(t));
    const mix = (i) => Math.round(NEUTRAL[i] + (to[i] - NEUTRAL[i]) * a);
    return 'rgb(' + mix(0) + ', ' + mix(1) + ', ' + mix(2) + ')';
  }

  // Draw `root` (zoomed to `zoom`, a node of it) into `el`.
  // opts: {diff, cb}.  Returns the drawn nodes (element i <-> nodes[i]).
  function render(el, root, zoom, opts) {
    const width = Math.max(100, el.clientWidth);
    const nodes = [];
    const frag = document.createDocumentFragment();
    const scale = opts.diff ? maxChange(root) || 1 : 1;
    const searching = opts.searching;
    let maxRow = 0;
    const box = (n, x, w, cls) => {
      const d = document.createElement('div');
      const thin = w < MIN_TEXT;
      d.className = 'frame' + (cls ? ' ' + cls : '') + (n.hit ? ' hit' : '') +
        (searching && !n.hit ? ' dim' : '') + (thin ? ' thin' : '');
      d.setAttribute('data-testid', 'frame');
      d.setAttribute('data-i', String(nodes.length));
      // One style text, not four properties (each would be parsed apart).
      d.style.cssText = 'left:' + x + 'px;width:' + Math.max(0, w - 1) + 'px;top:' + n.depth * ROW +
        'px;background:' + (opts.diff ? diffColor(change(n, root) / scale, opts.cb) : normalColor(n));
      if (!thin) d.textContent = n.name;
      nodes.push(n);
      frag.appendChild(d);
      maxRow = Math.max(maxRow, n.depth);
    };
    // The zoomed node's ancestors: full width, faded.
    for (let a = zoom.parent; a; a = a.parent) box(a, 0, width, 'ancestor');
    const stack = [[zoom, 0, width]];
    while (stack.length) {
      const [n, x, w] = stack.pop();
      box(n, x, w, '');
      if (!n.total) continue;
      let cx = x;
      const kids = Array.from(n.children.values()).sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : p.key < q.key ? -1 : 1));
      for (const c of kids) {
        const cw = w * c.total / n.total;
        if (cw >= MIN_WIDTH) stack.push([c, cx, cw]);
        cx += cw;
      }
    }
    el.replaceChildren(frag);
    el.style.height = (maxRow + 1) * ROW + 'px';
    return nodes;
  }

  return { build, path, find, attachBase, change, search, functions, render, diffColor, frameKey };
})();
