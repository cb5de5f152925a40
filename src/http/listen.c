/*
 * listen.c - where a server listens and the token that guards it (see
 * http.h): the one parser of every command's --listen and --token-file
 * (serve, web, collect) and the one place of the rule that an address
 * off loopback needs a token.  No libmicrohttpd here: the commands check
 * their options with it before anything starts, in every build.
 */
#define _GNU_SOURCE
#include "pyspy/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_addr(const char *s, const char *opt, struct http_listen *a, char *err,
		      size_t errlen)
{
	char host[128];
	const char *colon, *port_s;
	char *end;
	unsigned long port;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			goto bad;
		hlen = (size_t)(close - s - 1);
		port_s = close + 2;
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		a->v6 = true;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		port_s = colon + 1;
		if (strcasecmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port > 65535 || *port_s == '-' || *port_s == '+')
		goto bad;
	if (a->v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
		a->len = sizeof(*in6);
		a->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto bad;
		a->len = sizeof(*in);
		a->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
bad:
	snprintf(err, errlen, "invalid value '%s' for %s (expected ADDR:PORT, an IPv4 "
		 "address, [IPv6] or localhost, and a port from 0 to 65535)", s, opt);
	return -1;
}

int http_token_read(const char *path, char out[HTTP_MAX_TOKEN + 1], size_t *len, char *err,
		    size_t errlen)
{
	char buf[HTTP_MAX_TOKEN + 2];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;

	if (fd < 0 && errno == ELOOP) {
		snprintf(err, errlen, "cannot use token file '%s': it is a symbolic link (name "
			 "the file itself; in a Kubernetes secret volume, DIR/..data/KEY)", path);
		goto out;
	}
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read token file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot use token file '%s': not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "cannot use token file '%s': others can read it "
			 "(mode %03o; chmod 600 it)", path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		snprintf(err, errlen, "cannot read token file '%s': %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n < 16 || n > HTTP_MAX_TOKEN || strcspn(buf, " \t\r\n") != (size_t)n) {
		snprintf(err, errlen, "cannot use token file '%s': the token must be one word of "
			 "16 to %d characters", path, HTTP_MAX_TOKEN);
		goto out;
	}
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] > 0x7e) {
			snprintf(err, errlen, "cannot use token file '%s': the token must be "
				 "printable ASCII", path);
			goto out;
		}
	memcpy(out, buf, (size_t)n + 1);
	*len = (size_t)n;
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return rc;
}

int http_listen_check(const char *listen, const char *token_file, const char *listen_opt,
		      const char *token_opt, struct http_listen *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (parse_addr(listen, listen_opt, out, err, errlen) != 0)
		return 2;
	if (!out->loopback && !token_file) {
		snprintf(err, errlen, "refusing to listen on '%s' without %s: anyone who can "
			 "reach it could read the stacks and command lines of the profiled "
			 "processes", listen, token_opt);
		return 2;
	}
	if (token_file && http_token_read(token_file, out->token, &out->token_len, err, errlen) != 0)
		return 1;
	return 0;
}

void http_listen_release(struct http_listen *l)
{
	explicit_bzero(l, sizeof(*l));
}
