/*
 * agents.c - the agents file of the collector (see collect.h).  Pure.
 */
#define _GNU_SOURCE
#include "pyspy/collect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t cap, const char *msg, const char *what)
{
	snprintf(err, cap, "%s '%s'", msg, what);
	return -1;
}

/* A label value: printable, no spaces, at most 256 bytes. */
static bool label_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 256)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == 0x7f)
			return false;
	return true;
}

/* HOST:PORT, HOST a name or an IPv4 address or [IPv6], PORT 1-65535. */
static bool addr_ok(const char *a)
{
	const char *colon = strrchr(a, ':');
	char *end;
	long port;

	if (!colon || colon == a || strlen(a) > 300)
		return false;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || colon[1] == '+' || colon[1] == '-')
		return false;
	for (const char *p = a; p < colon; p++)
		if (!(((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9') ||
		      strchr(".-_:[]", *p)))
			return false;
	return true;
}

static void agent_release(struct collect_agent *a)
{
	free(a->addr);
	free(a->host);
	free(a->service);
	free(a->token_file);
	memset(a, 0, sizeof(*a));
}

int collect_parse_agent(const char *spec, struct collect_agent *out, char *err, size_t cap)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return fail(err, cap, "out of memory at", spec);
	for (tok = strtok_r(copy, " \t", &save); tok && rc == 0; tok = strtok_r(NULL, " \t", &save)) {
		char **slot = NULL;
		const char *val = NULL;

		if (!out->addr) {
			if (!addr_ok(tok))
				rc = fail(err, cap, "not HOST:PORT:", tok);
			else
				out->addr = strdup(tok);
			continue;
		}
		if (strncmp(tok, "service=", 8) == 0)
			slot = &out->service, val = tok + 8;
		else if (strncmp(tok, "host=", 5) == 0)
			slot = &out->host, val = tok + 5;
		else if (strncmp(tok, "token=", 6) == 0)
			slot = &out->token_file, val = tok + 6;
		if (!slot)
			rc = fail(err, cap, "unknown label (service=, host=, token=):", tok);
		else if (*slot)
			rc = fail(err, cap, "given twice:", tok);
		else if (!label_ok(val))
			rc = fail(err, cap, "bad value:", tok);
		else
			*slot = strdup(val);
	}
	if (rc == 0 && !out->addr)
		rc = fail(err, cap, "no HOST:PORT in", spec);
	if (rc == 0 && !out->host)
		out->host = strndup(out->addr, (size_t)(strrchr(out->addr, ':') - out->addr));
	if (rc == 0 && !out->service)
		out->service = strdup("default");
	if (rc == 0 && (!out->host || !out->service))
		rc = fail(err, cap, "out of memory at", spec);
	free(copy);
	if (rc)
		agent_release(out);
	return rc;
}

void collect_agents_free(struct collect_agent *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		agent_release(&a[i]);
	free(a);
}

int collect_parse_agents(const char *text, struct collect_agent **out, size_t *n, char *err,
			 size_t cap)
{
	struct collect_agent *a = NULL;
	size_t na = 0, line = 0;
	const char *p = text;

	*out = NULL;
	*n = 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *l = strndup(p, len), *hash, msg[512];
		struct collect_agent one;
		bool blank = true;

		line++;
		p += len + (eol ? 1 : 0);
		if (!l)
			goto oom;
		if ((hash = strchr(l, '#')))
			*hash = '\0';
		for (char *q = l; *q; q++)
			if (*q != ' ' && *q != '\t' && *q != '\r')
				blank = false;
		if (blank) {
			free(l);
			continue;
		}
		for (char *q = l; *q; q++)
			if (*q == '\r')
				*q = ' ';
		if (collect_parse_agent(l, &one, msg, sizeof(msg))) {
			snprintf(err, cap, "line %zu: %s", line, msg);
			free(l);
			collect_agents_free(a, na);
			return -1;
		}
		free(l);
		for (size_t i = 0; i < na; i++)
			if (strcmp(a[i].addr, one.addr) == 0) {
				snprintf(err, cap, "line %zu: agent '%s' listed twice", line, one.addr);
				agent_release(&one);
				collect_agents_free(a, na);
				return -1;
			}
		if (na == COLLECT_MAX_AGENTS) {
			snprintf(err, cap, "line %zu: more than %d agents", line, COLLECT_MAX_AGENTS);
			agent_release(&one);
			collect_agents_free(a, na);
			return -1;
		}
		{
			struct collect_agent *na2 = realloc(a, (na + 1) * sizeof(*a));
			if (!na2) {
				agent_release(&one);
				goto oom;
			}
			a = na2;
		}
		a[na++] = one;
	}
	*out = a;
	*n = na;
	return 0;
oom:
	collect_agents_free(a, na);
	snprintf(err, cap, "out of memory");
	return -1;
}
