/*
 * native_probe.c - drive the native stage by hand, for tests/native.
 *
 *   native_probe [options] PID
 *     --samples N        take N samples (default 1), 10 ms apart
 *     --show-internal    keep the interpreter's own C frames
 *     --debug-dir DIR    extra directory for separate debug files
 *     --raw              also print each thread's C stack with its flags
 *     --bench N          time N steady-state unwind+symbolise rounds of
 *                        each Python thread (the target stays stopped)
 *     --quiet            print the report only
 *
 * Attaches like `record` does (target_open, pyinterp_attach), then per
 * sample: stop every thread, walk the Python stacks, unwind and
 * symbolise each thread's C stack, merge, print, resume.  Output lines:
 *
 *   sample K thread TID py: FRAME;FRAME;...      (merge result in brackets
 *                                                 when not "merged")
 *   sample K thread TID native: FRAME;...        a thread Python does not know
 *   raw TID: ip symbol [flags] ...               with --raw
 *   bench TID depth D frames: X us per unwind+symbolise, Y us with merge
 *   report: ...                                  native_report(), verbose
 *
 * Frames are root first, "name (file:line)" or "name".  Built by the
 * tests against the project's objects (everything but src/main.c).
 */
#define _GNU_SOURCE
#include "pyspy/error.h"
#include "pyspy/native.h"
#include "pyspy/pyinterp.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void print_frames(struct profile *prof, const struct frame_ref *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct func *fn = profile_func_get(prof, f[i].func);
		if (i)
			putchar(';');
		if (!fn)
			printf("?");
		else if (fn->kind == FUNC_PYTHON && f[i].line >= 0)
			printf("%s (%s:%d)", fn->name, fn->short_file ? fn->short_file : "?",
			       (int)f[i].line);
		else
			printf("%s", fn->name);
	}
	putchar('\n');
}

static void print_raw(struct native *n, const struct native_stack *cs)
{
	printf("raw %d complete=%d error=%d n=%zu:", (int)cs->tid, cs->complete, cs->error, cs->n);
	for (size_t i = 0; i < cs->n; i++) {
		const struct native_sym *s = native_sym(n, cs->frames[i].sym);
		unsigned f = cs->frames[i].flags;
		printf(" %s[%s%s%s%s%s%s]", s ? s->name : "?", f & NATIVE_EVAL ? "E" : "",
		       f & NATIVE_EVAL_PART ? "P" : "", f & NATIVE_INTERP ? "I" : "",
		       f & NATIVE_SYSTEM ? "S" : "", f & NATIVE_EVAL_SPLIT ? "s" : "",
		       f & NATIVE_UNNAMED ? "?" : "");
	}
	putchar('\n');
}

