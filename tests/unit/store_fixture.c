/*
 * store_fixture.c - synthetic fleet windows (see store_fixture.h).
 */
#define _GNU_SOURCE
#include "store_fixture.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pyspy/output.h"

const char *const fx_agent_name[FX_AGENTS] = { "h1:1", "h2:1" };

static const struct {
	const char *host, *service, *python;
	int npids;
	int64_t pids[2];
	bool pruned;
} agents[FX_AGENTS] = {
	{ "h1", "web", "3.12.1", 2, { 100, 101 }, false },
	{ "h2", "worker", "3.11.4", 1, { 200 }, true },
};

static const struct store_in_func funcs[] = {
	{ "main", "/srv/app.py", "app.py", false },
	{ "handle", "/srv/app.py", "app.py", false },
	{ "work_0", "/srv/lib.py", "lib.py", false },
	{ "work_1", "/srv/lib.py", "lib.py", false },
	{ "work_2", "/srv/lib.py", "lib.py", false },
	{ "[pruned: rare stacks]", NULL, NULL, true },
};

static uint64_t count_of(int i, int64_t pid)
{
	return 10 + (uint64_t)(pid % 7) + (uint64_t)(i % 5);
}

static int work_of(int i, int64_t pid)
{
	return (int)((i + pid) % 3);
}

int fx_put(struct store_db *s, int agent, int64_t t0, int first, int last)
{
	return fx_put_as(s, agent, NULL, t0, first, last);
}

int fx_put_as(struct store_db *s, int agent, const char *host, int64_t t0, int first, int last)
{
	int nw = last - first + 1, rc;
	struct store_in_window *w = calloc((size_t)nw, sizeof(*w));
	struct store_in_proc *procs = calloc((size_t)nw * 2, sizeof(*procs));
	struct store_in_stack *stacks = calloc((size_t)nw * 3, sizeof(*stacks));
	struct store_in_frame *frames = calloc((size_t)nw * 3 * 3, sizeof(*frames));
	char instance[32];
	struct store_batch b = { host ? host : agents[agent].host, agents[agent].service,
				 (size_t)nw, w, host ? host : fx_agent_name[agent], instance,
				 (uint64_t)last };

	if (!w || !procs || !stacks || !frames)
		abort();
	for (int k = 0; k < nw; k++) {
		int i = first + k;
		struct store_in_window *win = &w[k];
		win->seq = (uint64_t)i;
		win->start_ns = (t0 + 10ll * (i - 1)) * 1000000000;
		win->end_ns = win->start_ns + 10000000000ll;
		win->procs = &procs[k * 2];
		win->stacks = &stacks[k * 3];
		win->funcs = funcs;
		win->nfuncs = sizeof(funcs) / sizeof(funcs[0]);
		for (int p = 0; p < agents[agent].npids; p++) {
			int64_t pid = agents[agent].pids[p];
			struct store_in_proc *pr = &procs[k * 2 + p];
			struct store_in_stack *st = &stacks[k * 3 + win->nstacks++];
			struct store_in_frame *fr = &frames[(k * 3 + p) * 3];

			pr->pid = pid;
			pr->start_time = 1000 + (uint64_t)pid;
			pr->program = "python3 app.py";
			pr->python = agents[agent].python;
			pr->samples = count_of(i, pid);
			pr->errors = (uint64_t)(i % 2);
			win->nprocs++;
			fr[0] = (struct store_in_frame){ 0, 1 };
			fr[1] = (struct store_in_frame){ 1, 10 };
			fr[2] = (struct store_in_frame){ (uint32_t)(2 + work_of(i, pid)),
							 20 + work_of(i, pid) };
			*st = (struct store_in_stack){ p, count_of(i, pid), 3, fr };
			win->samples += pr->samples;
		}
		if (agents[agent].pruned) {
			struct store_in_stack *st = &stacks[k * 3 + win->nstacks++];
			struct store_in_frame *fr = &frames[(k * 3 + 2) * 3];
			fr[0] = (struct store_in_frame){ 5, -1 };
			*st = (struct store_in_stack){ -1, 1, 1, fr };
		}
	}
	snprintf(instance, sizeof(instance), "fx-%s", fx_agent_name[agent]);
	rc = store_begin(s);
	if (rc == 0)
		rc = store_put(s, &b);
	if (rc == 0)
		rc = store_commit(s);
	free(w);
	free(procs);
	free(stacks);
	free(frames);
	return rc;
}

int fx_fill(struct store_db *s, int64_t t0, int n, int per_tx)
{
	for (int first = 1; first <= n; first += per_tx) {
		int last = first + per_tx - 1 < n ? first + per_tx - 1 : n;
		for (int a = 0; a < FX_AGENTS; a++) {
			int rc = fx_put(s, a, t0, first, last);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int64_t floor60(int64_t t)
{
	return t - ((t % 60) + 60) % 60;
}

struct profile *fx_expected(int64_t t0, int n, int64_t from, int64_t until,
			    const struct store_filter *f, uint64_t *samples)
{
	struct profile *p = profile_new();
	uint32_t ids[6];
	int64_t lo = floor60(from), hi = floor60(until) == until ? until : floor60(until) + 60;

	*samples = 0;
	for (size_t k = 0; k < 6; k++)
		ids[k] = profile_func(p, funcs[k].label ? FUNC_LABEL : FUNC_PYTHON, funcs[k].name,
				      funcs[k].file, funcs[k].short_file);
	for (int a = 0; a < FX_AGENTS; a++) {
		if (f && f->service && strcmp(f->service, agents[a].service) != 0)
			continue;
		if (f && f->host && strcmp(f->host, agents[a].host) != 0)
			continue;
		for (int i = 1; i <= n; i++) {
			int64_t start = t0 + 10ll * (i - 1), mid = floor60(start + 5);
			if (mid < lo || mid >= hi)
				continue;
			for (int k = 0; k < agents[a].npids; k++) {
				int64_t pid = agents[a].pids[k];
				int w = work_of(i, pid);
				struct frame_ref fr[3] = { { ids[0], 1 }, { ids[1], 10 },
							   { ids[2 + w], 20 + w } };
				if (f && f->pid && f->pid != pid)
					continue;
				profile_add(p, fr, 3, count_of(i, pid));
				*samples += count_of(i, pid);
			}
			if (agents[a].pruned && !(f && f->pid)) {
				struct frame_ref fr = { ids[5], -1 };
				profile_add(p, &fr, 1, 1);
			}
		}
	}
	return p;
}

char *fx_folded(const struct profile *p)
{
	struct output_opts o = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	output_folded(f, p, &o);
	fclose(f);
	return buf;
}

int fx_write_store(const char *path, int64_t t0, int n)
{
	struct store_options o = { .create = true };
	char err[1024];
	int e, rc;
	struct store_db *s = store_open(path, &o, &e, err, sizeof(err));

	if (!s) {
		fprintf(stderr, "run-unit: %s\n", err);
		return 1;
	}
	rc = fx_fill(s, t0, n, 60);
	if (rc)
		fprintf(stderr, "run-unit: %s\n", store_errmsg(s));
	store_close(s);
	return rc ? 1 : 0;
}
