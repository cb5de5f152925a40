/*
 * http.c - the one file that talks to libmicrohttpd (include/pyspy/http.h).
 *
 * We open the listening socket ourselves, on the exact address asked
 * (libmicrohttpd would bind every interface unless told), and hand it
 * over; every server option is set in start_daemon(), in one place: a
 * thread per connection (handlers may block, as a pprof scrape does for
 * its N seconds) under a connection limit, a per-address limit, an idle
 * timeout (libmicrohttpd's default is none) and a memory bound per
 * connection that the request line and headers must fit (else 431/414,
 * answered by libmicrohttpd).
 *
 * One dispatcher runs before any handler (http_handle(), which takes
 * the request as plain strings: the fuzz target feeds it without a
 * socket): GET or HEAD (405), a known
 * path (404), the Host header (421: a page in a browser that rebinds a
 * name of its own to 127.0.0.1 must not read the agent), the bearer
 * token (401, compared in constant time), and the query (400: at most
 * HTTP_MAX_PARAMS, each value at most HTTP_MAX_PARAM_LEN bytes, names
 * the route takes).  Every error is a one-line text body.
 *
 * Servers for browsers (pyspy-c web) also take the token as a cookie,
 * set by one visit with ?token=TOKEN (then a redirect drops it from the
 * URL), and add their own headers (Content-Security-Policy) to every
 * response.
 */
#define _GNU_SOURCE
#include "pyspy/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097100
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define THREAD_STACK (1u << 20)
#define LISTEN_BACKLOG 64

struct http_server {
	struct MHD_Daemon *mhd;
	int fd;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	bool loopback;
	unsigned port;
	char token[HTTP_MAX_TOKEN + 1];
	size_t token_len;              /* 0: no token */
	/* The token as the cookie carries it: percent-encoded but for
	   letters, digits and "-._~" (a cookie value has no ';', ',', ...). */
	char cookie[3 * HTTP_MAX_TOKEN + 1];
	size_t cookie_len;
	const char *const *headers;
	const char *cache_control, *help;
	bool token_cookie;
	unsigned max_params, max_param_len;
	size_t memory_per_conn;
	uint64_t requests, s2xx, s4xx, s5xx;   /* atomics */
};

struct http_request {
	const char *url;
	char *location, *set_cookie;   /* a redirect of the token's visit (malloc'ed) */
	bool head;
	unsigned max_params, max_param_len;
	size_t nparams;
	const char *keys[HTTP_MAX_PARAMS_CAP];
	const char *values[HTTP_MAX_PARAMS_CAP];
	bool too_many, too_long;
};

const char *http_param(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->nparams; i++)
		if (strcmp(rq->keys[i], name) == 0)
			return rq->values[i];
	return NULL;
}

const char *http_path(const struct http_request *rq)
{
	return rq->url;
}

bool http_is_head(const struct http_request *rq)
{
	return rq->head;
}

void http_reply_text(struct http_reply *r, int status, const char *fmt, ...)
{
	va_list ap;

	/* The body may hold part of a reply that failed half way: start over. */
	fflush(r->body);
	rewind(r->body);
	r->status = status;
	r->type = "text/plain; charset=utf-8";
	r->filename = NULL;
	r->data = NULL;
	va_start(ap, fmt);
	vfprintf(r->body, fmt, ap);
	va_end(ap);
	fputc('\n', r->body);
}

int http_param_number(const struct http_request *rq, struct http_reply *r, const char *name,
		      double min, double max, double def, double *out)
{
	const char *s = http_param(rq, name);
	char *end;
	double v;

	if (!s) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (!*s || errno || *end || v != v || v < min || v > max) {
		http_reply_text(r, 400, "bad value for '%s': expected a number from %g to %g", name,
				min, max);
		return -1;
	}
	*out = v;
	return 0;
}

