// web.test.js - the page of `pyspy-c web` in Debian's Chromium (headless,
// driven by playwright-core), against the real fleet of fleet.js: agents
// profiling real interpreters, a collector, a SQLite store and the web
// server.  The tests run in order and share one fleet and one browser; the
// compare test waits for the workload's regression moment (a minute
// boundary), the others run before it.  Any console error or page error
// fails the test it happened in; dialogs (alert) fail the run.
// Screenshots go to tests/browser/artifacts/.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { test, before, after, afterEach } = require('node:test');
const { chromium } = require('playwright-core');
const { Fleet } = require('./fleet');

const ARTIFACTS = path.join(__dirname, 'artifacts');
const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>'];

let fleet, browser, context, page;
const problems = [];   // console errors, page errors, dialogs, foreign requests

function watch(p) {
  p.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  p.on('pageerror', (e) => problems.push('page error: ' + e.message));
  p.on('dialog', (d) => { problems.push('dialog: ' + d.message()); d.dismiss().catch(() => {}); });
  p.on('request', (r) => {
    if (!r.url().startsWith(fleet.url) && !r.url().startsWith('data:')) problems.push('request off the server: ' + r.url());
  });
  return p;
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (tests/deps test)`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fleet = new Fleet();
  await fleet.start();
  await fleet.samplesSince(fleet.started, 40);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = watch(await context.newPage());
});

after(async () => {
  if (browser) await browser.close();
  if (fleet) await fleet.stop();
});

afterEach(() => {
  const p = problems.splice(0);
  assert.deepStrictEqual(p, [], 'the page reported problems');
});

// ---- helpers -----------------------------------------------------------------

const tid = (id) => `[data-testid="${id}"]`;

async function renders(p) {
  return Number(await p.getAttribute('body', 'data-renders'));
}

// Do `action`, then wait until the page has loaded and drawn once more.
async function settled(p, action) {
  const n = await renders(p);
  await action();
  await p.waitForFunction((k) => Number(document.body.dataset.renders) > k && document.body.dataset.state !== 'loading',
    n, { timeout: 20000 });
  const state = await p.getAttribute('body', 'data-state');
  assert.strictEqual(state, 'ready', 'status: ' + await p.textContent(tid('status')));
}

async function open(p, query) {
  await p.goto(fleet.url + (query || ''));
  await p.waitForFunction(() => Number(document.body.dataset.renders) > 0 && document.body.dataset.state !== 'loading',
    null, { timeout: 20000 });
  const state = await p.getAttribute('body', 'data-state');
  assert.strictEqual(state, 'ready', 'status: ' + await p.textContent(tid('status')));
}

async function frameNames(p) {
  return p.$$eval(tid('frame'), (els) => els.map((e) => e.textContent));
}

// The x of time t on the timeline, in page coordinates.
async function timelineX(p, t) {
  const box = await p.locator(tid('timeline')).boundingBox();
  const d = await p.$eval(tid('timeline'), (s) => Object.assign({}, s.dataset));
  const x = box.x + Number(d.plotLeft) + (t - Number(d.from)) / (Number(d.until) - Number(d.from)) * Number(d.plotWidth);
  return { x, y: box.y + box.height / 2, d };
}

async function drag(p, t0, t1) {
  const a = await timelineX(p, t0);
  const b = await timelineX(p, t1);
  await settled(p, async () => {
    await p.mouse.move(a.x, a.y);
    await p.mouse.down();
    await p.mouse.move((a.x + b.x) / 2, a.y, { steps: 4 });
    await p.mouse.move(b.x, b.y, { steps: 4 });
    await p.mouse.up();
  });
}

function query(p) {
  return new URL(p.url()).searchParams;
}

const frame = (p, name) => p.locator(tid('frame'), { hasText: name }).filter({ hasText: new RegExp('^' + name + '$') }).first();

// ---- the tests ----------------------------------------------------------------

test('the page loads: timeline stacked by service, tier, flame graph of the workload', async () => {
  await open(page, '');
  await settled(page, () => page.click(tid('preset-15m')));
  assert.strictEqual(query(page).get('from'), '-15m');
  const areas = await page.$$eval(tid('timeline') + ' path.area', (ps) => ps.map((e) => e.querySelector('title').textContent));
  assert.deepStrictEqual(areas.sort(), ['hostile', 'shop']);
  assert.match(await page.textContent(tid('tier')), /1m/);
  assert.match(await page.textContent(tid('range-label')), /\(15m\)/);
  const names = await frameNames(page);
  for (const fn of ['shop_handle_request', 'shop_parse_order', 'shop_checkout', 'run_alpha', 'run_beta']) {
    assert.ok(names.includes(fn), `${fn} not in the flame graph: ${names.join(', ')}`);
  }
  assert.match(await page.textContent(tid('status')), /samples/);
  // Hover on the chart: the bucket's time and samples per service.
  const tl = await fleet.api('/api/v1/timeline?from=-15m&until=now&group=service');
  const busiest = tl.points.reduce((a, b) => (b[2] > a[2] ? b : a));
  const shown = await page.$eval(tid('timeline'), (e) => [Number(e.dataset.from), Number(e.dataset.until)]);
  const at = await timelineX(page, Math.max(shown[0] + 1, Math.min(busiest[0] + tl.width / 2, shown[1] - 2)));
  await page.mouse.move(at.x, at.y);
  const tip = await page.innerText(tid('tooltip'));
  assert.match(tip, /\d\d:\d\d:\d\d \((1m|\d+s)\)\n((hostile|shop): [1-9][\d,]* samples\n)+all: [1-9][\d,]* samples$/);
  await page.mouse.move(0, 0);
  await page.locator('.timeline-box').screenshot({ path: path.join(ARTIFACTS, 'timeline.png') });
});

test('dragging on the timeline selects that range', async () => {
  const t0 = fleet.started - 30;
  const t1 = Math.floor(Date.now() / 1000) - 1;
  await drag(page, t0, t1);
  const q = query(page);
  assert.ok(Math.abs(Number(q.get('from')) - t0) <= 5, `from ${q.get('from')} not near ${t0}`);
  assert.ok(Math.abs(Number(q.get('until')) - t1) <= 5, `until ${q.get('until')} not near ${t1}`);
  const d = await page.$eval(tid('timeline'), (s) => Object.assign({}, s.dataset));
  assert.strictEqual(d.from, q.get('from'), 'the timeline shows the range selected');
  const names = await frameNames(page);
  assert.ok(names.includes('shop_checkout') && names.includes('shop_parse_order'), names.join(', '));
  await page.locator(tid('flamegraph')).screenshot({ path: path.join(ARTIFACTS, 'flamegraph.png') });
});

test('hover shows function, file:line, samples and share', async () => {
  await frame(page, 'shop_checkout').hover();
  const tip = await page.locator(tid('tooltip'));
  await tip.waitFor({ state: 'visible' });
  const text = await tip.innerText();
  assert.match(text, /^shop_checkout\n/);
  assert.match(text, /shop\.py:\d+/);
  assert.match(text, /[\d,]+ samples, \d+(\.\d+)?%/);
});

test('search highlights the matches and shows the share matched', async () => {
  await page.fill(tid('search'), 'checkout');
  await page.waitForFunction(() => /matched/.test(document.querySelector('[data-testid="search-share"]').textContent));
  const share = await page.textContent(tid('search-share'));
  const m = /^(\d+(?:\.\d+)?)% matched/.exec(share);
  assert.ok(m && Number(m[1]) > 0 && Number(m[1]) < 100, share);
  const hits = await page.$$eval(tid('frame') + '.hit', (els) => els.map((e) => e.textContent));
  assert.ok(hits.length >= 1 && hits.every((h) => h === 'shop_checkout'), hits.join(', '));
  assert.strictEqual(query(page).get('q'), 'checkout');
  await page.fill(tid('search'), '');
  await page.waitForFunction(() => document.querySelector('[data-testid="search-share"]').textContent === '');
});

test('click zooms into a frame, reset goes back', async () => {
  const graph = await page.locator(tid('flamegraph')).boundingBox();
  const target = frame(page, 'run_beta');
  const before = await target.boundingBox();
  assert.ok(before.width < graph.width * 0.9, 'run_beta is not the whole graph before zooming');
  await target.click();
  const after = await frame(page, 'run_beta').boundingBox();
  assert.ok(after.width > graph.width * 0.95, `run_beta fills the width after zooming (${after.width} of ${graph.width})`);
  assert.ok(!(await frameNames(page)).includes('run_alpha'), 'run_alpha hidden when zoomed into run_beta');
  assert.match(query(page).get('zoom'), /run_beta@.*shop\.py:\d+$/);
  await page.click(tid('reset-zoom'));
  assert.ok((await frameNames(page)).includes('run_alpha'));
  assert.strictEqual(query(page).get('zoom'), null);
});

test('functions table: sortable, a row searches the graph', async () => {
  const rows = () => page.$$eval(tid('function-row'), (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const byOwn = await rows();
  const own = byOwn.map((r) => parseFloat(r[2]));
  assert.deepStrictEqual(own, [...own].sort((a, b) => b - a), 'sorted by own share first');
  await page.click(tid('functions-table') + ' th[data-sort="total"]');
  const total = (await rows()).map((r) => parseFloat(r[3]));
  assert.deepStrictEqual(total, [...total].sort((a, b) => b - a), 'sorted by total share');
  await page.click(tid('functions-table') + ' th[data-sort="self"]');
  await page.locator(tid('function-row'), { hasText: 'shop_parse_order' }).first().click();
  assert.strictEqual(await page.inputValue(tid('search')), 'shop_parse_order');
  const hits = await page.$$eval(tid('frame') + '.hit', (els) => els.map((e) => e.textContent));
  assert.ok(hits.length >= 1 && hits.every((h) => h === 'shop_parse_order'), hits.join(', '));
  await page.fill(tid('search'), '');
});

test('filter by host, with counts', async () => {
  const options = await page.$$eval(tid('filter-host') + ' option', (os) => os.map((o) => [o.value, o.textContent]));
  for (const h of ['alpha', 'beta', 'gamma']) {
    const o = options.find((x) => x[0] === h);
    assert.ok(o && /\([\d,]+\)$/.test(o[1]), `host ${h} with a count: ${JSON.stringify(options)}`);
  }
  await settled(page, () => page.selectOption(tid('filter-host'), 'beta'));
  assert.strictEqual(query(page).get('host'), 'beta');
  const names = await frameNames(page);
  assert.ok(names.includes('run_beta') && !names.includes('run_alpha'), names.join(', '));
  assert.ok(!names.includes(HOSTILE[0]), 'the hostile process is on another host');
  await settled(page, () => page.selectOption(tid('group'), 'host'));
  const areas = await page.$$eval(tid('timeline') + ' path.area', (ps) => ps.map((e) => e.querySelector('title').textContent));
  assert.deepStrictEqual(areas, ['beta']);
});

test('the copied link reloads the same view', async () => {
  await frame(page, 'shop_handle_request').click();
  await page.fill(tid('search'), 'parse');
  await page.waitForFunction(() => /matched/.test(document.querySelector('[data-testid="search-share"]').textContent));
  await page.waitForFunction(() => new URL(location.href).searchParams.get('q') === 'parse');
  await page.click(tid('copy-link'));
  const link = await page.inputValue(tid('link-url'));
  assert.strictEqual(link, page.url());
  const seen = async (p) => ({
    range: await p.textContent(tid('range-label')),
    host: await p.inputValue(tid('filter-host')),
    group: await p.inputValue(tid('group')),
    search: await p.inputValue(tid('search')),
    matched: /% matched/.test(await p.textContent(tid('search-share'))),
    zoom: new URL(p.url()).searchParams.get('zoom'),
    // Frames wide enough not to come and go with the samples still arriving
    // for the range's last minute.
    frames: (await p.$$eval(tid('frame'), (els) => els.filter((e) => e.offsetWidth > 60)
      .map((e) => e.textContent))).sort(),
  });
  const want = await seen(page);
  const other = watch(await context.newPage());
  await open(other, link.slice(fleet.url.length));
  assert.deepStrictEqual(await seen(other), want);
  assert.strictEqual(other.url(), link);
  await other.close();
});

test('hostile frame names show as text, nothing runs, nothing is injected', async () => {
  const p = watch(await context.newPage());
  await open(p, '?from=-15m&service=hostile');
  const names = await frameNames(p);
  for (const h of HOSTILE) assert.ok(names.includes(h), `${h} shown as a frame's text: ${names.join(' | ')}`);
  const rows = await p.$$eval(tid('function-row'), (trs) => trs.map((tr) => tr.cells[0].textContent));
  for (const h of HOSTILE) assert.ok(rows.includes(h), `${h} in the functions table`);
  const files = await p.$$eval(tid('function-row'), (trs) => trs.map((tr) => tr.cells[1].textContent));
  assert.ok(files.includes('<img src=x onerror=alert(2)>.py'), files.join(' | '));
  await p.locator(tid('frame'), { hasText: HOSTILE[1] }).first().hover();
  assert.match(await p.innerText(tid('tooltip')), /^"><img src=x onerror=alert\(1\)>\n<img src=x onerror=alert\(2\)>\.py:\d+/);
  await p.fill(tid('search'), '<script>');
  await p.waitForFunction(() => /matched/.test(document.querySelector('[data-testid="search-share"]').textContent));
  const injected = await p.evaluate(() => ({
    imgs: document.querySelectorAll('img').length,
    scripts: [...document.scripts].map((s) => s.getAttribute('src')),
    onerror: document.querySelectorAll('[onerror]').length,
  }));
  assert.deepStrictEqual(injected, { imgs: 0, scripts: ['/assets/flame.js', '/assets/timeline.js', '/assets/app.js'], onerror: 0 });
  await p.waitForTimeout(300);   // an injected handler would have fired by now
  await p.close();
});

