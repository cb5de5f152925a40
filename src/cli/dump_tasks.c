/*
 * dump_tasks.c - dump --async: the asyncio tasks, as a tree of who awaits
 * whom (text) or a list (JSON).
 *
 * Text: a task not awaited by any task is a root; under each task, its
 * await chain (outermost coroutine first), then the tasks it awaits,
 * indented one step more.  A task awaited by several is shown in full
 * under the first and as "(shown above)" under the others; tasks that
 * only await each other in a loop are shown as roots afterwards; the tree
 * stops 64 tasks deep.
 */
#include "pyspy/cli.h"
#include "pyspy/json.h"
#include "pyspy/output.h"
#include "pyspy/pyasync.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TREE_DEPTH 64

struct tree {
	const struct py_tasks *t;
	const struct profile *prof;
	bool full;
	FILE *out;
	bool *shown;
	size_t *rank;           /* position of each task by name, then address */
	struct py_task_edge *by_awaiter, *by_awaited;  /* edges sorted both ways */
	size_t *from, *to;      /* first edge of each task in by_awaiter, by_awaited */
};

static const struct py_tasks *sort_tasks;
static const size_t *sort_rank;

static int by_name(const void *x, const void *y)
{
	const struct py_task *a = &sort_tasks->tasks[*(const size_t *)x];
	const struct py_task *b = &sort_tasks->tasks[*(const size_t *)y];
	int c = strcmp(a->name, b->name);

	return c ? c : a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int cmp_awaiter(const void *x, const void *y)
{
	const struct py_task_edge *a = x, *b = y;

	if (a->awaiter != b->awaiter)
		return a->awaiter < b->awaiter ? -1 : 1;
	return sort_rank[a->awaited] < sort_rank[b->awaited] ? -1 : 1;
}

static int cmp_awaited(const void *x, const void *y)
{
	const struct py_task_edge *a = x, *b = y;

	if (a->awaited != b->awaited)
		return a->awaited < b->awaited ? -1 : 1;
	return sort_rank[a->awaiter] < sort_rank[b->awaiter] ? -1 : 1;
}

static void tree_free(struct tree *tr)
{
	free(tr->shown);
	free(tr->rank);
	free(tr->by_awaiter);
	free(tr->by_awaited);
	free(tr->from);
	free(tr->to);
}

/* The edges of every task both ways, children in name order. */
static int tree_init(struct tree *tr, const struct py_tasks *t)
{
	size_t n = t->ntasks, ne = t->nedges;
	size_t *order = calloc(n ? n : 1, sizeof(*order));

	memset(tr, 0, sizeof(*tr));
	tr->t = t;
	tr->shown = calloc(n ? n : 1, sizeof(*tr->shown));
	tr->rank = calloc(n ? n : 1, sizeof(*tr->rank));
	tr->by_awaiter = calloc(ne ? ne : 1, sizeof(*tr->by_awaiter));
	tr->by_awaited = calloc(ne ? ne : 1, sizeof(*tr->by_awaited));
	tr->from = calloc(n + 1, sizeof(*tr->from));
	tr->to = calloc(n + 1, sizeof(*tr->to));
	if (!order || !tr->shown || !tr->rank || !tr->by_awaiter || !tr->by_awaited ||
	    !tr->from || !tr->to) {
		free(order);
		tree_free(tr);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_tasks = t;
	qsort(order, n, sizeof(*order), by_name);
	for (size_t r = 0; r < n; r++)
		tr->rank[order[r]] = r;
	free(order);
	sort_rank = tr->rank;
	if (ne) {
		memcpy(tr->by_awaiter, t->edges, ne * sizeof(*t->edges));
		memcpy(tr->by_awaited, t->edges, ne * sizeof(*t->edges));
		qsort(tr->by_awaiter, ne, sizeof(*t->edges), cmp_awaiter);
		qsort(tr->by_awaited, ne, sizeof(*t->edges), cmp_awaited);
	}
	for (size_t i = 0, e = 0, f = 0; i <= n; i++) {
		while (e < ne && tr->by_awaiter[e].awaiter < i)
			e++;
		while (f < ne && tr->by_awaited[f].awaited < i)
			f++;
		tr->from[i] = e;
		tr->to[i] = f;
	}
	return 0;
}

static void task_line(const struct tree *tr, size_t i, int depth, const char *note)
{
	const struct py_task *tk = &tr->t->tasks[i];

	fprintf(tr->out, "%*stask \"%s\" (%s", depth * 4, "", tk->name,
		py_task_state_name(tk->state));
	if (tk->tid)
		fprintf(tr->out, ", thread %d", (int)tk->tid);
	fprintf(tr->out, ")%s\n", note);
}

/* Depth-first, each task in full once, at most MAX_TREE_DEPTH deep. */
static void show(struct tree *tr, size_t i, int depth)
{
	static char frame[8192];
	const struct py_task *tk = &tr->t->tasks[i];

	if (tr->shown[i]) {
		task_line(tr, i, depth, " (shown above)");
		return;
	}
	if (depth >= MAX_TREE_DEPTH) {
		task_line(tr, i, depth, " (deeper tasks not shown)");
		return;
	}
	tr->shown[i] = true;
	task_line(tr, i, depth, "");
	for (size_t k = 0; k < tk->nframes; k++) {
		output_frame_text(tr->prof, tr->t->frames[tk->first + k], tr->full, frame,
				  sizeof(frame));
		fprintf(tr->out, "%*s%s\n", depth * 4 + 4, "", frame);
	}
	if (tk->chain_cut)
		fprintf(tr->out, "%*s[await chain cut]\n", depth * 4 + 4, "");
	for (size_t e = tr->from[i]; e < tr->from[i + 1]; e++)
		show(tr, tr->by_awaiter[e].awaited, depth + 1);
}

int dump_tasks_text(const struct py_tasks *t, const struct profile *prof, bool full, FILE *out)
{
	struct tree tr;
	size_t running = 0, *order;

	for (size_t i = 0; i < t->ntasks; i++)
		running += t->tasks[i].state == PY_TASK_RUNNING;
	fprintf(out, "\nTasks: %zu (%zu running)", t->ntasks, running);
	if (t->more)
		fprintf(out, ", %zu more not listed", t->more);
	if (t->unreadable)
		fprintf(out, ", %zu unreadable", t->unreadable);
	fprintf(out, "\n");
	if (!t->ntasks)
		return 0;
	if (tree_init(&tr, t) != 0)
		return -1;
	tr.prof = prof;
	tr.full = full;
	tr.out = out;
	if (!(order = calloc(t->ntasks, sizeof(*order)))) {
		tree_free(&tr);
		return -1;
	}
	for (size_t i = 0; i < t->ntasks; i++)
		order[tr.rank[i]] = i;
	/* Roots (awaited by no task), then what only loops reach. */
	for (size_t o = 0; o < t->ntasks; o++)
		if (tr.to[order[o]] == tr.to[order[o] + 1])
			show(&tr, order[o], 0);
	for (size_t o = 0; o < t->ntasks; o++)
		if (!tr.shown[order[o]])
			show(&tr, order[o], 0);
	free(order);
	tree_free(&tr);
	return 0;
}

static void frame_json(struct json *j, const struct profile *prof, struct frame_ref fr)
{
	const struct func *fn = profile_func_get(prof, fr.func);

	json_object(j);
	json_kstring(j, "function", fn ? fn->name : "?");
	json_kstring(j, "file", fn ? fn->file : NULL);
	json_kstring(j, "short_file", fn ? fn->short_file : NULL);
	json_kint(j, "line", fr.line);
	json_object_end(j);
}

int dump_tasks_json(const struct py_tasks *t, const struct profile *prof, FILE *out)
{
	struct tree tr;
	struct json j;

	if (tree_init(&tr, t) != 0)
		return -1;
	json_init(&j, out);
	json_array(&j);
	for (size_t i = 0; i < t->ntasks; i++) {
		const struct py_task *tk = &t->tasks[i];

		json_object(&j);
		json_kuint(&j, "address", tk->addr);
		json_kstring(&j, "name", tk->name);
		json_kstring(&j, "state", py_task_state_name(tk->state));
		json_kint(&j, "tid", tk->tid);
		json_key(&j, "chain");
		json_array(&j);
		for (size_t k = 0; k < tk->nframes; k++)
			frame_json(&j, prof, t->frames[tk->first + k]);
		json_array_end(&j);
		json_kbool(&j, "chain_cut", tk->chain_cut);
		for (int dir = 0; dir < 2; dir++) {
			json_key(&j, dir ? "awaited_by" : "awaits");
			json_array(&j);
			if (dir)
				for (size_t e = tr.to[i]; e < tr.to[i + 1]; e++)
					json_uint(&j, t->tasks[tr.by_awaited[e].awaiter].addr);
			else
				for (size_t e = tr.from[i]; e < tr.from[i + 1]; e++)
					json_uint(&j, t->tasks[tr.by_awaiter[e].awaited].addr);
			json_array_end(&j);
		}
		json_object_end(&j);
	}
	json_array_end(&j);
	tree_free(&tr);
	return 0;
}
