/*
 * objects.c - a few kinds of Python object read out of the target: type
 * names, ints, strings compared with a C string, dicts and instance
 * attributes.  Used off the sampling path only (thread names, dump), on a
 * target that may be running: every length is bounded, every read
 * checked, and whatever does not fit is "not found" (-PERR_TORN).
 *
 * Dicts, by layout (the offsets are in struct py_layout):
 *   2.7        open addressing: ma_table of ma_mask + 1 entries
 *              {hash, key, value}; free and dummy slots have no value
 *   3.6-3.10   compact: ma_keys -> {dk_size, ..., dk_nentries, dk_indices[]}
 *              then the entries {hash, key, value} in insertion order,
 *              after dk_size indices of 1, 2, 4 or 8 bytes; a split
 *              table keeps the values apart, in ma_values[i]
 *   3.11+      the same with dk_log2_size, dk_log2_index_bytes, dk_kind:
 *              entries of str-only keys drop the hash {key, value}
 * Instance attributes: the dict at tp_dictoffset, or from 3.11 a
 * "managed" dict before the object (Py_TPFLAGS_MANAGED_DICT), or values
 * without a dict, indexed like the type's shared keys (ht_cached_keys):
 *   3.11  values pointer at obj - 32, dict pointer at obj - 24
 *   3.12  obj - 24 holds the dict, or the values minus one (low bit set)
 *   3.13+ obj - 24 holds the dict; the values live inline after the
 *         object (Py_TPFLAGS_INLINE_VALUES), valid while no dict exists
 */
#include "pyspy/error.h"
#include "python_internal.h"
#include "pyspy/pystr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TPFLAGS_INLINE_VALUES (1u << 2)   /* 3.13+ */
#define TPFLAGS_MANAGED_DICT (1u << 4)    /* 3.11+ */
#define MAX_DICT_ENTRIES 8192
#define MAX_NAME 128

int py_type_name(struct pyinterp *pi, uint64_t obj, char *out, size_t cap)
{
	const struct py_layout *l = &pi->layout;
	uint64_t type, name;
	int rc;

	if ((rc = target_read_ptr(pi->target, obj + (uint64_t)l->object_type, &type)) != 0 ||
	    (rc = target_read_ptr(pi->target, type + (uint64_t)l->type_name, &name)) != 0)
		return rc;
	memset(out, 0, cap);
	/* Usually one read; near the end of a mapping, in 8-byte pieces. */
	if (target_read(pi->target, name, out, cap - 1) == 0) {
		out[cap - 1] = '\0';
		return 0;
	}
	for (size_t got = 0; got + 1 < cap; got += 8) {
		size_t want = cap - 1 - got < 8 ? cap - 1 - got : 8;
		if (target_read(pi->target, name + got, out + got, want) != 0)
			return got ? 0 : -PERR_TORN;
		if (memchr(out + got, 0, want))
			break;
	}
	out[cap - 1] = '\0';
	return 0;
}

/* Whether obj's type is named 'name' (or, with name2, that one). */
static bool type_is(struct pyinterp *pi, uint64_t obj, const char *name, const char *name2)
{
	char t[64];

	return obj && py_type_name(pi, obj, t, sizeof(t)) == 0 &&
	       (strcmp(t, name) == 0 || (name2 && strcmp(t, name2) == 0));
}

int py_read_int(struct pyinterp *pi, uint64_t obj, bool is_int27, bool *neg, uint64_t *mag)
{
	const struct py_layout *l = &pi->layout;
	uint32_t digits[3] = { 0 };
	int64_t size;
	size_t nd;
	int rc;

	*mag = 0;
	*neg = false;
	if (is_int27) {
		/* 2.7 PyIntObject: a C long after the header */
		if ((rc = target_read(pi->target, obj + 16, &size, sizeof(size))) != 0)
			return rc;
		*neg = size < 0;
		*mag = size < 0 ? (uint64_t)0 - (uint64_t)size : (uint64_t)size;
		return 0;
	}
	if ((rc = target_read(pi->target, obj + (uint64_t)l->long_tag, &size, sizeof(size))) != 0)
		return rc;
	if (pi->major == 3 && pi->minor >= 12) {
		/* lv_tag: digit count << 3 | sign (0 positive, 1 zero, 2 negative) */
		nd = (size_t)((uint64_t)size >> 3);
		*neg = (size & 3) == 2;
	} else {
		nd = (size_t)(size < 0 ? (uint64_t)0 - (uint64_t)size : (uint64_t)size);
		*neg = size < 0;
	}
	if (nd > 2)
		return -PERR_TORN; /* more than 60 bits: not what we look for */
	if (nd && (rc = target_read(pi->target, obj + (uint64_t)l->long_digits, digits, nd * 4)) != 0)
		return rc;
	for (size_t i = nd; i-- > 0;)
		*mag = *mag << 30 | (digits[i] & 0x3fffffff);
	return 0;
}

