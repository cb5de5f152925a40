/*
 * idmap.c - a hash map from byte strings to int64 values, for the store's
 * id caches (a function, frame, stack or series -> its row id) and for
 * adding up a batch's counts before they are written.  Open addressing,
 * linear probing, keys copied; grows at half full.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

struct idmap_slot {
	uint64_t hash;
	uint8_t *key;            /* NULL: empty */
	size_t len;
	int64_t val;
};

/* FNV-1a, 64 bits.  Not collision-proof: every lookup compares the key. */
uint64_t store_hash(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void idmap_init(struct idmap *m)
{
	memset(m, 0, sizeof(*m));
}

void idmap_clear(struct idmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

void idmap_release(struct idmap *m)
{
	idmap_clear(m);
}

static struct idmap_slot *find(const struct idmap *m, uint64_t h, const void *key, size_t len)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct idmap_slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

bool idmap_get(const struct idmap *m, const void *key, size_t len, int64_t *val)
{
	struct idmap_slot *s;

	if (!m->cap)
		return false;
	s = find(m, store_hash(key, len, 0), key, len);
	if (!s->key)
		return false;
	*val = s->val;
	return true;
}

static int grow(struct idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct idmap_slot *old = m->slots, *slots = calloc(cap, sizeof(*slots));
	size_t oldcap = m->cap;

	if (!slots)
		return -1;
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*find(m, old[i].hash, old[i].key, old[i].len) = old[i];
	free(old);
	return 0;
}

int idmap_put(struct idmap *m, const void *key, size_t len, int64_t val)
{
	uint64_t h = store_hash(key, len, 0);
	struct idmap_slot *s;

	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -1;
	s = find(m, h, key, len);
	if (!s->key) {
		s->key = malloc(len ? len : 1);
		if (!s->key)
			return -1;
		memcpy(s->key, key, len);
		s->len = len;
		s->hash = h;
		m->n++;
	}
	s->val = val;
	return 0;
}