void http_counts(struct http_server *s, struct http_counts *out)
{
	out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
	out->status_2xx = __atomic_load_n(&s->s2xx, __ATOMIC_RELAXED);
	out->status_4xx = __atomic_load_n(&s->s4xx, __ATOMIC_RELAXED);
	out->status_5xx = __atomic_load_n(&s->s5xx, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* the listening address */

static int open_socket(struct http_server *s, const struct http_listen *a, const char *listen_s,
		       char *err, size_t errlen)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char text[INET6_ADDRSTRLEN];
	int one = 1;
	int fd = socket(a->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0)
		goto fail;
	if (a->v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&bound;
		s->port = ntohs(in6->sin6_port);
		inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
		fprintf(stderr, "pyspy-c: listening on http://[%s]:%u\n", text, s->port);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&bound;
		s->port = ntohs(in->sin_port);
		inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
		fprintf(stderr, "pyspy-c: listening on http://%s:%u\n", text, s->port);
	}
	s->fd = fd;
	return 0;
fail:
	snprintf(err, errlen, "cannot listen on '%s': %s", listen_s, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ------------------------------------------------------------------ */
/* the dispatcher */

static bool secret_equal(const char *secret, size_t slen, const char *guess)
{
	unsigned char diff = 0;
	size_t len;

	if (!guess)
		return false;
	len = strnlen(guess, slen + 1);
	/* The same work whatever the guess: every byte of the secret is compared. */
	diff = len != slen;
	for (size_t i = 0; i < slen; i++)
		diff |= (unsigned char)secret[i] ^ (unsigned char)(i < len ? guess[i] : 0);
	return diff == 0;
}

static bool token_equal(const struct http_server *s, const char *guess)
{
	return secret_equal(s->token, s->token_len, guess);
}

static bool token_ok(const struct http_server *s, const char *auth)
{
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	return token_equal(s, auth + 7);
}

/* Loopback: a name or literal of this host, and our port if one is given. */
static bool host_ok(const struct http_server *s, const char *host)
{
	static const char *const names[] = { "localhost", "127.0.0.1", "[::1]" };
	const char *colon;
	size_t hlen;

	if (!s->loopback)
		return true; /* the token guards it */
	if (!host)
		return true; /* HTTP/1.0; a browser always sends one */
	colon = strrchr(host, ':');
	if (colon && strchr(colon, ']'))
		colon = NULL; /* "[::1]" alone */
	hlen = colon ? (size_t)(colon - host) : strlen(host);
	if (colon) {
		char *end;
		unsigned long port = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || port != s->port)
			return false;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == hlen && strncasecmp(host, names[i], hlen) == 0)
			return true;
	return false;
}

/* One parameter of the query; false once there are too many. */
static bool add_param(struct http_request *rq, const char *key, const char *value)
{
	if (rq->nparams == rq->max_params) {
		rq->too_many = true;
		return false;
	}
	if (!key)
		key = "";
	if (!value)
		value = "";
	if (strlen(key) > 64 || strlen(value) > rq->max_param_len)
		rq->too_long = true;
	rq->keys[rq->nparams] = key;
	rq->values[rq->nparams++] = value;
	return true;
}

/* A parameter's name for a message: at most 64 bytes, printable ASCII. */
static const char *printable(const char *in, char out[65])
{
	size_t i;

	for (i = 0; in[i] && i < 64; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
	return out;
}

/* Whether the comma-separated list 'names' holds 'key'. */
static bool param_known(const char *names, const char *key)
{
	size_t len = strlen(key);

	if (names && strcmp(names, "*") == 0)
		return true;
	for (const char *p = names; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == len && strncmp(p, key, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Percent-encode s onto f: all but unreserved characters (and '/' if keep_slash). */
static void url_encode(FILE *f, const char *s, bool keep_slash)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) || (keep_slash && *p == '/'))
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
	}
}

/*
 * A visit with ?token=TOKEN (the right one): a 303 to the same URL without
 * it, setting the cookie.  Returns false when there is no such parameter.
 */
static bool token_visit(struct http_server *s, struct http_request *rq, struct http_reply *r)
{
	const char *t = NULL;
	char *loc = NULL, *cookie = NULL;
	size_t len = 0, n = 0;
	FILE *f;

	for (size_t i = 0; i < rq->nparams; i++)
		if (strcmp(rq->keys[i], "token") == 0)
			t = rq->values[i];
	if (!t)
		return false;
	if (!token_equal(s, t)) {
		http_reply_text(r, 401, "wrong token (in ?token=)");
		return true;
	}
	f = open_memstream(&loc, &len);
	if (!f) {
		http_reply_text(r, 503, "out of memory");
		return true;
	}
	url_encode(f, rq->url, true);
	for (size_t i = 0; i < rq->nparams; i++) {
		if (strcmp(rq->keys[i], "token") == 0)
			continue;
		fputc(n++ ? '&' : '?', f);
		url_encode(f, rq->keys[i], false);
		fputc('=', f);
		url_encode(f, rq->values[i], false);
	}
	if (fclose(f) != 0 ||
	    asprintf(&cookie, HTTP_TOKEN_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", s->cookie)
	    < 0) {
		free(loc);
		http_reply_text(r, 503, "out of memory");
		return true;
	}
	rq->location = loc;
	rq->set_cookie = cookie;
	http_reply_text(r, 303, "token accepted: see %s", loc);
	return true;
}

static void dispatch(struct http_server *s, const struct http_input *in, struct http_request *rq,
		     struct http_reply *r)
{
	const struct http_route *route = NULL;
	const char *method = in->method ? in->method : "";
	char name[65];

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_text(r, 405, "method %s not allowed: only GET and HEAD",
				printable(method, name));
		return;
	}
	rq->head = strcmp(method, "HEAD") == 0;
	if (!host_ok(s, in->host)) {
		http_reply_text(r, 421, "bad Host header: this server answers to localhost, "
				"127.0.0.1 or [::1] on port %u only", s->port);
		return;
	}
	for (size_t i = 0; i < in->nargs && add_param(rq, in->args[i].key, in->args[i].value); i++)
		;
	if (s->token_len && !token_ok(s, in->authorization) &&
	    !(s->token_cookie && secret_equal(s->cookie, s->cookie_len, in->cookie))) {
		if (s->token_cookie && !rq->too_many && token_visit(s, rq, r))
			return;
		if (s->token_cookie)
			http_reply_text(r, 401, "missing or wrong token: visit any page once with "
					"?token=TOKEN (it sets a cookie), or send Authorization: "
					"Bearer TOKEN");
		else
			http_reply_text(r, 401, "missing or wrong bearer token (Authorization: "
					"Bearer ...)");
		return;
	}
	for (size_t i = 0; i < s->nroutes && !route; i++) {
		const char *p = s->routes[i].path;
		size_t pl = strlen(p);
		if (pl > 1 && p[pl - 1] == '/' ? strncmp(p, rq->url, pl) == 0 : strcmp(p, rq->url) == 0)
			route = &s->routes[i];
	}
	if (!route) {
		http_reply_text(r, 404, "no such path (%s)", s->help ? s->help :
				"see /v1/info, or man pyspy-c");
		return;
	}
	if (rq->too_many) {
		http_reply_text(r, 400, "too many query parameters (at most %u)", s->max_params);
		return;
	}
	if (rq->too_long) {
		http_reply_text(r, 400, "query parameter too long (at most %u bytes)",
				s->max_param_len);
		return;
	}
	for (size_t i = 0; i < rq->nparams; i++) {
		if (!param_known(route->params, rq->keys[i])) {
			http_reply_text(r, 400, "unknown query parameter '%s' for %s (it takes: %s)",
					printable(rq->keys[i], name), route->path, route->params && *route->params ?
					route->params : "none");
			return;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(rq->keys[k], rq->keys[i]) == 0) {
				http_reply_text(r, 400, "query parameter '%s' given twice",
						printable(rq->keys[i], name));
				return;
			}
	}
	r->status = 200;
	route->handler(route->ctx ? route->ctx : s->ctx, rq, r);
}

static void add_header(struct http_output *out, const char *name, const char *value)
{
	if (out->nheaders < HTTP_OUT_HEADERS) {
		out->headers[out->nheaders][0] = name;
		out->headers[out->nheaders++][1] = value;
	}
}

int http_handle(struct http_server *s, const struct http_input *in, struct http_output *out)
{
	struct http_request rq = { .url = in->url ? in->url : "", .max_params = s->max_params,
				   .max_param_len = s->max_param_len };
	struct http_reply r = { .status = 500, .type = "text/plain; charset=utf-8" };
	char *buf = NULL;
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
	r.body = open_memstream(&buf, &len);
	if (!r.body)
		return -1;
	dispatch(s, in, &rq, &r);
	if (fclose(r.body) != 0) {
		free(buf);
		free(rq.location);
		free(rq.set_cookie);
		return -1;
	}
	out->status = r.status;
	if (r.data) {
		free(buf);
		out->body = r.data;
		out->len = r.len;
	} else {
		out->buf = buf;
		out->body = buf;
		out->len = len;
	}
	out->location = rq.location;
	out->set_cookie = rq.set_cookie;
	add_header(out, "Content-Type", r.type);
	add_header(out, "X-Content-Type-Options", "nosniff");
	add_header(out, "Cache-Control", r.cache ? r.cache : s->cache_control ?
		   s->cache_control : "no-store");
	for (const char *const *h = s->headers; h && h[0] && h[1]; h += 2)
		add_header(out, h[0], h[1]);
	if (rq.location)
		add_header(out, "Location", rq.location);
	if (rq.set_cookie)
		add_header(out, "Set-Cookie", rq.set_cookie);
	if (r.filename) {
		snprintf(out->disposition, sizeof(out->disposition), "attachment; filename=\"%s\"",
			 r.filename);
		add_header(out, "Content-Disposition", out->disposition);
	}
	if (r.status == 401)
		add_header(out, "WWW-Authenticate", "Bearer");
	if (r.status == 405)
		add_header(out, "Allow", "GET, HEAD");
	if (r.status >= 500)
		__atomic_add_fetch(&s->s5xx, 1, __ATOMIC_RELAXED);
	else if (r.status >= 400)
		__atomic_add_fetch(&s->s4xx, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&s->s2xx, 1, __ATOMIC_RELAXED);
	return 0;
}

void http_output_release(struct http_output *out)
{
	free(out->buf);
	free(out->location);
	if (out->set_cookie)
		explicit_bzero(out->set_cookie, strlen(out->set_cookie));
	free(out->set_cookie);
	memset(out, 0, sizeof(*out));
}

/* The query's parameters of a connection: at most cap (one past the limit tells "too many"). */
struct gathered {
	struct http_arg *args;
	size_t n, cap;
};

static MHD_RESULT gather_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			     const char *value)
{
	struct gathered *g = cls;

	(void)kind;
	if (g->n == g->cap)
		return MHD_NO;
	g->args[g->n++] = (struct http_arg){ key, value };
	return MHD_YES;
}

static MHD_RESULT answer(void *cls, struct MHD_Connection *conn, const char *url,
			 const char *method, const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	static int first_call;
	struct http_server *s = cls;
	struct http_arg args[HTTP_MAX_PARAMS_CAP + 1];
	struct gathered g = { args, 0, s->max_params + 1 };
	struct http_input in;
	struct http_output out;
	struct MHD_Response *resp;
	MHD_RESULT ret;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		/* Called once with the headers, then with any body: answer now. */
		*con_cls = &first_call;
		if (*upload_data_size == 0 || strcmp(method, "GET") == 0 ||
		    strcmp(method, "HEAD") == 0)
			goto handle;
	}
	/* A body: ignored (never parsed); the answer was queued already, or is a 405. */
	*upload_data_size = 0;
	if (*con_cls == (void *)s)
		return MHD_YES;
handle:
	*con_cls = s;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, gather_arg, &g);
	in = (struct http_input){
		.method = method, .url = url,
		.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"),
		.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     "Authorization"),
		.cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, HTTP_TOKEN_COOKIE),
		.args = args, .nargs = g.n,
	};
	if (http_handle(s, &in, &out) != 0)
		return MHD_NO;
	if (out.buf) {
		resp = MHD_create_response_from_buffer(out.len, out.buf, MHD_RESPMEM_MUST_FREE);
		if (resp)
			out.buf = NULL; /* libmicrohttpd's now */
	} else {
		resp = MHD_create_response_from_buffer(out.len, (void *)out.body,
						       MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		http_output_release(&out);
		return MHD_NO;
	}
	for (size_t i = 0; i < out.nheaders; i++)
		MHD_add_response_header(resp, out.headers[i][0], out.headers[i][1]);
	ret = MHD_queue_response(conn, (unsigned)out.status, resp);
	MHD_destroy_response(resp);
	http_output_release(&out);
	return ret;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (msg[i] == '\n')
			msg[i] = ' ';
	if (n > 1 && msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z')
		msg[0] = (char)(msg[0] - 'A' + 'a');
	fprintf(stderr, "pyspy-c: http: %s\n", msg);
}

static struct MHD_Daemon *start_daemon(struct http_server *s, bool v6)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);

	/* The logger first, so that no message goes to libmicrohttpd's own. */
	return MHD_start_daemon(flags, 0, NULL, NULL, answer, s,
				MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->memory_per_conn,
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
				MHD_OPTION_END);
}