/* Whether the str at addr is 'want' (ASCII), in at most two reads. */
static bool str_equals(struct pyinterp *pi, uint64_t addr, const char *want)
{
	const struct py_layout *l = &pi->layout;
	size_t n = strlen(want);
	uint8_t hdr[128];
	char data[MAX_NAME];
	struct pystr_info si;
	size_t hlen = (size_t)(pi->layout.family == PY_FAMILY_27 ? l->bytes_sval
								 : l->unicode_compact_size);

	if (!addr || n >= sizeof(data) || hlen > sizeof(hdr) ||
	    target_read(pi->target, addr, hdr, hlen) != 0)
		return false;
	if (pi->layout.family == PY_FAMILY_27 ?
	    pystr_bytes_info(hdr, hlen, l, addr, sizeof(data), &si) != 0 :
	    pystr_unicode_info(hdr, hlen, l, addr, &si) != 0)
		return false;
	if (si.cut || si.kind != 1 || si.nchars != n)
		return false;
	return target_read(pi->target, si.data, data, n) == 0 && memcmp(data, want, n) == 0;
}

/* A dict's entries, copied: key and value of each, in insertion order. */
struct items {
	uint64_t *key, *value;
	size_t n;
};

static void items_free(struct items *it)
{
	free(it->key);
	free(it->value);
	it->key = it->value = NULL;
	it->n = 0;
}

static int items_alloc(struct items *it, size_t n)
{
	it->key = calloc(n ? n : 1, sizeof(*it->key));
	it->value = calloc(n ? n : 1, sizeof(*it->value));
	it->n = 0;
	return it->key && it->value ? 0 : -PERR_NOMEM;
}

/* 2.7: every slot of ma_table that holds a value. */
static int dict_items_27(struct pyinterp *pi, uint64_t dict, struct items *it)
{
	const struct py_layout *l = &pi->layout;
	uint64_t mask, table, *slots;
	int rc;

	if ((rc = target_read_ptr(pi->target, dict + (uint64_t)l->dict_mask, &mask)) != 0 ||
	    (rc = target_read_ptr(pi->target, dict + (uint64_t)l->dict_table, &table)) != 0)
		return rc;
	/* (mask + 1 wraps to 0 for a mask of all ones.) */
	if (mask >= MAX_DICT_ENTRIES || ((mask + 1) & mask))
		return -PERR_TORN;
	slots = malloc((mask + 1) * 24);
	if (!slots || items_alloc(it, (size_t)mask + 1) != 0) {
		free(slots);
		return -PERR_NOMEM;
	}
	rc = target_read(pi->target, table, slots, (mask + 1) * 24);
	for (size_t i = 0; rc == 0 && i <= mask; i++)
		if (slots[3 * i + 1] && slots[3 * i + 2]) {
			it->key[it->n] = slots[3 * i + 1];
			it->value[it->n++] = slots[3 * i + 2];
		}
	free(slots);
	return rc;
}

/*
 * The entries of a keys object (3.6+), with values from 'values' (a split
 * table's value array) when non-zero, else from the entries; with
 * 'index_only', each entry's index instead of its value (for values read
 * one by one).
 */
static int keys_items(struct pyinterp *pi, uint64_t keys, uint64_t values, bool index_only,
		      struct items *it)
{
	const struct py_layout *l = &pi->layout;
	bool log2 = pi->minor >= 11;
	uint8_t hdr[64];
	uint64_t size, entries, *e = NULL, *v = NULL;
	int64_t nentries;
	size_t esz = 24, hlen = (size_t)l->dictkeys_indices;
	int rc;

