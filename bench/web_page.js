// bench/web_page.js PAGE_URL [RUNS] - how long the page of `pyspy-c web`
// takes to show a view, in Debian's Chromium (headless, playwright-core from
// tests/browser/node_modules): for each run a fresh page opens PAGE_URL and
// waits until the view is drawn and painted.  Prints one JSON object:
// per run, ms from navigation start to the answers being in and parsed
// (fetched), the flame graph's tree built (built), its elements made
// (flame), the functions table made (tables), everything drawn (drawn: the
// page's own performance marks), and painted (two animation frames later:
// style, layout and paint); each API request's time (request start to
// response end: server and transfer), its end and size; the number of
// flame graph elements.
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'tests', 'browser', 'node_modules', 'playwright-core'));

(async () => {
  const url = process.argv[2];
  const runs = Number(process.argv[3] || 3);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const out = { url, runs: [] };
  try {
    for (let i = 0; i < runs; i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 120000 });
      const r = await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => {
        const painted = performance.now();
        const mark = (p) => {
          const m = performance.getEntriesByType('mark').filter((e) => e.name.startsWith(p)).pop();
          return m ? Math.round(m.startTime) : null;
        };
        done({
          state: document.body.dataset.state,
          status: document.querySelector('[data-testid="status"]').textContent,
          fetched_ms: mark('pyspy:fetched-'),
          built_ms: mark('pyspy:built-'),
          flame_ms: mark('pyspy:flame-'),
          tables_ms: mark('pyspy:tables-'),
          drawn_ms: mark('pyspy:drawn-'),
          painted_ms: Math.round(painted),
          frames: document.querySelectorAll('[data-testid="frame"]').length,
          requests: performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).map((e) => ({
            api: new URL(e.name).pathname, ms: Math.round(e.responseEnd - e.startTime),
            end_ms: Math.round(e.responseEnd), bytes: e.decodedBodySize,
          })),
        });
      }))));
      r.errors = errors;
      out.runs.push(r);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})();
