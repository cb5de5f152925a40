/*
 * procs.c - the processes a recording samples: the target, and with
 * --subprocesses its descendants.
 *
 * Every REFRESH_NS the descendants of the target are listed from /proc.
 * A new one is opened (seized when blocking) and its interpreter looked
 * for; one that is not Python yet (a fork about to exec, an interpreter
 * still starting) is looked at again, less and less often, for
 * RETRY_NS, then left alone until it runs another program.  A process
 * that execs (its image id changes) is attached afresh.  Each process's
 * stacks are rooted by "process PID:"COMMAND"".  A process that exits is
 * dropped; what was sampled of it stays in the profile.
 *
 * serve has no fixed target: the processes come from its discover()
 * callback instead of the target's descendants, each rooted by the frame
 * { o->proc_func, serial } (no text per process is interned: the agent
 * runs for months), and one that fails is dropped, never fatal.  A
 * process is the pair (pid, start time): a pid reused by another process
 * is another process.
 */
#define _GNU_SOURCE
#include "sample_internal.h"
#include "pyspy/pyasync.h"
#include "pyspy/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_NS 5000000000ll  /* look for a child's interpreter this long */
#define FIRST_RETRY_NS 20000000ll

static uint32_t process_label(struct profile *prof, struct target *t)
{
	char cmd[512], text[640];

	target_cmdline(t, cmd, sizeof(cmd));
	snprintf(text, sizeof(text), "process %d:\"%s\"", (int)t->pid, cmd);
	return profile_func(prof, FUNC_LABEL, text, NULL, NULL);
}

void procs_forget_funcs(struct procs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		struct sproc *p = ps->p[i];
		pyinterp_forget_funcs(p->pi);
		native_forget_funcs(p->native);
		if (p->label != FUNC_NONE)
			p->label = ps->o->discover ? ps->o->proc_func : process_label(ps->prof, p->t);
	}
}

static void sproc_free(struct sproc *p)
{
	if (!p)
		return;
	if (p->owned) {
		native_close(p->native);
		target_close(p->t);
		pyinterp_release(p->pi);
		free(p->t);
		free(p->pi);
	}
	if (p->s)
		py_sample_free(p->s);
	free(p->s);
	free(p);
}

static struct sproc *sproc_new(struct procs *ps, struct target *t, struct pyinterp *pi,
			       bool owned)
{
	struct sproc *p = calloc(1, sizeof(*p));

	if (!p || !(p->s = calloc(1, sizeof(*p->s)))) {
		free(p);
		return NULL;
	}
	p->t = t;
	p->pi = pi;
	p->owned = owned;
	p->label = FUNC_NONE;
	p->label_line = -1;
	target_stat_ids(t->pid, &p->image, &p->info.start_time);
	p->info.pid = t->pid;
	p->info.serial = ++ps->serial;
	target_cmdline(t, p->info.program, sizeof(p->info.program));
	snprintf(p->info.python, sizeof(p->info.python), "%d.%d.%d", pi->major, pi->minor,
		 pi->micro);
	return p;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void event(struct procs *ps, const struct sproc *p, const char *what, const char *why)
{
	if (ps->o->proc_event)
		ps->o->proc_event(ps->o->event_ctx, &p->info, what, why);
}

int procs_init(struct procs *ps, struct target *t, struct pyinterp *pi, struct profile *prof,
	       const struct sampler_opts *o)
{
	struct sproc *root;

	memset(ps, 0, sizeof(*ps));
	ps->prof = prof;
	ps->o = o;
	if (!t)
		return 0;
	ps->fixed = 1;
	root = sproc_new(ps, t, pi, false);
	if (!root)
		return -PERR_NOMEM;
	root->native = o->native;
	if (o->subprocesses)
		root->label = process_label(prof, t);
	ps->p[ps->n++] = root;
	ps->attached = 1;
	return 0;
}

void procs_free(struct procs *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		sproc_free(ps->p[i]);
	ps->n = 0;
}

void procs_drop(struct procs *ps, size_t i, const char *why)
{
	struct sproc *p;

	if (i < ps->fixed || i >= ps->n)
		return; /* the target itself ends the recording instead */
	p = ps->p[i];
	event(ps, p, "detach", why);
	/* Its counts stay in the window's (the oldest go when full). */
	if (ps->ngone == TARGET_MAX_PROCS)
		memmove(ps->gone, ps->gone + 1, --ps->ngone * sizeof(ps->gone[0]));
	ps->gone[ps->ngone] = p->info;
	ps->gone[ps->ngone++].exited = true;
	sproc_free(p);
	ps->p[i] = ps->p[--ps->n];
}

size_t procs_window(struct procs *ps, struct sampler_proc *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < ps->ngone && n < cap; i++)
		out[n++] = ps->gone[i];
	for (size_t i = 0; i < ps->n && n < cap; i++) {
		struct sampler_proc *in = &ps->p[i]->info;
		out[n++] = *in;
		in->samples = in->failed = in->late = 0;
	}
	ps->ngone = 0;
	return n;
}

static struct procs_seen *seen(struct procs *ps, pid_t pid)
{
	for (size_t i = 0; i < ps->nseen; i++)
		if (ps->seen[i].pid == pid)
			return &ps->seen[i];
	return NULL;
}

