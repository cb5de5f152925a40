/*
 * test_plt.c - native_plt_name() against objdump's own names of PLT stubs.
 *
 * For real files of this machine (the test binary itself, the libdw and
 * the C library it is linked with), objdump -d labels every stub of .plt,
 * .plt.sec and .plt.got "<NAME@plt>"; native_plt_name() must give the
 * same name for an address inside each stub, and none for the resolver
 * trampoline at the start of a lazy .plt.
 */
#include "unit.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <gelf.h>

#include "pyspy/native.h"

/* The path of the first mapped file whose name contains 'part'. */
static int mapped_path(const char *part, char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	int found = -1;

	if (!f)
		return -1;
	while (found != 0 && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		if (!p || !strstr(p, part))
			continue;
		p[strcspn(p, "\n")] = '\0';
		snprintf(out, cap, "%s", p);
		found = 0;
	}
	fclose(f);
	return found;
}

/* The C library's ifuncs, by address: what nm -D marks 'i'. */
#define MAX_IFUNCS 4096
static struct ifunc {
	unsigned long long addr;
	char name[128];
} ifuncs[MAX_IFUNCS];
static size_t nifuncs;

static void read_ifuncs(const char *path)
{
	char cmd[4200], line[512];
	FILE *nm;

	nifuncs = 0;
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>/dev/null", path);
	nm = popen(cmd, "r");
	assert_non_null(nm);
	while (fgets(line, sizeof(line), nm) && nifuncs < MAX_IFUNCS) {
		struct ifunc *f = &ifuncs[nifuncs];
		char type;
		if (sscanf(line, "%llx %c %127[^@\n]", &f->addr, &type, f->name) == 3 && type == 'i')
			nifuncs++;
	}
	pclose(nm);
}

/* Whether "NAME@plt" names an ifunc whose resolver is at addr. */
static int is_ifunc_at(const char *got, unsigned long long addr)
{
	size_t n = got ? strlen(got) : 0;

	if (n < 5 || strcmp(got + n - 4, "@plt") != 0)
		return 0;
	for (size_t i = 0; i < nifuncs; i++)
		if (ifuncs[i].addr == addr && strlen(ifuncs[i].name) == n - 4 &&
		    strncmp(ifuncs[i].name, got, n - 4) == 0)
			return 1;
	return 0;
}

/*
 * Compare every "<NAME@plt>" stub objdump shows in path; returns how many.
 * A stub objdump calls "*ABS*+0xADDR@plt" (an IRELATIVE slot) must be
 * named after an ifunc that nm -D shows at ADDR.
 */
static int check_file(const char *path)
{
	char cmd[4200], line[1024], buf[512];
	FILE *od;
	Elf *e;
	int fd, checked = 0;

	elf_version(EV_CURRENT);
	read_ifuncs(path);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(e);
	snprintf(cmd, sizeof(cmd),
		 "objdump -d -j .plt -j .plt.sec -j .plt.got '%s' 2>/dev/null", path);
	od = popen(cmd, "r");
	assert_non_null(od);
	while (fgets(line, sizeof(line), od)) {
		unsigned long long addr;
		char label[512];
		const char *got;
		size_t n;
		/* "000000000000c030 <mallinfo2@plt>:" */
		if (sscanf(line, "%llx <%511[^>]>:", &addr, label) != 2)
			continue;
		n = strlen(label);
		if (strstr(label, "@plt-")) {
			/* the resolver trampoline: not a call of anything */
			assert_null(native_plt_name(e, addr + 2, buf, sizeof(buf)));
			continue;
		}
		if (n < 5 || strcmp(label + n - 4, "@plt") != 0)
			continue;
		got = native_plt_name(e, addr + 2, buf, sizeof(buf));
		if (strncmp(label, "*ABS*+0x", 8) == 0) {
			unsigned long long resolver = strtoull(label + 8, NULL, 16);
			if (!is_ifunc_at(got, resolver))
				fail_msg("%s: stub at 0x%llx: %s, no ifunc at 0x%llx by nm -D", path,
					 addr, got ? got : "(nothing)", resolver);
			checked++;
			continue;
		}
		if (!got || strcmp(got, label) != 0)
			fail_msg("%s: stub at 0x%llx: objdump says %s, we say %s", path, addr,
				 label, got ? got : "(nothing)");
		checked++;
	}
	assert_int_equal(pclose(od), 0);
	/* an address outside any stub has no stub name */
	assert_null(native_plt_name(e, 0, buf, sizeof(buf)));
	elf_end(e);
	close(fd);
	return checked;
}

static void test_own_binary(void **state)
{
	char path[4096];
	ssize_t n;

	(void)state;
	/* (objdump's /proc/self/exe would be objdump) */
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	assert_true(n > 0);
	path[n] = '\0';
	/* run-unit calls dozens of library functions, each through a stub */
	assert_true(check_file(path) >= 20);
}

static void test_libdw(void **state)
{
	char path[4096];

	(void)state;
	assert_int_equal(mapped_path("libdw", path, sizeof(path)), 0);
	assert_true(check_file(path) >= 20);
}

static void test_libc(void **state)
{
	char path[4096];

	(void)state;
	/* its own calls of memcpy, strlen, ... go through IRELATIVE stubs */
	assert_int_equal(mapped_path("/libc.so", path, sizeof(path)), 0);
	assert_true(check_file(path) >= 10);
}

int unit_plt(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_binary),
		cmocka_unit_test(test_libdw),
		cmocka_unit_test(test_libc),
	};
	return cmocka_run_group_tests_name("plt", tests, NULL, NULL);
}
