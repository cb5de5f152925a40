// fleet.js - the processes the browser tests run against, all real:
//   alpha  pyenv 3.12 running workloads/shop.py (entry run_alpha)
//   beta   pyenv 3.11 running workloads/shop.py (entry run_beta)
//   evil   pyenv 3.12 running workloads/hostile.py (hostile frame names)
// one `pyspy-c serve` agent per process (host names alpha, beta, gamma;
// services shop, shop, hostile), `pyspy-c collect` polling them every second
// into a SQLite store in a temporary directory, and `pyspy-c web` on it.
// Both shop processes regress at `regressAt`, a minute boundary (the store's
// finest buckets are minutes): shop_render_invoice_slow runs only after it.
'use strict';
const assert = require('assert');
const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..');
const PYSPY_C = process.env.PYSPY_C || path.join(REPO, 'pyspy-c');
const LIFETIME = 300;   // seconds: the workloads end by themselves after this

function python(version) {
  const dir = '/root/.pyenv/versions';
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).filter((v) => v.startsWith(version + '.')) : [];
  assert.ok(found.length, `pyenv Python ${version} not found under ${dir} (the browser tests need it)`);
  const exe = path.join(dir, found.sort().pop(), 'bin', 'python' + version);
  assert.ok(fs.existsSync(exe), `${exe} not found`);
  return exe;
}

class Fleet {
  constructor() {
    this.procs = [];
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyspyc-browser-'));
    this.store = path.join(this.dir, 'fleet.db');
  }

  // Start a process; its output is kept (and in DIR/NAME.log for a failure).
  spawn(name, argv) {
    const p = cp.spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const rec = { name, p, out: '', err: '', exited: null };
    p.stdout.on('data', (d) => { rec.out += d; });
    p.stderr.on('data', (d) => { rec.err += d; });
    p.on('exit', (code, sig) => { rec.exited = sig || code; });
    p.on('error', (e) => { rec.err += String(e); rec.exited = 'spawn error'; });
    this.procs.push(rec);
    return rec;
  }

  async waitFor(rec, what, test, seconds) {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const v = test(rec);
      if (v) return v;
      if (rec.exited !== null) {
        throw new Error(`${rec.name} exited (${rec.exited}) before ${what}:\n${rec.out}\n${rec.err}`);
      }
      if (Date.now() > deadline) throw new Error(`${rec.name}: no ${what} after ${seconds} s:\n${rec.out}\n${rec.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async listening(rec) {
    const m = await this.waitFor(rec, 'listening line', (r) =>
      /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(r.err), 20);
    return Number(m[1]);
  }

  async start() {
    assert.ok(fs.existsSync(PYSPY_C), `${PYSPY_C} not found: build it with make`);
    // The regression moment: the next minute boundary at least 12 s away,
    // so the minute before it has samples of the old code only.
    const now = Date.now() / 1000;
    this.regressAt = Math.ceil((now + 12) / 60) * 60;
    this.started = Math.floor(now);
    const shop = path.join(__dirname, 'workloads', 'shop.py');
    const hostile = path.join(__dirname, 'workloads', 'hostile.py');
    const targets = [
      ['alpha', 'shop', [python('3.12'), shop, 'run_alpha', String(this.regressAt), String(LIFETIME)]],
      ['beta', 'shop', [python('3.11'), shop, 'run_beta', String(this.regressAt), String(LIFETIME)]],
      ['gamma', 'hostile', [python('3.12'), hostile, String(LIFETIME)]],
    ];
    const agents = [];
    for (const [host, service, argv] of targets) {
      const w = this.spawn('workload ' + host, argv);
      await this.waitFor(w, '"ready"', (r) => r.out.includes('ready'), 20);
      const a = this.spawn('agent ' + host, [PYSPY_C, 'serve', '--pid', String(w.p.pid), '--window', '1',
        '--retention', '600', '--listen', '127.0.0.1:0']);
      agents.push(`127.0.0.1:${await this.listening(a)} service=${service} host=${host}`);
    }
    const argv = [PYSPY_C, 'collect', '--store', this.store, '--interval', '1'];
    for (const a of agents) argv.push('--agent', a);
    this.collector = this.spawn('collect', argv);
    await this.waitFor(this.collector, 'store', () => fs.existsSync(this.store), 20);
    this.web = this.spawn('web', [PYSPY_C, 'web', '--store', this.store, '--listen', '127.0.0.1:0']);
    this.url = `http://127.0.0.1:${await this.listening(this.web)}/`;
  }

  async api(p) {
    const r = await fetch(new URL(p, this.url));
    const text = await r.text();
    assert.strictEqual(r.status, 200, `GET ${p}: ${r.status} ${text}`);
    return JSON.parse(text);
  }

  // Until the store has samples of every service since `since`.
  async samplesSince(since, seconds) {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const s = await this.api(`/api/v1/series?from=${since}&until=${since + 3600}`);
      const names = new Set((s.services || []).filter((x) => x.samples > 0).map((x) => x.name));
      if (names.has('shop') && names.has('hostile') && (s.hosts || []).length >= 3) return s;
      if (Date.now() > deadline) throw new Error(`no samples of every agent since ${since}: ${JSON.stringify(s)}`);
      this.checkAlive();
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  checkAlive() {
    for (const r of this.procs) {
      if (r.exited !== null) throw new Error(`${r.name} exited (${r.exited}):\n${r.out}\n${r.err}`);
    }
  }

  // The agents first (SIGINT: they detach from their targets), then the
  // rest; every process by its own pid.
  async stop() {
    const order = ['web', 'collect', 'agent', 'workload'];
    for (const kind of order) {
      const recs = this.procs.filter((r) => r.name.split(' ')[0] === kind && r.exited === null);
      for (const r of recs) r.p.kill(kind === 'agent' ? 'SIGINT' : 'SIGTERM');
      const deadline = Date.now() + 10000;
      while (recs.some((r) => r.exited === null) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
      }
      for (const r of recs) if (r.exited === null) r.p.kill('SIGKILL');
    }
    for (const r of this.procs) fs.writeFileSync(path.join(this.dir, r.name.replace(' ', '-') + '.log'), r.out + r.err);
    if (!process.env.PYSPY_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { Fleet };