/* Open a descendant and find its interpreter; NULL when it is not (yet) Python. */
static struct sproc *attach(struct procs *ps, pid_t pid, int *err)
{
	struct target *t = calloc(1, sizeof(*t));
	struct pyinterp *pi = calloc(1, sizeof(*pi));
	struct sproc *p = NULL;

	*err = -PERR_NOMEM;
	if (!t || !pi)
		goto fail;
	/* Not traced until it proves to be Python: a process that is not is
	 * never stopped, only read. */
	if ((*err = target_open(t, pid, false)) != 0 ||
	    (*err = pyinterp_attach(pi, t, ps->prof)) != 0 ||
	    (ps->o->blocking && (*err = target_seize_listed(t)) != 0))
		goto fail;
	*err = -PERR_NOMEM;
	if (!(p = sproc_new(ps, t, pi, true)))
		goto fail;
	*err = 0;
	/* A descendant whose tasks cannot be read is sampled without. */
	pi->async = ps->o->async && pyinterp_async_check(pi) == 0;
	/* Samples of idle threads are dropped: their frames need not be read. */
	p->s->skip_idle = !ps->o->idle;
	if (ps->o->native || ps->o->native_opts) {
		p->native = native_open(t, pi, ps->o->native_opts);
		if (p->native)
			p->s->keep_sources = true;
	}
	if (ps->o->discover) {
		p->label = ps->o->proc_func;
		p->label_line = p->info.serial;
	} else {
		p->label = process_label(ps->prof, t);
	}
	/* Learn its threads without stopping any (as for the target). */
	if (ps->o->blocking) {
		struct py_gil g1, g2;
		target_read_states(t);
		pyinterp_sample_gil(pi, p->s, &g1, &g2);
	}
	return p;
fail:
	if (t)
		target_close(t);
	if (pi)
		pyinterp_release(pi);
	free(t);
	free(pi);
	return NULL;
}

void procs_refresh(struct procs *ps, int64_t now)
{
	static pid_t kids[TARGET_MAX_PROCS];
	size_t n;

	/* A process that ran another program is attached afresh; a pid that
	 * now names another process is dropped. */
	for (size_t i = ps->fixed; i < ps->n;) {
		uint64_t image, start;
		if (target_stat_ids(ps->p[i]->t->pid, &image, &start) == 0 &&
		    (image != ps->p[i]->image || start != ps->p[i]->info.start_time)) {
			procs_drop(ps, i, image != ps->p[i]->image ? "exec" : "exited");
			continue;
		}
		i++;
	}
	if (ps->o->discover)
		n = ps->o->discover(ps->o->discover_ctx, kids, TARGET_MAX_PROCS);
	else
		n = target_descendants(ps->p[0]->t->pid, kids, TARGET_MAX_PROCS);
	for (size_t k = 0; k < n; k++) {
		pid_t pid = kids[k];
		struct procs_seen *sn;
		uint64_t image, start;
		struct sproc *p;
		bool have = false;
		int err;

		for (size_t i = 0; i < ps->n && !have; i++)
			have = ps->p[i]->t->pid == pid;
		if (have || ps->n >= TARGET_MAX_PROCS)
			continue;
		if (target_stat_ids(pid, &image, &start) != 0)
			continue; /* gone already */
		sn = seen(ps, pid);
		if (sn && sn->image == image && sn->start_time == start &&
		    (now < sn->next || now - sn->first > RETRY_NS))
			continue;
		{
			uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC);
			p = attach(ps, pid, &err);
			if (p) {
				p->info.attach_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
				p->info.attach_ns = clock_ns(CLOCK_MONOTONIC) - t0;
			}
		}
		if (p) {
			ps->p[ps->n++] = p;
			ps->attached++;
			event(ps, p, "attach", NULL);
			continue;
		}
		if (!sn || sn->image != image || sn->start_time != start) {
			if (!sn && ps->nseen < TARGET_MAX_PROCS)
				sn = &ps->seen[ps->nseen++];
			else if (!sn)
				sn = &ps->seen[pid % TARGET_MAX_PROCS]; /* table full: reuse */
			*sn = (struct procs_seen){ .pid = pid, .image = image, .start_time = start,
						   .first = now, .wait = FIRST_RETRY_NS };
			/* Not Python (yet) is quiet; anything else is said once. */
			if (ps->o->proc_event && err != -PERR_NOTPY && err != -PERR_GONE &&
			    err != -PERR_NOPROC) {
				struct sampler_proc info = { .pid = pid, .start_time = start };
				ps->o->proc_event(ps->o->event_ctx, &info, "error", perr_detail(err));
			}
		} else {
			sn->wait *= 2;
		}
		sn->next = now + sn->wait;
	}
	/* Forget processes that are gone from the table of those not attached. */
	for (size_t i = 0; i < ps->nseen;) {
		bool alive = false;
		for (size_t k = 0; k < n && !alive; k++)
			alive = kids[k] == ps->seen[i].pid;
		if (alive)
			i++;
		else
			ps->seen[i] = ps->seen[--ps->nseen];
	}
}
