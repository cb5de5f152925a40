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
 */
#define _GNU_SOURCE
#include "sample_internal.h"
#include "pyspy/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_NS 5000000000ll  /* look for a child's interpreter this long */
#define FIRST_RETRY_NS 20000000ll

static uint32_t process_label(struct profile *prof, struct target *t)
{
	char cmd[512], text[640];

	target_cmdline(t, cmd, sizeof(cmd));
	snprintf(text, sizeof(text), "process %d:\"%s\"", (int)t->pid, cmd);
	return profile_func(prof, FUNC_LABEL, text, NULL, NULL);
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

static struct sproc *sproc_new(struct target *t, struct pyinterp *pi, bool owned)
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
	p->image = target_image_id(t->pid);
	return p;
}

int procs_init(struct procs *ps, struct target *t, struct pyinterp *pi, struct profile *prof,
	       const struct sampler_opts *o)
{
	struct sproc *root;

	memset(ps, 0, sizeof(*ps));
	ps->prof = prof;
	ps->o = o;
	root = sproc_new(t, pi, false);
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

void procs_drop(struct procs *ps, size_t i)
{
	if (i == 0 || i >= ps->n)
		return; /* the target itself ends the recording instead */
	sproc_free(ps->p[i]);
	ps->p[i] = ps->p[--ps->n];
}

static struct procs_seen *seen(struct procs *ps, pid_t pid)
{
	for (size_t i = 0; i < ps->nseen; i++)
		if (ps->seen[i].pid == pid)
			return &ps->seen[i];
	return NULL;
}

/* Open a descendant and find its interpreter; NULL when it is not (yet) Python. */
static struct sproc *attach(struct procs *ps, pid_t pid)
{
	struct target *t = calloc(1, sizeof(*t));
	struct pyinterp *pi = calloc(1, sizeof(*pi));
	struct sproc *p = NULL;

	if (!t || !pi)
		goto fail;
	/* Not traced until it proves to be Python: a process that is not is
	 * never stopped, only read. */
	if (target_open(t, pid, false) != 0 || pyinterp_attach(pi, t, ps->prof) != 0 ||
	    (ps->o->blocking && target_seize(t) != 0))
		goto fail;
	if (!(p = sproc_new(t, pi, true)))
		goto fail;
	/* Samples of idle threads are dropped: their frames need not be read. */
	p->s->skip_idle = !ps->o->idle;
	if (ps->o->native) {
		p->native = native_open(t, pi, ps->o->native_opts);
		if (p->native)
			p->s->keep_sources = true;
	}
	p->label = process_label(ps->prof, t);
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

	/* A process that ran another program is attached afresh. */
	for (size_t i = 1; i < ps->n;) {
		uint64_t image = target_image_id(ps->p[i]->t->pid);
		if (image && image != ps->p[i]->image) {
			procs_drop(ps, i);
			continue;
		}
		i++;
	}
	n = target_descendants(ps->p[0]->t->pid, kids, TARGET_MAX_PROCS);
	for (size_t k = 0; k < n; k++) {
		pid_t pid = kids[k];
		struct procs_seen *sn;
		uint64_t image;
		struct sproc *p;
		bool have = false;

		for (size_t i = 0; i < ps->n && !have; i++)
			have = ps->p[i]->t->pid == pid;
		if (have || ps->n >= TARGET_MAX_PROCS)
			continue;
		image = target_image_id(pid);
		sn = seen(ps, pid);
		if (sn && sn->image == image && (now < sn->next || now - sn->first > RETRY_NS))
			continue;
		p = attach(ps, pid);
		if (p) {
			ps->p[ps->n++] = p;
			ps->attached++;
			continue;
		}
		if (!sn || sn->image != image) {
			if (!sn && ps->nseen < TARGET_MAX_PROCS)
				sn = &ps->seen[ps->nseen++];
			else if (!sn)
				sn = &ps->seen[pid % TARGET_MAX_PROCS]; /* table full: reuse */
			*sn = (struct procs_seen){ .pid = pid, .image = image, .first = now,
						   .wait = FIRST_RETRY_NS };
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
