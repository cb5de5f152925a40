/*
 * pace.c - the agent's overhead budget (--max-overhead PERCENT).
 *
 * Two costs are measured over PACE_EVAL_NS of wall time:
 *   cpu      the agent's own CPU time (every thread: sampling, HTTP,
 *            /proc scans) as a share of the host's CPU time (wall time x
 *            online CPUs);
 *   stopped  the share of wall time an average target spends stopped for
 *            samples: the mean stop per process-sample times the rate.
 * When either passes the budget, the rate goes down in proportion (with a
 * 10% margin); when both are under half the budget and the rate is below
 * the one asked, it goes back up by half at most, never above --rate and
 * never below PACE_MIN_HZ.  Pure: the caller reads the clocks, so this is
 * unit tested with made-up figures (tests/unit/test_pace.c).
 */
#include "serve_internal.h"

#include <stdio.h>
#include <string.h>

void pace_init(struct pace *p, double asked, double budget, int ncpu)
{
	memset(p, 0, sizeof(*p));
	p->asked = p->rate = asked;
	p->budget = budget;
	p->ncpu = ncpu > 0 ? ncpu : 1;
	p->reason = "";
}

static const char *fmt_rate(char *buf, size_t cap, double hz)
{
	snprintf(buf, cap, hz < 10 ? "%.1f" : "%.0f", hz);
	return buf;
}

double pace_step(struct pace *p, int64_t wall_ns, int64_t cpu_ns, uint64_t stopped_ns,
		 uint64_t proc_samples, char *why, size_t cap)
{
	double dwall, dcpu, over, next;
	uint64_t dstop, dsamples;
	char a[32], b[32];

	if (why && cap)
		why[0] = '\0';
	if (!p->started) {
		p->started = true;
		p->wall0 = wall_ns;
		p->cpu0 = cpu_ns;
		p->stopped0 = stopped_ns;
		p->samples0 = proc_samples;
		return p->rate;
	}
	if (wall_ns - p->wall0 < PACE_EVAL_NS)
		return p->rate;
	dwall = (double)(wall_ns - p->wall0);
	dcpu = (double)(cpu_ns - p->cpu0);
	dstop = stopped_ns - p->stopped0;
	dsamples = proc_samples - p->samples0;
	p->wall0 = wall_ns;
	p->cpu0 = cpu_ns;
	p->stopped0 = stopped_ns;
	p->samples0 = proc_samples;

	p->cpu_pct = dcpu > 0 ? 100.0 * dcpu / (dwall * p->ncpu) : 0;
	p->stop_pct = dsamples ? 100.0 * ((double)dstop / (double)dsamples) * p->rate / 1e9 : 0;
	if (p->budget <= 0)
		return p->rate;
	over = p->cpu_pct > p->stop_pct ? p->cpu_pct / p->budget : p->stop_pct / p->budget;
	next = p->rate;
	if (over > 1) {
		next = p->rate / over * 0.9;
		p->reason = p->cpu_pct / p->budget >= p->stop_pct / p->budget ? "cpu" : "stopped";
	} else if (p->rate < p->asked && over < 0.5) {
		next = p->rate * 1.5;
		if (over > 0 && next > p->rate / over * 0.9)
			next = p->rate / over * 0.9;
	}
	if (next < PACE_MIN_HZ)
		next = PACE_MIN_HZ;
	if (next > p->asked)
		next = p->asked;
	if (next >= p->asked)
		p->reason = "";
	/* Changes under 2% are noise. */
	if (next > p->rate * 0.98 && next < p->rate * 1.02 && next != p->asked)
		return p->rate;
	if (next == p->rate)
		return p->rate;
	if (why && cap)
		snprintf(why, cap,
			 "rate %s -> %s Hz: agent CPU %.2f%% of the host, targets stopped %.2f%% "
			 "of the time, budget %g%%%s",
			 fmt_rate(a, sizeof(a), p->rate), fmt_rate(b, sizeof(b), next), p->cpu_pct,
			 p->stop_pct, p->budget,
			 next < p->rate ? " (over)" : next >= p->asked ? " (back to --rate)" : "");
	p->rate = next;
	p->changes++;
	return next;
}