static bool python_tid(const struct py_sample *s, pid_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return true;
	return false;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Steady-state cost: batches of 'rounds' samples of one thread, median
 * of the batches (the machine may be busy with other work).
 */
#define BATCHES 7
static void bench(struct native *n, struct profile *prof, const struct py_sample *s,
		  const struct py_thread_sample *th, struct native_stack *cs, uint8_t *entry,
		  struct frame_ref *out, int rounds)
{
	double unw[BATCHES], all[BATCHES];
	size_t nout;

	/* Warm: the first round fills the caches. */
	native_begin_sample(n);
	if (native_unwind(n, th->tid, cs) != 0)
		return;
	native_symbolise(n, cs);
	for (int b = 0; b < BATCHES; b++) {
		int64_t t0 = now_ns(), t1, t2;
		for (int i = 0; i < rounds; i++) {
			native_begin_sample(n);
			native_unwind(n, th->tid, cs);
			native_symbolise(n, cs);
		}
		t1 = now_ns();
		for (int i = 0; i < rounds; i++) {
			native_begin_sample(n);
			native_unwind(n, th->tid, cs);
			native_symbolise(n, cs);
			native_py_entries(n, s, th, cs, entry);
			native_thread_stack(n, prof, cs, s->frames + th->first, entry, th->nframes,
					    out, NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1, &nout);
		}
		t2 = now_ns();
		unw[b] = (double)(t1 - t0) / 1e3 / rounds;
		all[b] = (double)(t2 - t1) / 1e3 / rounds;
	}
	qsort(unw, BATCHES, sizeof(double), cmp_double);
	qsort(all, BATCHES, sizeof(double), cmp_double);
	printf("bench %d depth %zu frames %zu: %.1f us per unwind+symbolise, %.1f us with "
	       "merge (median of %d batches; fastest %.1f / %.1f)\n",
	       (int)th->tid, th->nframes, cs->n, unw[BATCHES / 2], all[BATCHES / 2], BATCHES,
	       unw[0], all[0]);
}

int main(int argc, char **argv)
{
	struct native_options opt = { 0 };
	struct target t;
	struct pyinterp pi;
	struct py_sample *s = calloc(1, sizeof(*s));
	struct native_stack *cs = calloc(1, sizeof(*cs));
	struct frame_ref *out = calloc(NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1, sizeof(*out));
	uint8_t *entry = calloc(PY_MAX_DEPTH, 1);
	struct profile *prof = profile_new();
	struct native *n = NULL;
	int samples = 1, rounds = 0, status = 0, rc;
	bool raw = false, quiet = false;
	pid_t pid = 0;
	sigset_t set;

	memset(&t, 0, sizeof(t));
	memset(&pi, 0, sizeof(pi));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--samples") && i + 1 < argc)
			samples = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--show-internal"))
			opt.show_internal = true;
		else if (!strcmp(argv[i], "--debug-dir") && i + 1 < argc)
			opt.debug_dirs = argv[++i];
		else if (!strcmp(argv[i], "--raw"))
			raw = true;
		else if (!strcmp(argv[i], "--quiet"))
			quiet = true;
		else if (!strcmp(argv[i], "--bench") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (argv[i][0] != '-')
			pid = atoi(argv[i]);
		else {
			fprintf(stderr, "native_probe: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!pid || !s || !cs || !out || !entry || !prof) {
		fprintf(stderr, "usage: native_probe [options] PID\n");
		return 2;
	}
	/* As the commands do: SIGCHLD is waited for, not handled. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);

	if ((rc = target_open(&t, pid, true)) == 0) {
		target_guard_crashes(&t);
		rc = pyinterp_attach(&pi, &t, prof);
	}
	if (rc) {
		fprintf(stderr, "native_probe: %s\n", perr_detail(rc));
		status = 1;
		goto done;
	}
	if (!(n = native_open(&t, &pi, &opt))) {
		fprintf(stderr, "native_probe: %s\n", perr_detail(-PERR_RUNTIME));
		status = 1;
		goto done;
	}
	s->keep_sources = true;
	for (int k = 0; k < samples; k++) {
		if (k)
			usleep(10000);
		target_refresh_threads(&t);
		target_read_states(&t);
		if ((rc = target_stop(&t, 1000)) != 0) {
			target_resume(&t);
			fprintf(stderr, "native_probe: cannot stop the target: %s\n", perr_detail(rc));
			status = 1;
			break;
		}
		native_begin_sample(n);
		if ((rc = pyinterp_sample(&pi, s)) != 0) {
			target_resume(&t);
			printf("sample %d: python walk failed: %s\n", k, perr_desc(rc));
			continue;
		}
		for (size_t i = 0; i < s->nthreads; i++) {
			const struct py_thread_sample *th = &s->threads[i];
			const struct frame_ref *py = s->frames + th->first;
			size_t nout = 0;
			int urc = th->tid ? native_unwind(n, th->tid, cs) : -PERR_TORN;

			if (urc == 0)
				native_symbolise(n, cs);
			if (native_py_entries(n, s, th, urc == 0 ? cs : NULL, entry) != 0)
				printf("sample %d thread %d: entry flags unreadable\n", k, (int)th->tid);
			rc = native_thread_stack(n, prof, urc == 0 ? cs : NULL, py, entry,
						 th->nframes, out, NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1,
						 &nout);
			if (!quiet) {
				printf("sample %d thread %d py", k, (int)th->tid);
				if (rc != NATIVE_MERGED)
					printf(" [%s]", native_merge_strerror(rc));
				printf(": ");
				print_frames(prof, out, nout);
			}
			if (raw && urc == 0) {
				print_raw(n, cs);
				printf("entries %d:", (int)th->tid);
				for (size_t f = 0; f < th->nframes; f++)
					printf(" %d", entry[f]);
				putchar('\n');
			}
			if (rounds && k == 0 && urc == 0)
				bench(n, prof, s, th, cs, entry, out, rounds);
		}
		/* Threads Python does not know: their C stack as it is. */
		for (size_t i = 0; i < t.nthreads; i++) {
			pid_t tid = t.threads[i].tid;
			size_t nout = 0;
			if (python_tid(s, tid) || !t.threads[i].stopped || quiet)
				continue;
			if (native_unwind(n, tid, cs) != 0) {
				printf("sample %d thread %d native: [unwind failed]\n", k, (int)tid);
				continue;
			}
			native_symbolise(n, cs);
			rc = native_thread_stack(n, prof, cs, NULL, NULL, 0, out,
						 NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1, &nout);
			printf("sample %d thread %d native", k, (int)tid);
			if (rc != NATIVE_MERGED)
				printf(" [%s]", native_merge_strerror(rc));
			printf(": ");
			print_frames(prof, out, nout);
			if (raw)
				print_raw(n, cs);
		}
		target_resume(&t);
	}
	fflush(stdout);
	printf("report:\n");
	fflush(stdout);
	native_report(n, stdout, true);
done:
	native_close(n);
	target_close(&t);
	pyinterp_release(&pi);
	py_sample_free(s);
	free(s);
	free(cs);
	free(out);
	free(entry);
	profile_free(prof);
	return status;
}