test('compare before and after the regression: the new function first, in red', async () => {
  // Samples of a whole second after the moment, collected.
  const ra = fleet.regressAt;
  while (Date.now() / 1000 < ra + 6) await new Promise((r) => setTimeout(r, 250));
  await fleet.samplesSince(ra, 20);
  await open(page, '?from=' + (fleet.started - 60) + '&until=now');
  await settled(page, () => page.check(tid('compare-toggle')));
  assert.strictEqual(query(page).get('cmp'), '1');
  await page.check(tid('pick-a'));
  await drag(page, Math.max(fleet.started, ra - 55), ra - 3);
  assert.ok(await page.isChecked(tid('pick-b')), 'the next drag sets B');
  await drag(page, ra + 2, Math.floor(Date.now() / 1000) - 1);
  const q = query(page);
  assert.ok(Number(q.get('a_until')) < ra && Number(q.get('b_from')) > ra, q.toString());
  const first = page.locator(tid('diff-row')).first();
  assert.strictEqual(await first.locator('td.name').textContent(), 'shop_render_invoice_slow');
  assert.strictEqual(await first.getAttribute('data-change'), 'grew');
  const rgb = (s) => s.match(/\d+/g).map(Number);
  const [r, g, b] = rgb(await first.locator('td.name').evaluate((e) => getComputedStyle(e).color));
  assert.ok(r > 150 && r > g + 80 && r > b + 80, `red text: ${r},${g},${b}`);
  const [fr, fg, fb] = rgb(await frame(page, 'shop_render_invoice_slow').evaluate((e) => getComputedStyle(e).backgroundColor));
  assert.ok(fr > fb + 60 && fr > fg + 60, `the new frame is red in the diff flame graph: ${fr},${fg},${fb}`);
  assert.match(await page.textContent(tid('diff-legend')), /grew/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'diff.png'), fullPage: true });
  // Colour-blind-safe palette: orange for grew.
  await page.check(tid('colorblind-toggle'));
  assert.strictEqual(query(page).get('cb'), '1');
  const [cr, cg, cb] = rgb(await frame(page, 'shop_render_invoice_slow').evaluate((e) => getComputedStyle(e).backgroundColor));
  assert.ok(cr > cb + 60 && cg > cb, `orange: ${cr},${cg},${cb}`);
  // The same view from its link.
  await page.click(tid('copy-link'));
  const link = await page.inputValue(tid('link-url'));
  const other = watch(await context.newPage());
  await open(other, link.slice(fleet.url.length));
  assert.strictEqual(await other.locator(tid('diff-row')).first().locator('td.name').textContent(), 'shop_render_invoice_slow');
  assert.ok(await other.isChecked(tid('colorblind-toggle')));
  await other.close();
});

