/*
 * http.h - the HTTP server, as the rest of pyspy-c sees it.  Only
 * src/http/http.c includes <microhttpd.h>.
 *
 * The server listens on a socket opened here on the exact address asked
 * (never every interface), serves GET and HEAD only, checks the Host
 * header (DNS rebinding) and the bearer token, bounds the query (number
 * of parameters, their length, names the route accepts) and then calls
 * the route's handler, on one of the server's threads.  Handlers never
 * touch the sampler: they read what it published.
 */
#ifndef PYSPY_HTTP_H
#define PYSPY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* Limits, all in one place (the man page quotes them). */
#define HTTP_MAX_CONNECTIONS 64      /* at once, over all clients */
#define HTTP_MAX_PER_IP 16           /* at once, from one address */
#define HTTP_TIMEOUT_S 30            /* an idle or slow connection is closed */
#define HTTP_MEMORY_PER_CONN 16384   /* request line and headers must fit */
#define HTTP_MAX_PARAMS 8            /* query parameters per request */
#define HTTP_MAX_PARAM_LEN 256       /* bytes per parameter value */
#define HTTP_MAX_TOKEN 256
#define HTTP_MAX_HEADERS 4           /* a server's own response headers */
/* What a server may allow instead (struct http_config), at most. */
#define HTTP_MAX_PARAMS_CAP 32
#define HTTP_MAX_PARAM_LEN_CAP 8192

struct http_request;

/*
 * A handler's answer: status, content type, body (a memory stream the
 * handler writes to; the dispatcher opened it), and an optional
 * Content-Disposition file name.
 */
struct http_reply {
	int status;
	const char *type;             /* Content-Type */
	const char *filename;         /* Content-Disposition: attachment, or NULL */
	FILE *body;
	/* A body that outlives the server (compiled-in assets), sent instead
	   of what was written to 'body' when set; never copied. */
	const void *data;
	size_t len;
	const char *cache;            /* Cache-Control; NULL: the server's */
};

typedef void (*http_handler)(void *ctx, const struct http_request *rq, struct http_reply *r);

/*
 * A route: a path, the query parameters it takes (comma-separated).  A
 * path of more than "/" that ends in '/' is a prefix ("/assets/" answers
 * "/assets/app.js"; the handler reads http_path()); any other is exact.
 * Parameters "*": any names (a page whose script reads its own URL).
 */
struct http_route {
	const char *path;
	http_handler handler;
	const char *params;
	void *ctx;                    /* handed to the handler; NULL: the server's */
};

/*
 * Where a server listens and the token that guards it: the one check of
 * every command's listen address and token file (serve and web:
 * --listen, --token-file; collect: --web, --web-token-file and --listen,
 * --token-file), run while the options are parsed and again by
 * http_start.  The address is ADDR:PORT, [V6]:PORT or localhost:PORT;
 * one off loopback needs a token file; a token file is one word of 16 to
 * HTTP_MAX_TOKEN printable characters that only its owner can read.
 * 'listen_opt' and 'token_opt' name the options in messages.  Returns 0
 * with *out filled (http_listen_release it), or the exit status the error
 * calls for (2: the address or the rule; 1: the token file) with the
 * reason in err.
 */
struct http_listen {
	struct sockaddr_storage ss;
	socklen_t len;
	bool v6, loopback;
	char token[HTTP_MAX_TOKEN + 1];
	size_t token_len;             /* 0: no token */
};
int http_listen_check(const char *listen, const char *token_file, const char *listen_opt,
		      const char *token_opt, struct http_listen *out, char *err, size_t errlen);
/* Wipe the token. */
void http_listen_release(struct http_listen *l);
/*
 * A token file, as servers and the collector (an agent's token=FILE)
 * read it: a regular file, not a symbolic link (the link's target may be
 * anyone's file; a Kubernetes secret's DIR/..data/KEY is the file
 * itself and follows rotation), that only its owner can read, holding one
 * word of 16 to HTTP_MAX_TOKEN printable ASCII characters (a final
 * newline allowed).  0 with out and *len set, or -1 with the reason.
 */
int http_token_read(const char *path, char out[HTTP_MAX_TOKEN + 1], size_t *len, char *err,
		    size_t errlen);

