/*
 * profile.c - interned functions and counted stacks.
 *
 * Both tables are open-addressing hash tables of indexes into dense arrays,
 * so ids are stable and iteration is in insertion order.  Stack frames live
 * in one growing arena; a sample of a known stack costs one hash and one
 * compare, and allocates nothing.
 */
#include "pyspy/stacks.h"

#include <stdlib.h>
#include <string.h>

struct stack_entry {
	size_t off;         /* into arena */
	uint32_t n;
	uint64_t hash;
	uint64_t count;
};

struct profile {
	struct func *funcs;
	uint64_t *func_hash;
	size_t nfuncs, cap_funcs;
	uint32_t *func_index;   /* slots: id + 1, 0 = empty */
	size_t func_slots;

	struct stack_entry *stacks;
	size_t nstacks, cap_stacks;
	uint32_t *stack_index;
	size_t stack_slots;
	struct frame_ref *arena;
	size_t narena, cap_arena;
	uint64_t total;

	size_t max_stacks;      /* 0: no bound */
	uint64_t pruned;        /* samples whose stack was pruned */
	uint64_t prunings;      /* times the bound was hit */
	uint32_t pruned_func;   /* the "[pruned]" label, FUNC_NONE until needed */
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	/* FNV-1a: small, good enough for short keys. */
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	return hash_bytes(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

struct profile *profile_new(void)
{
	struct profile *p = calloc(1, sizeof(struct profile));

	if (p)
		p->pruned_func = FUNC_NONE;
	return p;
}

void profile_set_limit(struct profile *p, size_t max_stacks)
{
	p->max_stacks = max_stacks;
}

uint64_t profile_pruned(const struct profile *p)
{
	return p->pruned;
}

uint64_t profile_prunings(const struct profile *p)
{
	return p->prunings;
}

void profile_reset(struct profile *p)
{
	p->nstacks = 0;
	p->narena = 0;
	p->total = 0;
	p->pruned = 0;
	if (p->stack_index)
		memset(p->stack_index, 0, p->stack_slots * sizeof(*p->stack_index));
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nfuncs; i++) {
		free(p->funcs[i].name);
		free(p->funcs[i].file);
		free(p->funcs[i].short_file);
	}
	free(p->funcs);
	free(p->func_hash);
	free(p->func_index);
	free(p->stacks);
	free(p->stack_index);
	free(p->arena);
	free(p);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Grow an index table to 'slots' and reinsert; hashes come from 'get'. */
static int rehash(uint32_t **index, size_t *nslots, size_t count,
		  uint64_t (*get)(const struct profile *, size_t), const struct profile *p)
{
	size_t slots = *nslots ? *nslots * 2 : 1024;
	uint32_t *n = calloc(slots, sizeof(*n));

	if (!n)
		return -1;
	for (size_t i = 0; i < count; i++) {
		size_t s = get(p, i) & (slots - 1);
		while (n[s])
			s = (s + 1) & (slots - 1);
		n[s] = (uint32_t)i + 1;
	}
	free(*index);
	*index = n;
	*nslots = slots;
	return 0;
}

static uint64_t func_hash_at(const struct profile *p, size_t i)
{
	return p->func_hash[i];
}

static uint64_t stack_hash_at(const struct profile *p, size_t i)
{
	return p->stacks[i].hash;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

uint32_t profile_func(struct profile *p, enum func_kind kind, const char *name,
		      const char *file, const char *short_file)
{
	uint64_t h = hash_str(hash_str(0xcbf29ce484222325ull ^ (uint64_t)kind, name), file);
	struct func *f;
	size_t s;

	if (p->nfuncs * 2 >= p->func_slots &&
	    rehash(&p->func_index, &p->func_slots, p->nfuncs, func_hash_at, p))
		return FUNC_NONE;
	for (s = h & (p->func_slots - 1); p->func_index[s]; s = (s + 1) & (p->func_slots - 1)) {
		uint32_t id = p->func_index[s] - 1;
		f = &p->funcs[id];
		if (p->func_hash[id] == h && f->kind == kind && str_eq(f->name, name) &&
		    str_eq(f->file, file))
			return id;
	}
	if (p->nfuncs == p->cap_funcs) {
		size_t ncap = p->cap_funcs ? p->cap_funcs * 2 : 256;
		struct func *nf = realloc(p->funcs, ncap * sizeof(*nf));
		uint64_t *nh;
		if (!nf)
			return FUNC_NONE;
		p->funcs = nf;
		nh = realloc(p->func_hash, ncap * sizeof(*nh));
		if (!nh)
			return FUNC_NONE;
		p->func_hash = nh;
		p->cap_funcs = ncap;
	}
	f = &p->funcs[p->nfuncs];
	f->kind = kind;
	f->name = dup_or_null(name);
	f->file = dup_or_null(file);
	f->short_file = dup_or_null(short_file ? short_file : file);
	if ((name && !f->name) || (file && !f->file)) {
		free(f->name);
		free(f->file);
		free(f->short_file);
		return FUNC_NONE;
	}
	p->func_hash[p->nfuncs] = h;
	p->func_index[s] = (uint32_t)p->nfuncs + 1;
	return (uint32_t)p->nfuncs++;
}

const struct func *profile_func_get(const struct profile *p, uint32_t id)
{
	return id < p->nfuncs ? &p->funcs[id] : NULL;
}

size_t profile_nfuncs(const struct profile *p)
{
	return p->nfuncs;
}

struct profile *profile_renew_funcs(struct profile *p)
{
	struct profile *old;

	if (p->nstacks || !(old = profile_new()))
		return NULL;
	old->funcs = p->funcs;
	old->func_hash = p->func_hash;
	old->nfuncs = p->nfuncs;
	old->cap_funcs = p->cap_funcs;
	old->func_index = p->func_index;
	old->func_slots = p->func_slots;
	p->funcs = NULL;
	p->func_hash = NULL;
	p->func_index = NULL;
	p->nfuncs = p->cap_funcs = p->func_slots = 0;
	p->pruned_func = FUNC_NONE;
	return old;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void rebuild_index(struct profile *p)
{
	memset(p->stack_index, 0, p->stack_slots * sizeof(*p->stack_index));
	for (size_t i = 0; i < p->nstacks; i++) {
		size_t s = p->stacks[i].hash & (p->stack_slots - 1);
		while (p->stack_index[s])
			s = (s + 1) & (p->stack_slots - 1);
		p->stack_index[s] = (uint32_t)i + 1;
	}
}

/*
 * The bound on distinct stacks is reached: drop the rarest quarter (at
 * least) and count their samples on one "[pruned]" stack, so totals stay
 * right and the loss is visible in the output and the summary.  Rare
 * stacks are the ones a flame graph cannot show anyway.
 */
static int prune(struct profile *p)
{
	uint64_t *counts = malloc(p->nstacks * sizeof(*counts)), threshold, moved = 0;
	size_t keep = 0, arena = 0, want = p->nstacks / 4 ? p->nstacks / 4 : 1;
	struct frame_ref marker;
	int marker_at = -1;

	if (!counts)
		return -1;
	if (p->pruned_func == FUNC_NONE) {
		p->pruned_func = profile_func(p, FUNC_LABEL, "[pruned: rare stacks]", NULL, NULL);
		if (p->pruned_func == FUNC_NONE) {
			free(counts);
			return -1;
		}
	}
	marker = (struct frame_ref){ p->pruned_func, -1 };
	for (size_t i = 0; i < p->nstacks; i++)
		counts[i] = p->stacks[i].count;
	qsort(counts, p->nstacks, sizeof(*counts), cmp_u64);
	threshold = counts[want - 1];
	free(counts);
	/* Compact in place: stacks and their frames keep their order. */
	for (size_t i = 0; i < p->nstacks; i++) {
		struct stack_entry e = p->stacks[i];
		bool is_marker = e.n == 1 && p->arena[e.off].func == p->pruned_func;
		if (!is_marker && e.count <= threshold) {
			moved += e.count;
			continue;
		}
		memmove(p->arena + arena, p->arena + e.off, e.n * sizeof(*p->arena));
		e.off = arena;
		arena += e.n;
		if (is_marker)
			marker_at = (int)keep;
		p->stacks[keep++] = e;
	}
	p->nstacks = keep;
	p->narena = arena;
	p->pruned += moved;
	p->prunings++;
	if (marker_at >= 0) {
		p->stacks[marker_at].count += moved;
	} else {
		/* The marker takes the place of one of the dropped stacks. */
		uint64_t h = hash_bytes(0xcbf29ce484222325ull, &marker, sizeof(marker));
		p->arena[p->narena] = marker;
		p->stacks[p->nstacks++] = (struct stack_entry){ p->narena, 1, h, moved };
		p->narena++;
	}
	rebuild_index(p);
	return 0;
}

static uint64_t stack_hash(const struct frame_ref *frames, size_t n)
{
	return n ? hash_bytes(0xcbf29ce484222325ull, frames, n * sizeof(*frames))
		 : 0xcbf29ce484222325ull;
}

long profile_find(const struct profile *p, const struct frame_ref *frames, size_t n)
{
	uint64_t h = stack_hash(frames, n);

	if (!p->stack_slots)
		return -1;
	for (size_t s = h & (p->stack_slots - 1); p->stack_index[s];
	     s = (s + 1) & (p->stack_slots - 1)) {
		const struct stack_entry *e = &p->stacks[p->stack_index[s] - 1];
		if (e->hash == h && e->n == n &&
		    (n == 0 || memcmp(p->arena + e->off, frames, n * sizeof(*frames)) == 0))
			return (long)(p->stack_index[s] - 1);
	}
	return -1;
}

int profile_add(struct profile *p, const struct frame_ref *frames, size_t n, uint64_t weight)
{
	return profile_add_index(p, frames, n, weight) < 0 ? -1 : 0;
}

long profile_add_index(struct profile *p, const struct frame_ref *frames, size_t n,
		       uint64_t weight)
{
	uint64_t h = stack_hash(frames, n);
	struct stack_entry *e;
	size_t s;

	if (n > UINT32_MAX)
		return -1;
	if (p->nstacks * 2 >= p->stack_slots &&
	    rehash(&p->stack_index, &p->stack_slots, p->nstacks, stack_hash_at, p))
		return -1;
	for (s = h & (p->stack_slots - 1); p->stack_index[s]; s = (s + 1) & (p->stack_slots - 1)) {
		e = &p->stacks[p->stack_index[s] - 1];
		if (e->hash == h && e->n == n &&
		    (n == 0 || memcmp(p->arena + e->off, frames, n * sizeof(*frames)) == 0)) {
			e->count += weight;
			p->total += weight;
			return (long)(p->stack_index[s] - 1);
		}
	}
	if (p->max_stacks && p->nstacks >= p->max_stacks) {
		if (prune(p) != 0)
			return -1;
		/* The table changed: find the slot for the new stack again. */
		for (s = h & (p->stack_slots - 1); p->stack_index[s];
		     s = (s + 1) & (p->stack_slots - 1))
			;
	}
	if (p->nstacks == p->cap_stacks) {
		size_t ncap = p->cap_stacks ? p->cap_stacks * 2 : 256;
		struct stack_entry *ns = realloc(p->stacks, ncap * sizeof(*ns));
		if (!ns)
			return -1;
		p->stacks = ns;
		p->cap_stacks = ncap;
	}
	if (p->narena + n > p->cap_arena) {
		size_t ncap = p->cap_arena ? p->cap_arena * 2 : 4096;
		struct frame_ref *na;
		while (ncap < p->narena + n)
			ncap *= 2;
		na = realloc(p->arena, ncap * sizeof(*na));
		if (!na)
			return -1;
		p->arena = na;
		p->cap_arena = ncap;
	}
	if (n)
		memcpy(p->arena + p->narena, frames, n * sizeof(*frames));
	e = &p->stacks[p->nstacks];
	*e = (struct stack_entry){ p->narena, (uint32_t)n, h, weight };
	p->narena += n;
	p->stack_index[s] = (uint32_t)p->nstacks + 1;
	p->nstacks++;
	p->total += weight;
	return (long)(p->nstacks - 1);
}

bool profile_stack(const struct profile *p, size_t index, const struct frame_ref **frames,
		   size_t *n, uint64_t *count)
{
	const struct stack_entry *e;

	if (index >= p->nstacks)
		return false;
	e = &p->stacks[index];
	*frames = p->arena + e->off;
	*n = e->n;
	*count = e->count;
	return true;
}

bool profile_next(const struct profile *p, struct profile_iter *it,
		  const struct frame_ref **frames, size_t *n, uint64_t *count)
{
	const struct stack_entry *e;

	if (it->pos >= p->nstacks)
		return false;
	e = &p->stacks[it->pos++];
	*frames = p->arena + e->off;
	*n = e->n;
	*count = e->count;
	return true;
}

size_t profile_nstacks(const struct profile *p)
{
	return p->nstacks;
}

uint64_t profile_total(const struct profile *p)
{
	return p->total;
}
