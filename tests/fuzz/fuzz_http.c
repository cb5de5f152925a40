/*
 * fuzz_http.c - the HTTP requests of pyspy-c serve and pyspy-c web: any
 * bytes as a request (method, path, query parameters with any names,
 * values, repeats and lengths, Host, Authorization and the token cookie),
 * run through http_handle(), the dispatcher every request of the servers
 * goes through, and the route's handler:
 *   - serve's handlers over a small fixed agent store (two processes, a
 *     few slices and windows of the last minute),
 *   - web's handlers over a small SQLite store (tests/unit's fixture:
 *     two agents, windows of the last half hour), made once in a
 *     temporary folder,
 * each with no token on 127.0.0.1 and with a token off loopback.
 * Every answer must be complete: a 2xx, a 303 with its Location or a
 * 4xx, never a 5xx; a Content-Type; a text answer is one line; a JSON
 * answer parses.  Leaks are LeakSanitizer's to find.
 *
 * Input: lines ("\n"); the first byte of a line says what it is:
 *   S<n>      the server: 0 serve, 1 serve with a token, 2 web, 3 web
 *             with a token (first S wins; default 0)
 *   M<text>   the method (default GET)
 *   U<text>   the path (default "/")
 *   H<text>   the Host header         A<text>  the Authorization header
 *   C<text>   the token cookie
 *   Q<k>=<v>  a query parameter, in order; Q<k> alone: no value
 * Anything else is ignored.  Seeds: the requests of tests/e2e/test_serve.py
 * and test_web.py (seed.py).
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pyspy/http.h"
#include "pyspy/jsonparse.h"
#include "pyspy/serve.h"
#include "pyspy/store.h"
#include "serve/serve_internal.h"
#include "web/web_internal.h"
#include "../unit/store_fixture.h"

#define TOKEN "fuzz-token-0123456789abcdef"
#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct http_server *servers[4];
static struct serve_ctx sctx[2];
static struct serve_config scfg[2];
static struct store agent_store;
static struct web_ctx wctx;
static char dir[] = "/tmp/pyspyc-fuzz-http-XXXXXX";

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_http: cannot %s: %s\n", what, why);
	abort();
}

/* Two processes of the agent, sampled for the last 20 s: slices and windows. */
static void fill_agent(void)
{
	static const char *const names[] = { "main", "handle", "work", "<module>",
					     "\xff\xfe odd \"name\"\n<svg>" };
	struct sampler_proc procs[2] = {
		{ .pid = 100, .start_time = 1100, .serial = 1, .program = "python3 app.py --x \"y\"",
		  .python = "3.12.1", .samples = 100, .failed = 2 },
		{ .pid = 200, .start_time = 1200, .serial = 2, .program = "worker\n\x01\x7f",
		  .python = "2.7.18", .samples = 90, .late = 1, .exited = true },
	};
	struct timespec ts;
	struct profile *p = profile_new(), *w = profile_new();
	uint32_t ids[5];
	int64_t now;

	scfg[0] = (struct serve_config){ .so = { .rate = 100 }, .window = 10, .retention = 600,
					 .listen = "127.0.0.1:8123" };
	if (!p || !w || store_init(&agent_store, &scfg[0]) != 0 ||
	    profile_func(p, FUNC_LABEL, "[pruned: rare stacks]", NULL, NULL) != SERVE_FUNC_PRUNED ||
	    profile_func(p, FUNC_LABEL, "[process]", NULL, NULL) != SERVE_FUNC_PROCESS)
		die("make the agent's store", "out of memory");
	for (size_t i = 0; i < 5; i++)
		ids[i] = profile_func(p, FUNC_PYTHON, names[i], "/srv/app.py", "app.py");
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (int s = 0; s < 20; s++) {
		struct chunk *slice, *window = NULL;
		for (int k = 0; k < 2; k++) {
			struct frame_ref fr[5] = { { SERVE_FUNC_PROCESS, procs[k].serial },
						   { ids[3], 1 }, { ids[0], 10 },
						   { ids[1 + (s + k) % 2], 20 + s },
						   { ids[4], -1 } };
			profile_add(p, fr, 3 + (size_t)((s + k) % 3), 1 + (uint64_t)s);
			profile_add(w, fr, 3 + (size_t)((s + k) % 3), 1 + (uint64_t)s);
		}
		profile_add(p, &(struct frame_ref){ SERVE_FUNC_PRUNED, -1 }, 1, 1);
		if (store_sync_funcs(&agent_store, p) != 0)
			die("make the agent's store", "out of memory");
		slice = chunk_from_profile(p, procs, 2, false);
		if (!slice)
			die("make the agent's store", "out of memory");
		slice->start_ns = now - (int64_t)(20 - s) * 1000000000;
		slice->end_ns = slice->start_ns + 1000000000;
		slice->samples = slice->proc_samples = 2;
		if (s % 10 == 9) {
			window = chunk_from_profile(w, procs, 2, s == 19);
			if (!window)
				die("make the agent's store", "out of memory");
			window->start_ns = slice->end_ns - 10000000000ll;
			window->end_ns = slice->end_ns;
			window->samples = window->proc_samples = 20;
			profile_reset(w);
		}
		store_publish(&agent_store, slice, window, procs, 2);
		profile_reset(p);
	}
	profile_free(p);
	profile_free(w);
	/* /debug/pprof/profile waits for the slices to come: not here. */
	agent_store.stopping = true;
}

