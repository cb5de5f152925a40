// browser_check.js OUT_DIR SVG SEARCH ZOOM SPEEDSCOPE_JSON CHROME_TRACE_JSON
//
// Opens pyspy-c's outputs in Debian's Chromium (headless, driven by
// playwright-core, one browser for everything, a fresh profile directory,
// no network), uses them as a person would, and prints what it saw as one
// JSON object {svg: ..., speedscope: ..., chrometrace: ...}.
//
// svg: the flame graph SVG opened as a page:
//   rendered   frames drawn (g.f), and the root frame's box
//   hover      the details line after hovering the first frame named ZOOM
//   search     frames highlighted after typing SEARCH, and the "matched" line
//   zoom       after clicking the frame named ZOOM: that frame, and which
//              frames stayed visible
//   reset      whether "Reset zoom" restored the first render
//   errors, requests   page errors, and any request not for a file: URL
// speedscope, chrometrace: the speedscope app of the speedscope npm
//   package (which reads its own format and Chrome's trace events), the
//   file imported through its file input:
//   title, header  the page title and the profile header ("NAME (1/2)")
//   errors         page errors and console errors
//   warnings       console warnings (the trace importer warns about
//                  slices that do not nest)
// Screenshots in OUT_DIR: flamegraph.png (whole graph, as opened),
// flamegraph-search-zoom.png (searched and zoomed), speedscope.png,
// chrometrace-in-speedscope.png.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function checkSvg(page, svgPath, shotDir, searchTerm, zoomName) {
  const out = { errors: [], requests: [] };
  page.on('pageerror', (e) => out.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push('console: ' + m.text()); });
  // Everything must come from the file itself.
  page.on('request', (r) => { if (!r.url().startsWith('file://')) out.requests.push(r.url()); });
  await page.goto('file://' + path.resolve(svgPath));
  await page.waitForFunction(() => window.pyspyFlame !== undefined, null, { timeout: 10000 });

  const frames = () => page.evaluate(() => window.pyspyFlame.frames.map((f) => ({
    name: f.name,
    x: +f.r.getAttribute('x'),
    w: +f.r.getAttribute('width'),
    hidden: f.g.classList.contains('hide') || getComputedStyle(f.g).display === 'none',
    hit: f.g.classList.contains('hit'),
    label: f.t.textContent,
  })));
  // A screenshot of the whole graph: the viewport as large as the SVG
  // (playwright's fullPage mode measures an HTML body, which an SVG
  // document has not).
  const size = await page.evaluate(() => ({
    w: +document.documentElement.getAttribute('width'),
    h: +document.documentElement.getAttribute('height'),
  }));
  await page.setViewportSize({ width: Math.ceil(size.w), height: Math.min(Math.ceil(size.h), 4000) });
  const first = await frames();
  const rootBox = await page.locator('g.f').first().locator('rect').boundingBox();
  out.rendered = { count: first.length, root: rootBox, frames: first };
  await page.screenshot({ path: path.join(shotDir, 'flamegraph.png') });

  // Hover: the details line names the frame and its share.
  const target = page.locator('g.f', { has: page.locator('title', { hasText: zoomName }) }).first();
  await target.hover();
  out.hover = await page.locator('#details').textContent();

  // Search: type into the box like a user.
  await page.locator('#search').click();
  await page.keyboard.type(searchTerm);
  const searched = await frames();
  out.search = {
    hits: searched.filter((f) => f.hit).map((f) => f.name),
    matched: await page.locator('#matched').textContent(),
  };

  // Zoom: click the frame.
  await target.click();
  const zoomed = await frames();
  out.zoom = {
    target: zoomed.find((f) => f.name.startsWith(zoomName + ' ') && !f.hidden) || null,
    visible: zoomed.filter((f) => !f.hidden).map((f) => ({ name: f.name, x: f.x, w: f.w })),
  };
  await page.screenshot({ path: path.join(shotDir, 'flamegraph-search-zoom.png') });

  // Reset: the link in the header.
  await page.locator('#reset').click();
  const reset = await frames();
  out.reset = {
    same: reset.length === first.length &&
      reset.every((f, i) => Math.abs(f.x - first[i].x) < 1e-6 && Math.abs(f.w - first[i].w) < 1e-6 && !f.hidden),
  };
  return out;
}

async function checkSpeedscope(page, file, shot) {
  const out = { errors: [], warnings: [] };
  page.on('pageerror', (e) => out.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') out.errors.push('console: ' + m.text());
    // (WebGL driver chatter from the software renderer is not about the file.)
    if (m.type() === 'warning' && !/GL Driver Message|WebGL/.test(m.text())) out.warnings.push(m.text());
  });
  const app = path.join(path.dirname(require.resolve('speedscope/package.json')),
    'dist', 'release', 'index.html');
  await page.setViewportSize({ width: 1200, height: 800 });
  await page.goto('file://' + app);
  await page.locator('input[type=file]').setInputFiles(path.resolve(file));
  // Loaded: the page title becomes "NAME - speedscope".
  await page.waitForFunction(() => / - speedscope$/.test(document.title), null, { timeout: 20000 });
  out.title = await page.title();
  out.header = await page.evaluate(() => document.body.innerText);
  await page.screenshot({ path: shot });
  return out;
}

async function main() {
  const [shotDir, svgPath, searchTerm, zoomName, speedscopePath, tracePath] = process.argv.slice(2);
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyspy-chromium-'));
  const ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1200, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = {};
  try {
    out.svg = await checkSvg(await ctx.newPage(), svgPath, shotDir, searchTerm, zoomName);
    out.speedscope = await checkSpeedscope(await ctx.newPage(), speedscopePath,
      path.join(shotDir, 'speedscope.png'));
    out.chrometrace = await checkSpeedscope(await ctx.newPage(), tracePath,
      path.join(shotDir, 'chrometrace-in-speedscope.png'));
  } finally {
    await ctx.close();
    fs.rmSync(profileDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
