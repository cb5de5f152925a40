/*
 * query.c - merge chunks into one profile for the output writers (HTTP
 * threads).  The chunks' frames name functions of the store's
 * dictionary; each one used is interned once in the new profile.
 */
#define _GNU_SOURCE
#include "serve_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 4096

/* map: the chunk's dictionary ids -> p's, filled as they are met. */
static uint32_t map_func(const struct chunk *c, struct profile *p, uint32_t *map, uint32_t id)
{
	const struct func *f = chunk_func(c, id);

	if (!f)
		return FUNC_NONE;
	if (map[id] != FUNC_NONE)
		return map[id];
	map[id] = profile_func(p, f->kind, f->name ? f->name : "?", f->file, f->short_file);
	return map[id];
}

static bool wanted(const struct chunk_proc *p, const struct query_filter *f)
{
	if (!f->pid && !f->match)
		return true;
	if (!p)
		return false;
	if (f->pid && p->pid != f->pid)
		return false;
	return !f->match || regexec(f->match, p->program ? p->program : "", 0, NULL, 0) == 0;
}

/* 'count' samples of one process's stack in a row (speedscope's aggregate view). */
static int timeline_run(struct query_filter *f, int64_t *t, uint64_t *total,
			const struct chunk_proc *proc, uint32_t label,
			const struct frame_ref *frames, size_t n, uint64_t count)
{
	int64_t period = timeline_period(f->timeline);

	if (*total + count > QUERY_TIMELINE_MAX) {
		f->too_many = true;
		return -1;
	}
	*total += count;
	for (uint64_t i = 0; i < count; i++) {
		timeline_begin_sample(f->timeline, *t);
		timeline_add(f->timeline, proc ? proc->pid : 0, proc ? proc->start_time : 0, 0, label,
			     frames, n);
		*t += period;
	}
	return 0;
}

struct profile *query_merge(struct chunk **c, size_t n, size_t nfuncs,
			    struct query_filter *f, uint64_t *samples, uint64_t *failed)
{
	int64_t t = 0;
	uint64_t total = 0;
	struct profile *p = profile_new();
	uint32_t *map = malloc((nfuncs ? nfuncs : 1) * sizeof(*map));
	struct frame_ref *buf = malloc((MAX_FRAMES + 1) * sizeof(*buf));

	*samples = *failed = 0;
	if (!p || !map || !buf)
		goto fail;
	for (size_t k = 0; k < n; k++) {
		const struct chunk *ch = c[k];
		uint32_t *labels = calloc(ch->nprocs ? ch->nprocs : 1, sizeof(*labels));

		if (!labels)
			goto fail;
		/* Chunks in a row mostly share one dictionary: its map too. */
		if (k == 0 || ch->dict != c[k - 1]->dict)
			memset(map, 0xff, (nfuncs ? nfuncs : 1) * sizeof(*map));
		for (size_t i = 0; i < ch->nprocs; i++) {
			labels[i] = FUNC_NONE;
			if (!wanted(&ch->procs[i], f))
				continue;
			*samples += ch->procs[i].samples;
			*failed += ch->procs[i].errors;
			if (f->by_process || f->timeline) {
				char text[700];
				snprintf(text, sizeof(text), "process %d:\"%s\"", (int)ch->procs[i].pid,
					 ch->procs[i].program ? ch->procs[i].program : "");
				labels[i] = profile_func(p, FUNC_LABEL, text, NULL, NULL);
			}
		}
		for (size_t s = 0; s < ch->nstacks; s++) {
			const struct chunk_stack *cs = &ch->stacks[s];
			const struct chunk_proc *proc = cs->proc >= 0 ? &ch->procs[cs->proc] : NULL;
			size_t m = 0;
			bool ok = true;

			if (!wanted(proc, f))
				continue;
			if (f->by_process && !f->timeline && proc && labels[cs->proc] != FUNC_NONE)
				buf[m++] = (struct frame_ref){ labels[cs->proc], -1 };
			for (uint32_t i = 0; i < cs->n && m < MAX_FRAMES + 1; i++) {
				struct frame_ref fr = ch->frames[cs->off + i];
				fr.func = map_func(ch, p, map, fr.func);
				ok = ok && fr.func != FUNC_NONE;
				buf[m++] = fr;
			}
			if (!ok || !m)
				continue;
			profile_add(p, buf, m, cs->count);
			if (f->timeline &&
			    timeline_run(f, &t, &total, proc, proc ? labels[cs->proc] : FUNC_NONE, buf,
					 m, cs->count) != 0) {
				free(labels);
				goto fail;
			}
		}
		free(labels);
	}
	if (f->timeline)
		timeline_finish(f->timeline);
	free(map);
	free(buf);
	return p;
fail:
	free(map);
	free(buf);
	profile_free(p);
	return NULL;
}
