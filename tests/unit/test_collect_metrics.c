/*
 * test_collect_metrics.c - the collector's /metrics text
 * (src/collect/metrics.c) and the listen check every command shares
 * (src/http/listen.c).
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/collect/metrics_internal.h"
#include "pyspy/http.h"

static char *scrape(struct collect_metrics *m, int64_t now_ns)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cm_write(m, f, now_ns, 1.5, 4096);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void want(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_metrics_text(void **state)
{
	struct collect_metrics *m = cm_new("sqlite");
	struct cm_agent_stats up = { .up = true, .last_success_ns = 1700000000000000000,
				     .newest_end_ns = 1699999990000000000, .windows = 7,
				     .samples = 70 };
	struct cm_agent_stats down = { .failures = 3, .backoff = 40 };
	struct cm_totals t = { .rounds = 4, .windows = 7, .samples = 70, .rows = 21,
			       .have_store_bytes = true, .store_bytes = 8192 };
	char *text;
	(void)state;

	assert_non_null(m);
	down.errors[CR_CONNECT] = 3;
	assert_int_equal(cm_publish_begin(m, 2), 0);
	cm_publish_agent(m, 0, "10.0.0.1:4100", "web", "box-1", &up);
	/* Label values as a hostile agents file could have them (and a newline). */
	cm_publish_agent(m, 1, "[::1]:1", "a\"b\\c}", "x\ny", &down);
	cm_publish_end(m, &t);
	text = scrape(m, 1700000000000000000);
	want(text, "pyspyc_collect_agents 2\n");
	want(text, "pyspyc_collect_agents_up 1\n");
	want(text, "pyspyc_collect_agent_up{agent=\"10.0.0.1:4100\",service=\"web\","
		   "host=\"box-1\"} 1\n");
	want(text, "pyspyc_collect_agent_up{agent=\"[::1]:1\",service=\"a\\\"b\\\\c}\","
		   "host=\"x\\ny\"} 0\n");
	want(text, "pyspyc_collect_agent_lag_seconds{agent=\"10.0.0.1:4100\",service=\"web\","
		   "host=\"box-1\"} 10\n");
	/* No lag for an agent that wrote nothing yet. */
	assert_null(strstr(text, "pyspyc_collect_agent_lag_seconds{agent=\"[::1]:1\""));
	want(text, "pyspyc_collect_agent_consecutive_failures{agent=\"[::1]:1\"");
	want(text, "host=\"x\\ny\",reason=\"connect\"} 3\n");
	want(text, "host=\"x\\ny\",reason=\"timeout\"} 0\n");
	want(text, "pyspyc_collect_agent_backoff_seconds{agent=\"[::1]:1\",service=\"a\\\"b\\\\c}\","
		   "host=\"x\\ny\"} 40\n");
	want(text, "pyspyc_collect_agent_last_success_time_seconds{agent=\"10.0.0.1:4100\","
		   "service=\"web\",host=\"box-1\"} 1700000000\n");
	want(text, "pyspyc_collect_rows_written_total 21\n");
	want(text, "pyspyc_collect_store_bytes 8192\n");
	want(text, "pyspyc_collect_info{version=\"");
	want(text, "backend=\"sqlite\"} 1\n");
	want(text, "pyspyc_collect_resident_bytes 4096\n");
	want(text, "# TYPE pyspyc_collect_agent_errors_total counter\n");
	free(text);

	/* SIGHUP dropped the second agent: it is gone from the text. */
	assert_int_equal(cm_publish_begin(m, 1), 0);
	cm_publish_agent(m, 0, "10.0.0.1:4100", "web", "box-1", &up);
	cm_publish_end(m, &t);
	text = scrape(m, 1700000000000000000);
	want(text, "pyspyc_collect_agents 1\n");
	assert_null(strstr(text, "[::1]:1"));
	free(text);
	cm_free(m);
}

static void test_listen_check(void **state)
{
	struct http_listen l;
	char err[512];
	(void)state;

	assert_int_equal(http_listen_check("127.0.0.1:0", NULL, "--listen", "--token-file", &l,
					   err, sizeof(err)), 0);
	assert_true(l.loopback);
	assert_int_equal(http_listen_check("[::1]:80", NULL, "--listen", "--token-file", &l, err,
					   sizeof(err)), 0);
	assert_true(l.loopback && l.v6);
	assert_int_equal(http_listen_check("localhost:9", NULL, "--listen", "--token-file", &l,
					   err, sizeof(err)), 0);
	assert_true(l.loopback);
	/* Off loopback without a token: refused, naming the option the command has. */
	assert_int_equal(http_listen_check("0.0.0.0:80", NULL, "--web", "--web-token-file", &l,
					   err, sizeof(err)), 2);
	assert_non_null(strstr(err, "refusing to listen on '0.0.0.0:80' without --web-token-file"));
	for (const char *const *bad = (const char *const[]){ "nonsense", "1.2.3.4", ":80",
			  "127.0.0.1:65536", "127.0.0.1:-1", "[::1]80", "host.example:80", NULL };
	     *bad; bad++) {
		assert_int_equal(http_listen_check(*bad, NULL, "--web", "--web-token-file", &l, err,
						   sizeof(err)), 2);
		if (!strstr(err, "invalid value") || !strstr(err, "for --web ("))
			fail_msg("'%s': %s", *bad, err);
	}
	assert_int_equal(http_listen_check("0.0.0.0:80", "/nonexistent/token", "--listen",
					   "--token-file", &l, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "cannot read token file '/nonexistent/token'"));
	http_listen_release(&l);
}

int unit_collect_metrics(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_text),
		cmocka_unit_test(test_listen_check),
	};
	return cmocka_run_group_tests_name("collect_metrics", tests, NULL, NULL);
}
