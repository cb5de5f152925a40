/*
 * ring.c - the agent's store: the function dictionary, the slices of the
 * last minutes and the ring of windows (see serve_internal.h).
 *
 * The sampling thread is the only writer; HTTP threads take references
 * under the lock and read without it.  Memory is bounded: windows older
 * than --retention go, and so do the oldest windows while all chunks
 * together hold more than SERVE_MAX_BYTES (counted as evicted for memory);
 * a window keeps at most SERVE_WINDOW_MAX_STACKS distinct stacks, rare
 * ones pruned into one marker stack (counted).
 */
#define _GNU_SOURCE
#include "serve_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static struct fdict *fdict_get(struct fdict *d)
{
	__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
	return d;
}

static void fdict_put(struct fdict *d)
{
	if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t k = 0; k < SERVE_FDICT_CHUNKS && d->fchunks[k]; k++) {
		for (size_t i = 0; i < SERVE_FDICT_CHUNK; i++) {
			free(d->fchunks[k][i].name);
			free(d->fchunks[k][i].file);
			free(d->fchunks[k][i].short_file);
		}
		free(d->fchunks[k]);
	}
	free(d);
}

static struct fdict *fdict_new(void)
{
	struct fdict *d = calloc(1, sizeof(*d));

	if (d)
		d->refs = 1;
	return d;
}

void chunk_put(struct chunk *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	fdict_put(c->dict);
	for (size_t i = 0; i < c->nprocs; i++)
		free(c->procs[i].program);
	free(c->procs);
	free(c->stacks);
	free(c->frames);
	free(c);
}