	if (l->dictkeys_indices < 0 || hlen > sizeof(hdr))
		return -PERR_VERSION;
	if ((rc = target_read(pi->target, keys, hdr, hlen)) != 0)
		return rc;
	memcpy(&nentries, hdr + l->dictkeys_nentries, 8);
	if (nentries < 0 || nentries > MAX_DICT_ENTRIES)
		return -PERR_TORN;
	if (log2) {
		uint8_t log2_size = hdr[l->dictkeys_size], log2_index = hdr[l->dictkeys_size + 1];
		uint8_t kind = hdr[l->dictkeys_size + 2];
		if (log2_size > 30 || log2_index > 33 || kind > 2)
			return -PERR_TORN;
		size = (uint64_t)1 << log2_size;
		entries = keys + hlen + ((uint64_t)1 << log2_index);
		esz = kind == 0 ? 24 : 16; /* DICT_KEYS_GENERAL has the hash */
	} else {
		memcpy(&size, hdr + l->dictkeys_size, 8);
		if (!size || size > ((uint64_t)1 << 30) || (size & (size - 1)))
			return -PERR_TORN;
		entries = keys + hlen + size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : 4);
	}
	if ((uint64_t)nentries > size)
		return -PERR_TORN;
	/* 3.13+: PyDictValues starts with capacity, size, embedded, valid. */
	if (values && pi->minor >= 13)
		values += 8;
	e = malloc((size_t)nentries * esz + 1);
	v = values ? malloc((size_t)nentries * 8 + 1) : NULL;
	if (!e || (values && !v) || items_alloc(it, (size_t)nentries) != 0) {
		free(e);
		free(v);
		return -PERR_NOMEM;
	}
	rc = target_read(pi->target, entries, e, (size_t)nentries * esz);
	if (rc == 0 && values)
		rc = target_read(pi->target, values, v, (size_t)nentries * 8);
	for (int64_t i = 0; rc == 0 && i < nentries; i++) {
		const uint64_t *entry = (const uint64_t *)((const uint8_t *)e + (size_t)i * esz);
		uint64_t key = entry[esz == 24 ? 1 : 0];
		uint64_t value = index_only ? (uint64_t)i : values ? v[i] : entry[esz == 24 ? 2 : 1];
		if (key && (value || index_only)) {
			it->key[it->n] = key;
			it->value[it->n++] = value;
		}
	}
	free(e);
	free(v);
	return rc;
}

static int dict_items(struct pyinterp *pi, uint64_t dict, struct items *it)
{
	const struct py_layout *l = &pi->layout;
	uint64_t keys, values;
	int rc;

	if (l->free_threaded)
		return -PERR_VERSION; /* other object and keys headers; not read */
	if (!type_is(pi, dict, "dict", NULL))
		return -PERR_TORN;
	if (l->family == PY_FAMILY_27)
		return dict_items_27(pi, dict, it);
	if ((rc = target_read_ptr(pi->target, dict + (uint64_t)l->dict_keys, &keys)) != 0 ||
	    (rc = target_read_ptr(pi->target, dict + (uint64_t)l->dict_values, &values)) != 0)
		return rc;
	return keys_items(pi, keys, values, false, it);
}

int py_dict_get_str(struct pyinterp *pi, uint64_t dict, const char *key, uint64_t *value)
{
	struct items it = { 0 };
	int rc = dict_items(pi, dict, &it);

	for (size_t i = 0; rc == 0 && i < it.n; i++)
		if (str_equals(pi, it.key[i], key)) {
			*value = it.value[i];
			items_free(&it);
			return 0;
		}
	items_free(&it);
	return rc ? rc : -PERR_TORN;
}

int py_dict_each(struct pyinterp *pi, uint64_t dict,
		 int (*fn)(void *ctx, uint64_t key, uint64_t value), void *ctx)
{
	struct items it = { 0 };
	int rc = dict_items(pi, dict, &it);

	for (size_t i = 0; rc == 0 && i < it.n; i++)
		if ((rc = fn(ctx, it.key[i], it.value[i])) != 0)
			break;
	items_free(&it);
	return rc > 0 ? 0 : rc;
}

/*
 * Attribute 'name' from a value array laid out like the type's shared keys
 * (values[i] for key i; 'capacity' values at most, 0: unknown), reading
 * only that value: an object made before the keys grew has fewer.
 */