test('downloads link the selection in three formats, errors show the server\u2019s text', async () => {
  for (const fmt of ['folded', 'pprof', 'speedscope']) {
    const href = await page.getAttribute(tid('download-' + fmt), 'href');
    const u = new URL(href, fleet.url);
    assert.strictEqual(u.searchParams.get('format'), fmt);
    const r = await fetch(u);
    assert.strictEqual(r.status, 200, `${href}: ${r.status}`);
    assert.match(r.headers.get('content-disposition') || '', /attachment/);
  }
  const folded = await (await fetch(new URL(await page.getAttribute(tid('download-folded'), 'href'), fleet.url))).text();
  assert.match(folded, /shop_render_invoice_slow/);
  // An empty range: said so, with what the store holds.
  const e = watch(await context.newPage());
  await open(e, '?from=-7d&until=-6d');
  assert.match(await e.textContent(tid('status')), /^no samples in this range \(the store holds \d{4}-\d\d-\d\d /);
  assert.strictEqual(await e.locator(tid('frame')).count(), 1, 'only the root frame');
  await e.close();
  // A range the server refuses: its one line in the status.
  const p = watch(await context.newPage());
  await p.goto(fleet.url + '?from=now&until=-1h');
  await p.waitForFunction(() => document.body.dataset.state === 'error');
  assert.match(await p.textContent(tid('status')), /^server: 400 \S/);
  // The browser logs the failed request as a console error: expected here.
  problems.splice(0).forEach((m) => assert.match(m, /status of 400/));
  await p.close();
});
