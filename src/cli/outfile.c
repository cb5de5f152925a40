/*
 * outfile.c - "-o FILE" written whole or not at all.
 *
 * A failed or interrupted recording must leave FILE as it was (a typo in a
 * pid must not wipe yesterday's profile), so the profile goes to a
 * temporary file in FILE's directory, renamed over FILE once it has been
 * written and synced.  The temporary is an unnamed O_TMPFILE where the
 * filesystem has them, so that even a SIGKILL leaves nothing behind; it
 * gets a hidden name (".FILE.pyspy-c-XXXXXX") only for the moment between
 * linking it and the rename, or for the whole recording where O_TMPFILE is
 * not supported.
 *
 * A FILE that exists and is not a regular file (/dev/null, a FIFO, a
 * terminal) or that names one of our own descriptors (/dev/stdout,
 * /proc/self/fd/N) cannot be replaced by a rename: it is opened and
 * written in place, as a plain open would.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_TAG ".pyspy-c-"
#define TMP_TRIES 64

/* In place: a special file, or a path through /dev or /proc. */
static bool write_in_place(const char *path)
{
	struct stat st;

	if (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0)
		return true;
	return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/*
 * The file a plain open would write: FILE itself, or what its symbolic
 * links lead to (a rename would replace the link, not its target).
 */
static char *final_path(const char *path)
{
	struct stat st;
	char *real;

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && (real = realpath(path, NULL)))
		return real;
	return strdup(path);
}

/* ".NAME.pyspy-c-XXXXXX" next to 'final', X random. */
static int make_tmp_name(const char *final, char *buf, size_t cap)
{
	const char *slash = strrchr(final, '/');
	const char *base = slash ? slash + 1 : final;
	int dirlen = slash ? (int)(slash - final + 1) : 0;
	static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	char suffix[7];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* Not random, but unique enough with the O_EXCL retries. */
		struct timespec ts;
		unsigned long v;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (unsigned long)getpid() * 2654435761u ^ (unsigned long)ts.tv_nsec;
		for (size_t i = 0; i < sizeof(rnd); i++, v >>= 5)
			rnd[i] = (unsigned char)v;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		suffix[i] = digits[rnd[i] % (sizeof(digits) - 1)];
	suffix[6] = '\0';
	if (snprintf(buf, cap, "%.*s.%s" TMP_TAG "%s", dirlen, final, base, suffix) >= (int)cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The directory part of 'final' ("." if none), into buf. */
static int dir_of(const char *final, char *buf, size_t cap)
{
	const char *slash = strrchr(final, '/');

	if (!slash)
		return snprintf(buf, cap, ".") >= (int)cap ? -1 : 0;
	if (slash == final)
		return snprintf(buf, cap, "/") >= (int)cap ? -1 : 0;
	if ((size_t)(slash - final) >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, final, (size_t)(slash - final));
	buf[slash - final] = '\0';
	return 0;
}

/* A new hidden file next to 'final' (O_EXCL), its name in o->tmp. */
static int create_named(struct outfile *o, const char *final)
{
	for (int i = 0; i < TMP_TRIES; i++) {
		int fd;

		if (make_tmp_name(final, o->tmp, sizeof(o->tmp)))
			return -1;
		fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/*
 * Keep an existing FILE's permissions (and, where we may, its owner), as
 * truncating it in place would have; a new FILE gets 0666 less the umask,
 * which open() applied.
 */
static void copy_mode(int fd, const char *final)
{
	struct stat st;

	if (stat(final, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if (fchown(fd, st.st_uid, st.st_gid) != 0) {
		/* Not ours to give away: the owner stays us, as a new file's would. */
	}
	if (fchmod(fd, st.st_mode & 07777) != 0) {
		/* Best effort: the profile is still written. */
	}
}

int outfile_open(struct outfile *o, const char *path, bool binary, bool in_place)
{
	char dir[PATH_MAX];
	int fd = -1, err;

	memset(o, 0, sizeof(*o));
	o->name = path;
	if (in_place || write_in_place(path)) {
		o->f = fopen(path, binary ? "wb" : "w");
		return o->f ? 0 : cli_error(1, "cannot open '%s': %s", path, strerror(errno));
	}
	o->final = final_path(path);
	if (!o->final)
		return cli_error(1, "out of memory");
	/* PYSPY_C_NO_TMPFILE: for tests, as on a filesystem without O_TMPFILE. */
	errno = EOPNOTSUPP;
	if (dir_of(o->final, dir, sizeof(dir)) == 0 && !getenv("PYSPY_C_NO_TMPFILE"))
		fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (fd >= 0) {
		o->unnamed = true;
	} else if (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == EROFS ||
		   errno == ENAMETOOLONG) {
		err = errno;
		goto fail;
	} else {
		/* This filesystem has no O_TMPFILE: a hidden named file. */
		fd = create_named(o, o->final);
		if (fd < 0) {
			err = errno;
			goto fail;
		}
	}
	copy_mode(fd, o->final);
	o->f = fdopen(fd, binary ? "wb" : "w");
	if (!o->f) {
		err = errno;
		close(fd);
		if (!o->unnamed)
			unlink(o->tmp);
		goto fail;
	}
	return 0;
fail:
	cli_error(1, "cannot create '%s' (a temporary file in its directory first): %s", path,
		  strerror(err));
	free(o->final);
	o->final = NULL;
	o->tmp[0] = '\0';
	return 1;
}

/* Give the unnamed file its hidden name, to rename it from. */
static int link_unnamed(struct outfile *o)
{
	char proc[64];
	int fd = fileno(o->f);

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int i = 0; i < TMP_TRIES; i++) {
		if (make_tmp_name(o->final, o->tmp, sizeof(o->tmp)))
			return -1;
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not. */
		if (linkat(fd, "", AT_FDCWD, o->tmp, AT_EMPTY_PATH) == 0 ||
		    (errno != EEXIST &&
		     linkat(AT_FDCWD, proc, AT_FDCWD, o->tmp, AT_SYMLINK_FOLLOW) == 0))
			return 0;
		if (errno != EEXIST)
			break;
	}
	o->tmp[0] = '\0';
	return -1;
}

/* The rename itself on disk too (best effort: the data already is). */
static void sync_dir(const char *final)
{
	char dir[PATH_MAX];
	int fd;

	if (dir_of(final, dir, sizeof(dir)) != 0)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int outfile_commit(struct outfile *o)
{
	int rc = 0;

	if (!o->f)
		return 0;
	if (!o->final) {  /* in place */
		if (o->f != stdout && fclose(o->f) != 0)
			rc = cli_error(1, "cannot write '%s': %s", o->name, strerror(errno));
		o->f = NULL;
		return rc;
	}
	if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
		rc = cli_error(1, "cannot write '%s': %s", o->name, strerror(errno ? errno : EIO));
	else if (o->unnamed && link_unnamed(o) != 0)
		rc = cli_error(1, "cannot write '%s': cannot name the temporary file: %s", o->name,
			       strerror(errno));
	else if (rename(o->tmp, o->final) != 0)
		rc = cli_error(1, "cannot write '%s': cannot rename '%s' over it: %s", o->name,
			       o->tmp, strerror(errno));
	else
		o->tmp[0] = '\0';  /* it is FILE now */
	if (rc == 0)
		sync_dir(o->final);
	outfile_abort(o);
	return rc;
}

void outfile_abort(struct outfile *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp[0])
		unlink(o->tmp);
	o->tmp[0] = '\0';
	free(o->final);
	o->final = NULL;
}