/* The server without its socket; *a gets the address and token (release it). */
static struct http_server *make_server(const struct http_config *c, struct http_listen *a,
				       char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = -1;
	s->routes = c->routes;
	s->nroutes = c->nroutes;
	s->ctx = c->ctx;
	s->headers = c->headers;
	s->cache_control = c->cache_control;
	s->help = c->help;
	s->token_cookie = c->token_cookie;
	s->max_params = c->max_params && c->max_params <= HTTP_MAX_PARAMS_CAP ? c->max_params :
			HTTP_MAX_PARAMS;
	s->max_param_len = c->max_param_len && c->max_param_len <= HTTP_MAX_PARAM_LEN_CAP ?
			   c->max_param_len : HTTP_MAX_PARAM_LEN;
	s->memory_per_conn = c->memory_per_conn ? c->memory_per_conn : HTTP_MEMORY_PER_CONN;
	for (size_t i = 0; c->headers && c->headers[i]; i++)
		if (i >= 2 * HTTP_MAX_HEADERS) {
			snprintf(err, errlen, "too many response headers (at most %d)",
				 HTTP_MAX_HEADERS);
			goto fail;
		}
	if (http_listen_check(c->listen, c->token_file, c->listen_opt ? c->listen_opt : "--listen",
			      c->token_opt ? c->token_opt : "--token-file", a, err, errlen) != 0)
		goto fail;
	s->loopback = a->loopback;
	s->port = ntohs(a->v6 ? ((struct sockaddr_in6 *)&a->ss)->sin6_port :
				((struct sockaddr_in *)&a->ss)->sin_port);
	memcpy(s->token, a->token, sizeof(s->token));
	s->token_len = a->token_len;
	if (s->token_len) {
		FILE *f = fmemopen(s->cookie, sizeof(s->cookie), "w");
		if (!f) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		url_encode(f, s->token, false);
		fclose(f);
		s->cookie_len = strlen(s->cookie);
	}
	return s;
fail:
	http_stop(s);
	return NULL;
}

struct http_server *http_new(const struct http_config *c, char *err, size_t errlen)
{
	struct http_listen a = { 0 };
	struct http_server *s = make_server(c, &a, err, errlen);

	http_listen_release(&a);
	return s;
}

struct http_server *http_start(const struct http_config *c, char *err, size_t errlen)
{
	struct http_listen a = { 0 };
	struct http_server *s = make_server(c, &a, err, errlen);
	sigset_t block, old;

	if (!s)
		goto fail;
	if (open_socket(s, &a, c->listen, err, errlen) != 0)
		goto fail;
	/* The threads inherit this mask: these signals go to the caller's threads. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	s->mhd = start_daemon(s, a.v6);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!s->mhd) {
		snprintf(err, errlen, "cannot start the HTTP server on '%s'", c->listen);
		goto fail;
	}
	s->fd = -1; /* libmicrohttpd owns it now, and closes it when stopped */
	http_listen_release(&a);
	return s;
fail:
	http_listen_release(&a);
	http_stop(s);
	return NULL;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->fd >= 0)
		close(s->fd);
	explicit_bzero(s->token, sizeof(s->token));
	explicit_bzero(s->cookie, sizeof(s->cookie));
	free(s);
}
