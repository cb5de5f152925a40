/*
 * poll.c - one round of HTTP GETs to every agent at once, on libcurl's
 * multi interface: the only file that includes <curl/curl.h>.
 *
 * Every transfer has its own connect and total timeout and a bound on
 * the answer's size, so a hung, slow or flooding agent costs at most the
 * timeout and never delays another's answer being read.  No redirects,
 * HTTP(S) only, no signals (the collector is single-threaded but SIGALRM
 * would still be wrong here).
 */
#include "poll_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xfer {
	CURL *easy;
	struct curl_slist *headers;
	struct poll_res *res;
	size_t cap, max;
	bool too_big;
};

int poll_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void poll_cleanup(void)
{
	curl_global_cleanup();
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	struct poll_res *r = x->res;
	size_t n = size * nmemb;

	if (r->len + n > x->max) {
		x->too_big = true;
		return 0;   /* ends the transfer with CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 65536;
		char *b;
		while (cap < r->len + n + 1)
			cap *= 2;
		b = realloc(r->body, cap);
		if (!b)
			return 0;
		r->body = b;
		x->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static int setup(struct xfer *x, const struct poll_req *rq, double timeout)
{
	long ms = (long)(timeout * 1000);

	x->easy = curl_easy_init();
	if (!x->easy)
		return -1;
	if (rq->token) {
		char h[600];
		snprintf(h, sizeof(h), "Authorization: Bearer %s", rq->token);
		x->headers = curl_slist_append(NULL, h);
		if (!x->headers)
			return -1;
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, rq->url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
	curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "pyspy-c collect");
	return 0;
}

static void finish(struct xfer *x, CURLcode code)
{
	struct poll_res *r = x->res;
	double t = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &t);
	r->seconds = t;
	r->reason = CR_OTHER;
	if (x->too_big || code == CURLE_FILESIZE_EXCEEDED) {
		snprintf(r->err, sizeof(r->err), "answer larger than %zu bytes", x->max);
		r->reason = CR_TOO_LARGE;
	} else if (code != CURLE_OK) {
		snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(code));
		if (code == CURLE_OPERATION_TIMEDOUT)
			r->reason = CR_TIMEOUT;
		else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
			r->reason = CR_CONNECT;
	} else if (r->status != 200) {
		snprintf(r->err, sizeof(r->err), "HTTP status %ld", r->status);
		r->reason = CR_STATUS;
	} else {
		r->ok = true;
	}
}

int poll_round(const struct poll_req *rq, size_t n, double timeout, size_t max_bytes,
	       struct poll_res *res)
{
	struct xfer *x = calloc(n ? n : 1, sizeof(*x));
	CURLM *m = curl_multi_init();
	int running = 0, rc = 0;

	for (size_t i = 0; i < n; i++)
		memset(&res[i], 0, sizeof(res[i]));
	if (!x || !m) {
		for (size_t i = 0; i < n; i++) {
			snprintf(res[i].err, sizeof(res[i].err), "out of memory");
			res[i].reason = CR_OTHER;
		}
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		x[i].res = &res[i];
		x[i].max = max_bytes;
		if (setup(&x[i], &rq[i], timeout) ||
		    curl_multi_add_handle(m, x[i].easy) != CURLM_OK) {
			snprintf(res[i].err, sizeof(res[i].err), "cannot start the request");
			res[i].reason = CR_OTHER;
			continue;
		}
	}
	do {
		CURLMsg *msg;
		int left;

		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE) {
				struct xfer *xf;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&xf);
				finish(xf, msg->data.result);
			}
		if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	} while (running);
out:
	for (size_t i = 0; x && i < n; i++) {
		if (x[i].easy) {
			if (!res[i].ok && !res[i].err[0]) {
				snprintf(res[i].err, sizeof(res[i].err), "no answer");
				res[i].reason = CR_OTHER;
			}
			curl_multi_remove_handle(m, x[i].easy);
			curl_easy_cleanup(x[i].easy);
		}
		curl_slist_free_all(x[i].headers);
	}
	if (m)
		curl_multi_cleanup(m);
	free(x);
	return rc;
}

void poll_res_release(struct poll_res *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}