static int shared_values_get(struct pyinterp *pi, uint64_t type, uint64_t values,
			     size_t capacity, const char *name, uint64_t *value)
{
	struct items it = { 0 };
	uint64_t keys;
	int rc;

	if (pi->layout.heaptype_cached_keys < 0)
		return -PERR_VERSION;
	if ((rc = target_read_ptr(pi->target, type + (uint64_t)pi->layout.heaptype_cached_keys,
				  &keys)) != 0 ||
	    (rc = keys_items(pi, keys, 0, true, &it)) != 0) {
		items_free(&it);
		return rc;
	}
	rc = -PERR_TORN;
	for (size_t i = 0; i < it.n; i++)
		if (str_equals(pi, it.key[i], name)) {
			uint64_t ix = it.value[i];
			if (capacity && ix >= capacity)
				break;
			rc = target_read_ptr(pi->target, values + 8 * ix, value);
			if (rc == 0 && !*value)
				rc = -PERR_TORN; /* deleted */
			break;
		}
	items_free(&it);
	return rc;
}

int py_object_attr(struct pyinterp *pi, uint64_t obj, const char *name, uint64_t *value)
{
	const struct py_layout *l = &pi->layout;
	uint64_t type, flags = 0, slot = 0;
	int64_t basicsize = 0, dictoffset = 0;
	int rc;

	if (l->free_threaded || l->type_flags < 0)
		return -PERR_VERSION;
	if ((rc = target_read_ptr(pi->target, obj + (uint64_t)l->object_type, &type)) != 0 ||
	    (rc = target_read_ptr(pi->target, type + (uint64_t)l->type_flags, &flags)) != 0 ||
	    (rc = target_read(pi->target, type + (uint64_t)l->type_basicsize, &basicsize, 8)) != 0 ||
	    (rc = target_read(pi->target, type + (uint64_t)l->type_dictoffset, &dictoffset, 8)) != 0)
		return rc;
	if (pi->major == 3 && pi->minor >= 11 && (flags & TPFLAGS_MANAGED_DICT)) {
		if ((rc = target_read_ptr(pi->target, obj - 24, &slot)) != 0)
			return rc;
		if (pi->minor == 11) {
			uint64_t values;
			if (slot)
				return py_dict_get_str(pi, slot, name, value);
			if ((rc = target_read_ptr(pi->target, obj - 32, &values)) != 0)
				return rc;
			return values ? shared_values_get(pi, type, values, 0, name, value) : -PERR_TORN;
		}
		if (pi->minor == 12) {
			if (slot & 1)
				return shared_values_get(pi, type, slot + 1, 0, name, value);
			return slot ? py_dict_get_str(pi, slot, name, value) : -PERR_TORN;
		}
		if (slot)
			return py_dict_get_str(pi, slot, name, value);
		if (flags & TPFLAGS_INLINE_VALUES) {
			uint8_t head[4]; /* capacity, size, embedded, valid */
			uint64_t values = obj + (uint64_t)basicsize;
			if (basicsize <= 0 || basicsize > 4096 ||
			    (rc = target_read(pi->target, values, head, sizeof(head))) != 0)
				return rc ? rc : -PERR_TORN;
			if (!head[3])
				return -PERR_TORN;
			return shared_values_get(pi, type, values + 8, head[0], name, value);
		}
		return -PERR_TORN;
	}
	if (dictoffset <= 0 || dictoffset > 4096)
		return -PERR_TORN;
	if ((rc = target_read_ptr(pi->target, obj + (uint64_t)dictoffset, &slot)) != 0)
		return rc;
	return slot ? py_dict_get_str(pi, slot, name, value) : -PERR_TORN;
}

#define MODULE_DICT 16  /* PyModuleObject: md_dict after the object header */

int py_module_dict(struct pyinterp *pi, uint64_t interp, const char *module, uint64_t *dict)
{
	uint64_t modules, mod;
	int rc;

	if (pi->layout.interp_modules < 0)
		return -PERR_VERSION;
	if ((rc = target_read_ptr(pi->target, interp + (uint64_t)pi->layout.interp_modules,
				  &modules)) != 0)
		return rc;
	if (!modules)
		return -PERR_TORN;
	if ((rc = py_dict_get_str(pi, modules, module, &mod)) != 0)
		return rc;
	if ((rc = target_read_ptr(pi->target, mod + MODULE_DICT, dict)) != 0)
		return rc;
	return *dict ? 0 : -PERR_TORN;
}

int py_module_attr(struct pyinterp *pi, uint64_t interp, const char *module, const char *name,
		   uint64_t *value)
{
	uint64_t dict;
	int rc = py_module_dict(pi, interp, module, &dict);

	return rc ? rc : py_dict_get_str(pi, dict, name, value);
}