/* Two agents' windows of the last half hour, in an SQLite store. */
static void fill_web(void)
{
	struct store_options co = { .create = true }, ro = { .read_only = true };
	char path[64], err[1024];
	struct store_db *s;
	int e;

	snprintf(path, sizeof(path), "%s/store.db", dir);
	s = store_open(path, &co, &e, err, sizeof(err));
	if (!s)
		die("create the store", err);
	if (fx_fill(s, (int64_t)time(NULL) / 60 * 60 - 1800, 150, 50) != 0)
		die("fill the store", store_errmsg(s));
	store_close(s);
	pthread_mutex_init(&wctx.lock, NULL);
	pthread_cond_init(&wctx.freed, NULL);
	for (int i = 0; i < WEB_CONNECTIONS; i++)
		if (!(wctx.db[i] = store_open(path, &ro, &e, err, sizeof(err))))
			die("open the store", err);
}

/* At exit: the store's files and the folder (the connections may stay open). */
static void remove_dir(void)
{
	static const char *const names[] = { "store.db", "store.db-wal", "store.db-shm", "token" };
	char path[96];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tok[64], err[512];
	struct http_config hc;
	FILE *f;

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		die("make a folder", "mkdtemp failed");
	atexit(remove_dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	f = fopen(tok, "w");
	if (!f || fputs(TOKEN "\n", f) < 0 || fclose(f) != 0 || chmod(tok, 0600) != 0)
		die("write the token", tok);
	fill_agent();
	fill_web();
	scfg[1] = scfg[0];
	scfg[1].listen = "0.0.0.0:8123";
	scfg[1].token_file = tok;
	for (int i = 0; i < 2; i++) {
		sctx[i] = (struct serve_ctx){ .store = &agent_store, .c = &scfg[i] };
		serve_http_config(&sctx[i], &scfg[i], &hc);
		if (!(servers[i] = sctx[i].http = http_new(&hc, err, sizeof(err))))
			die("make the agent's server", err);
		web_http_config(&wctx, &(struct web_config){ .listen = i ? "[::]:8124" :
							     "127.0.0.1:8124",
							     .token_file = i ? tok : NULL },
				&hc);
		if (!(servers[2 + i] = http_new(&hc, err, sizeof(err))))
			die("make the web server", err);
	}
	/* The token lives in the servers now; the store's file stays open. */
	unlink(tok);
	return 0;
}

static const char *header(const struct http_output *o, const char *name)
{
	for (size_t i = 0; i < o->nheaders; i++)
		if (strcmp(o->headers[i][0], name) == 0)
			return o->headers[i][1];
	return NULL;
}

static void fail(const struct http_input *in, const struct http_output *o, const char *why)
{
	fprintf(stderr, "fuzz_http: %s: %s %s -> %d: %.*s\n", why, in->method, in->url, o->status,
		(int)(o->len < 300 ? o->len : 300), (const char *)o->body);
	abort();
}

static void check(const struct http_input *in, const struct http_output *o)
{
	const char *type = header(o, "Content-Type");
	const char *body = o->body;

	if (o->status < 200 || o->status >= 500 || (o->status >= 300 && o->status != 303 &&
						     o->status < 400))
		fail(in, o, "a status bad input must not get");
	if (!type || !header(o, "X-Content-Type-Options") || !header(o, "Cache-Control"))
		fail(in, o, "headers missing");
	if (o->len && !body)
		fail(in, o, "no body");
	if (o->status == 303 && (!header(o, "Location") || !header(o, "Set-Cookie")))
		fail(in, o, "a redirect without its Location and cookie");
	if (o->status == 401 && !header(o, "WWW-Authenticate"))
		fail(in, o, "a 401 without WWW-Authenticate");
	if (o->status >= 400 && (!o->len || memchr(body, '\n', o->len) != body + o->len - 1 ||
				 memchr(body, 0, o->len)))
		fail(in, o, "an error that is not one line of text");
	/* serve's folded stacks: whole lines (none when nothing matched). */
	if (strncmp(type, "text/plain; charset", 19) == 0 && o->len && body[o->len - 1] != '\n')
		fail(in, o, "a text answer that is not whole lines");
	if (strcmp(type, "application/json") == 0 && strcmp(in->url, "/") != 0 &&
	    strncmp(in->url, "/assets/", 8) != 0) {
		struct jp_limits lim = { 512, 1u << 24, 1u << 24 };
		struct jp_value v;
		char err[256];
		if (jp_parse(body, o->len, &lim, &v, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_http: %s\n", err);
			fail(in, o, "a JSON answer that does not parse");
		}
		jp_free(&v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_arg args[MAX_ARGS];
	struct http_input in = { .method = "GET", .url = "/", .args = args };
	struct http_output out;
	char *text = malloc(size + 1), *line, *next;
	int server = -1;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = text; line; line = next) {
		char *v = line + 1, *eq;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		switch (line[0]) {
		case 'S':
			if (server < 0)
				server = (*v - '0') & 3;
			break;
		case 'M': in.method = v; break;
		case 'U': in.url = v; break;
		case 'H': in.host = v; break;
		case 'A': in.authorization = v; break;
		case 'C': in.cookie = v; break;
		case 'Q':
			if (in.nargs == MAX_ARGS)
				break;
			eq = strchr(v, '=');
			if (eq)
				*eq++ = '\0';
			args[in.nargs++] = (struct http_arg){ v, eq };
			break;
		default:
			break;
		}
	}
	if (http_handle(servers[server < 0 ? 0 : server], &in, &out) == 0) {
		check(&in, &out);
		http_output_release(&out);
	}
	free(text);
	return 0;
}