struct http_config {
	const char *listen;           /* "ADDR:PORT", "[V6]:PORT", "localhost:PORT" */
	const char *token_file;       /* NULL: no token (loopback only) */
	/* The options they came from, for messages (NULL: --listen, --token-file). */
	const char *listen_opt, *token_opt;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;                    /* handed to every handler */
	/* Headers added to every response: name, value, name, value, ..., NULL
	   (at most HTTP_MAX_HEADERS pairs). */
	const char *const *headers;
	const char *cache_control;    /* NULL: "no-store" */
	const char *help;             /* where a 404 points to, e.g. "see /v1/info" */
	/*
	 * Browsers cannot send a bearer header when loading a page: accept the
	 * token also as the cookie HTTP_TOKEN_COOKIE, which a visit to any
	 * path with ?token=TOKEN sets (HttpOnly, SameSite=Strict) before
	 * redirecting (303) to the same URL without it.
	 */
	bool token_cookie;
	/* Limits instead of the defaults above (0: the default). */
	unsigned max_params;          /* at most HTTP_MAX_PARAMS_CAP */
	unsigned max_param_len;       /* at most HTTP_MAX_PARAM_LEN_CAP */
	size_t memory_per_conn;
};
#define HTTP_TOKEN_COOKIE "pyspyc_token"

struct http_server;

/*
 * Open the socket, read the token, start serving.  On failure returns
 * NULL with the reason in err (one line); a non-loopback address without
 * a token is refused (http_listen_check).  The server's threads start
 * with SIGINT, SIGTERM, SIGHUP and SIGPIPE blocked: those go to the
 * caller's threads.  Logs "listening on http://ADDR:PORT" on stderr.
 */
struct http_server *http_start(const struct http_config *c, char *err, size_t errlen);
void http_stop(struct http_server *s);

/*
 * The server without its socket (tests/fuzz): http_start() is http_new()
 * and then the socket and libmicrohttpd's threads.  The port is the one
 * asked ("127.0.0.1:0": 0), as the Host check compares it.
 */
struct http_server *http_new(const struct http_config *c, char *err, size_t errlen);

/*
 * One request as the dispatcher sees it: what the server reads of a
 * connection (libmicrohttpd has split and decoded the request line and
 * the headers).  http_handle() runs the dispatcher and the route's
 * handler on it and fills 'out' with the complete answer: the server's
 * threads call it for every request, and so does tests/fuzz/fuzz_http.c.
 */
struct http_arg {
	const char *key, *value;      /* value NULL: "?key" without '=' */
};
struct http_input {
	const char *method, *url;     /* url: the path, decoded, without the query */
	const char *host;             /* the Host header, NULL: none */
	const char *authorization;    /* the Authorization header, NULL: none */
	const char *cookie;           /* the cookie HTTP_TOKEN_COOKIE, NULL: none */
	const struct http_arg *args;  /* the query's parameters, in order */
	size_t nargs;
};
#define HTTP_OUT_HEADERS (10 + HTTP_MAX_HEADERS)
struct http_output {
	int status;
	const void *body;             /* 'len' bytes */
	size_t len;
	size_t nheaders;
	const char *headers[HTTP_OUT_HEADERS][2];  /* name, value */
	/* What it owns (http_output_release). */
	char *buf, *location, *set_cookie;
	char disposition[160];
};
/* 0, or -1 when out of memory (no answer: the connection is closed). */
int http_handle(struct http_server *s, const struct http_input *in, struct http_output *out);
void http_output_release(struct http_output *out);

/* The value of query parameter 'name', or NULL (bounded, checked by the dispatcher). */
const char *http_param(const struct http_request *rq, const char *name);
/* The request's path, decoded (for prefix routes). */
const char *http_path(const struct http_request *rq);
/* A HEAD request (the body is computed and dropped). */
bool http_is_head(const struct http_request *rq);

/*
 * Reply 'status' with a one-line text body (a 4xx's reason, say).
 */
void http_reply_text(struct http_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Parse parameter 'name' as a number in [min, max] (absent: 'def').
 * Returns 0, or -1 after setting a 400 reply that says why.
 */
int http_param_number(const struct http_request *rq, struct http_reply *r, const char *name,
		      double min, double max, double def, double *out);

/* Requests answered, by status class, for /metrics. */
struct http_counts {
	uint64_t requests, status_2xx, status_4xx, status_5xx;
};
void http_counts(struct http_server *s, struct http_counts *out);

#endif