static struct chunk *chunk_get(struct chunk *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

/* argv[0] alone: the program without its arguments (--hide-args). */
static char *program_text(const char *cmd, bool hide_args)
{
	size_t n = strlen(cmd);

	if (hide_args) {
		const char *sp = strchr(cmd, ' ');
		if (sp)
			n = (size_t)(sp - cmd);
	}
	return strndup(cmd, n);
}

struct chunk *chunk_from_profile(const struct profile *prof, const struct sampler_proc *procs,
				 size_t nprocs, bool hide_args)
{
	struct chunk *c = calloc(1, sizeof(*c));
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n, nframes = 0, k = 0, off = 0;
	uint64_t count;

	if (!c)
		return NULL;
	c->refs = 1;
	c->nstacks = profile_nstacks(prof);
	c->procs = calloc(nprocs ? nprocs : 1, sizeof(*c->procs));
	c->stacks = calloc(c->nstacks ? c->nstacks : 1, sizeof(*c->stacks));
	while (profile_next(prof, &it, &fr, &n, &count))
		nframes += n;
	c->frames = malloc((nframes ? nframes : 1) * sizeof(*c->frames));
	if (!c->procs || !c->stacks || !c->frames)
		goto fail;
	for (size_t i = 0; i < nprocs; i++) {
		struct chunk_proc *p = &c->procs[i];
		p->pid = procs[i].pid;
		p->start_time = procs[i].start_time;
		p->serial = procs[i].serial;
		p->samples = procs[i].samples;
		p->errors = procs[i].failed;
		p->late = procs[i].late;
		p->exited = procs[i].exited;
		memcpy(p->python, procs[i].python, sizeof(p->python));
		if (!(p->program = program_text(procs[i].program, hide_args)))
			goto fail;
		c->nprocs++;
		c->bytes += sizeof(*p) + strlen(p->program) + 1;
	}
	it = (struct profile_iter){ 0 };
	while (profile_next(prof, &it, &fr, &n, &count)) {
		struct chunk_stack *s = &c->stacks[k++];
		s->proc = -1;
		if (n && fr[0].func == SERVE_FUNC_PROCESS) {
			for (size_t i = 0; i < c->nprocs; i++)
				if (c->procs[i].serial == fr[0].line)
					s->proc = (int32_t)i;
			fr++;
			n--;
		}
		s->n = (uint32_t)n;
		s->count = count;
		s->off = off;
		memcpy(c->frames + off, fr, n * sizeof(*fr));
		off += n;
	}
	c->nstacks = k;
	c->bytes += sizeof(*c) + k * sizeof(*c->stacks) + off * sizeof(*c->frames);
	return c;
fail:
	chunk_put(c);
	return NULL;
}

int store_init(struct store *st, const struct serve_config *c)
{
	unsigned char rnd[16];
	struct timespec ts;

	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(st->info.instance + 2 * i, 3, "%02x", rnd[i]);
	clock_gettime(CLOCK_REALTIME, &ts);
	st->info.started_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	st->info.rate = c->so.rate;
	st->info.window = c->window;
	st->info.retention = c->retention;
	st->info.max_overhead = c->max_overhead;
	st->info.blocking = c->so.blocking;
	st->info.idle = c->so.idle;
	st->info.gil = c->so.gil;
	st->info.native = c->native;
	st->info.hide_args = c->hide_args;
	st->info.subprocesses = c->subprocesses;
	st->info.match = c->match;
	st->info.npids = c->npids;
	/* Slices cover the window being built and a pprof scrape, at least. */
	st->slice_keep_ns = (int64_t)(c->window + 2 * SERVE_PPROF_MAX_S) * 1000000000ll;
	st->cap_slices = (size_t)(st->slice_keep_ns / SERVE_SLICE_NS) + 4;
	st->cap_windows = (size_t)(c->retention / c->window) + 1;
	st->slices = calloc(st->cap_slices, sizeof(*st->slices));
	st->windows = calloc(st->cap_windows, sizeof(*st->windows));
	st->next_seq = 1;
	st->dict = fdict_new();
	return st->slices && st->windows && st->dict ? 0 : -1;
}

void store_release(struct store *st)
{
	for (size_t i = 0; i < st->nslices; i++)
		chunk_put(st->slices[i]);
	for (size_t i = 0; i < st->nwindows; i++)
		chunk_put(st->windows[i]);
	free(st->slices);
	free(st->windows);
	fdict_put(st->dict);
	store_targets_free(st->targets, st->ntargets);
	pthread_mutex_destroy(&st->lock);
}

int store_sync_funcs(struct store *st, const struct profile *live)
{
	struct fdict *dict = st->dict;
	size_t n = dict->nfuncs; /* only this thread writes it */
	const struct func *f;

	while ((f = profile_func_get(live, (uint32_t)n))) {
		size_t k = n / SERVE_FDICT_CHUNK;
		struct func *d;
		if (k >= SERVE_FDICT_CHUNKS)
			return -1;
		if (!dict->fchunks[k] &&
		    !(dict->fchunks[k] = calloc(SERVE_FDICT_CHUNK, sizeof(struct func))))
			return -1;
		d = &dict->fchunks[k][n % SERVE_FDICT_CHUNK];
		d->kind = f->kind;
		d->name = f->name ? strdup(f->name) : NULL;
		d->file = f->file ? strdup(f->file) : NULL;
		d->short_file = f->short_file ? strdup(f->short_file) : NULL;
		n++;
	}
	pthread_mutex_lock(&st->lock);
	dict->nfuncs = n;
	st->totals.nfuncs = n;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

int store_renew_funcs(struct store *st)
{
	struct fdict *d = fdict_new(), *old;

	if (!d)
		return -1;
	pthread_mutex_lock(&st->lock);
	old = st->dict;
	st->dict = d;
	st->totals.nfuncs = 0;
	st->totals.func_renewals++;
	pthread_mutex_unlock(&st->lock);
	fdict_put(old);
	return 0;
}

const struct func *chunk_func(const struct chunk *c, uint32_t id)
{
	if (!c->dict || id >= c->nfuncs)
		return NULL;
	return &c->dict->fchunks[id / SERVE_FDICT_CHUNK][id % SERVE_FDICT_CHUNK];
}

static void drop_first(struct chunk **a, size_t *n, struct store *st)
{
	st->totals.bytes -= a[0]->bytes;
	chunk_put(a[0]);
	memmove(a, a + 1, --*n * sizeof(*a));
}

void store_publish(struct store *st, struct chunk *slice, struct chunk *window,
		   const struct sampler_proc *now, size_t nnow)
{
	struct chunk_proc *targets = calloc(nnow ? nnow : 1, sizeof(*targets));
	size_t ntargets = 0;

	for (size_t i = 0; targets && i < nnow; i++) {
		if (now[i].exited)
			continue;
		targets[ntargets] = (struct chunk_proc){
			.pid = now[i].pid, .start_time = now[i].start_time,
			.serial = now[i].serial,
			.program = program_text(now[i].program, st->info.hide_args) };
		memcpy(targets[ntargets].python, now[i].python, sizeof(now[i].python));
		ntargets++;
	}
	pthread_mutex_lock(&st->lock);
	if (slice) {
		slice->dict = fdict_get(st->dict);
		slice->nfuncs = st->dict->nfuncs;
	}
	if (window) {
		window->dict = fdict_get(st->dict);
		window->nfuncs = st->dict->nfuncs;
	}
	if (targets) {
		store_targets_free(st->targets, st->ntargets);
		st->targets = targets;
		st->ntargets = ntargets;
		st->totals.targets = ntargets;
	}
	if (slice) {
		struct store_totals *t = &st->totals;
		if (!st->base_ns)
			st->base_ns = slice->start_ns; /* windows are aligned to it */
		t->samples += slice->samples;
		t->proc_samples += slice->proc_samples;
		t->errors += slice->errors;
		t->late += slice->late;
		t->pruned += slice->pruned;
		t->stopped_ns += slice->stopped_ns;
		while (st->nslices &&
		       (st->nslices == st->cap_slices ||
			slice->end_ns - st->slices[0]->start_ns > st->slice_keep_ns)) {
			drop_first(st->slices, &st->nslices, st);
			t->slices_evicted++;
		}
		st->slices[st->nslices++] = slice;
		t->bytes += slice->bytes;
	}
	if (window) {
		window->seq = st->next_seq++;
		st->totals.windows_closed++;
		st->totals.pruned += window->pruned;
		while (st->nwindows &&
		       (st->nwindows == st->cap_windows ||
			window->end_ns - st->windows[0]->end_ns >=
				(int64_t)(st->info.retention * 1e9))) {
			drop_first(st->windows, &st->nwindows, st);
			st->totals.windows_evicted++;
		}
		st->windows[st->nwindows++] = window;
		st->totals.bytes += window->bytes;
	}
	/* The memory bound: the oldest windows go first (one is always kept). */
	while (st->totals.bytes > SERVE_MAX_BYTES && st->nwindows > 1) {
		drop_first(st->windows, &st->nwindows, st);
		st->totals.windows_evicted++;
		st->totals.evicted_for_memory++;
	}
	st->totals.nwindows = st->nwindows;
	st->totals.nslices = st->nslices;
	pthread_mutex_unlock(&st->lock);
}

static bool middle_in(const struct chunk *c, int64_t from, int64_t until)
{
	int64_t mid = c->start_ns + (c->end_ns - c->start_ns) / 2;

	return mid >= from && mid < until;
}

struct chunk **store_collect(struct store *st, int64_t from_ns, int64_t until_ns,
			     bool slices_only, size_t *n, size_t *nfuncs)
{
	struct chunk **out;
	int64_t split;
	size_t k = 0;

	pthread_mutex_lock(&st->lock);
	out = malloc((st->nslices + st->nwindows + 1) * sizeof(*out));
	if (!out)
		goto done;
	/*
	 * Slices from the first window boundary they cover fully on;
	 * windows (made of the same slices) before it.
	 */
	split = INT64_MAX;
	for (size_t i = 0; i < st->nslices; i++)
		if ((st->slices[i]->start_ns - st->base_ns) % (int64_t)(st->info.window * 1e9) == 0) {
			split = st->slices[i]->start_ns;
			break;
		}
	if (!slices_only)
		for (size_t i = 0; i < st->nwindows; i++)
			if (st->windows[i]->end_ns <= split &&
			    middle_in(st->windows[i], from_ns, until_ns))
				out[k++] = chunk_get(st->windows[i]);
	for (size_t i = 0; i < st->nslices; i++)
		if ((slices_only || st->slices[i]->start_ns >= split) &&
		    middle_in(st->slices[i], from_ns, until_ns))
			out[k++] = chunk_get(st->slices[i]);
done:
	pthread_mutex_unlock(&st->lock);
	*nfuncs = 0;
	for (size_t i = 0; i < k; i++)
		if (out[i]->nfuncs > *nfuncs)
			*nfuncs = out[i]->nfuncs;
	*n = k;
	return out;
}

struct chunk **store_windows_since(struct store *st, uint64_t since, size_t max, size_t *n,
				   size_t *nfuncs, uint64_t *oldest, uint64_t *newest)
{
	struct chunk **out;
	size_t k = 0;

	pthread_mutex_lock(&st->lock);
	out = malloc((st->nwindows + 1) * sizeof(*out));
	for (size_t i = 0; out && i < st->nwindows && k < max; i++)
		if (st->windows[i]->seq > since)
			out[k++] = chunk_get(st->windows[i]);
	*oldest = st->nwindows ? st->windows[0]->seq : 0;
	*newest = st->next_seq - 1;
	pthread_mutex_unlock(&st->lock);
	*nfuncs = 0;
	for (size_t i = 0; i < k; i++)
		if (out[i]->nfuncs > *nfuncs)
			*nfuncs = out[i]->nfuncs;
	*n = k;
	return out;
}

int64_t store_newest_end(struct store *st)
{
	int64_t end;

	pthread_mutex_lock(&st->lock);
	end = st->nslices ? st->slices[st->nslices - 1]->end_ns : 0;
	pthread_mutex_unlock(&st->lock);
	return end;
}

void store_totals(struct store *st, struct store_totals *out)
{
	pthread_mutex_lock(&st->lock);
	*out = st->totals;
	pthread_mutex_unlock(&st->lock);
}

struct chunk_proc *store_targets(struct store *st, size_t *n)
{
	struct chunk_proc *out;

	pthread_mutex_lock(&st->lock);
	out = calloc(st->ntargets ? st->ntargets : 1, sizeof(*out));
	*n = 0;
	for (size_t i = 0; out && i < st->ntargets; i++) {
		out[i] = st->targets[i];
		out[i].program = st->targets[i].program ? strdup(st->targets[i].program) : NULL;
		*n = i + 1;
	}
	pthread_mutex_unlock(&st->lock);
	return out;
}

void store_targets_free(struct chunk_proc *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free(p[i].program);
	free(p);
}
