/*
 * cli.h - commands and their options.
 *
 * Each command declares one table of options; that table drives parsing,
 * the --help text and the option list shell completions and the man-page
 * test read (pyspy-c COMMAND --list-options).
 */
#ifndef PYSPY_CLI_H
#define PYSPY_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PYSPY_VERSION "0.1.0"

struct cli_option {
	int id;                 /* the command's own enum; 0 ends the table */
	char short_name;        /* 0 = none */
	const char *long_name;
	const char *arg;        /* argument name, NULL for flags */
	const char *help;
};

struct cli_command {
	const char *name;
	const char *summary;
	const char *usage;
	const struct cli_option *options;
	int (*run)(int argc, char **argv);
};

/*
 * Parse argv (argv[0] is the command name) against 'opts', calling
 * set(id, arg, ctx) for each option; set returns 0 or a usage message
 * already printed (non-zero).  Handles -h/--help itself (prints help and
 * returns 1 with *help_shown set).  Positional arguments are left in
 * argv[*optind ...].  Returns 0, or non-zero after printing a usage error.
 */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, int *optind,
	      int (*set)(int id, const char *arg, void *ctx), void *ctx, bool *help_shown);
void cli_print_help(const struct cli_command *cmd, FILE *out);
/* "pyspy-c: message" on stderr; returns the exit status given. */
int cli_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Option values shared by the commands: each prints the usage error and
 * returns 2, or returns 0 with *out set.  'opt' names the option in the
 * message ("rate" for --rate).
 */
int cli_parse_pid(const char *arg, pid_t *out);  /* a second --pid (*out set): 2 */
int cli_parse_number(const char *opt, const char *arg, double min, double max, double *out);
/*
 * A server's address and token file (serve, web, collect), checked while
 * the options are parsed, by the one rule of http_listen_check: an
 * address off loopback needs a token file.  The options' names go into
 * the message.  0, or the exit status after saying why.
 */
int cli_check_listen(const char *listen_opt, const char *listen, const char *token_opt,
		     const char *token_file);
/*
 * Block the signals the sampler reads through a signalfd (sampler_signals:
 * SIGINT, SIGTERM, SIGHUP, SIGCHLD and the job-control stops), so that
 * they neither kill nor stop us at a bad moment, and ignore SIGPIPE (a
 * closed output is a write error, not death).
 */
void cli_block_stop_signals(void);
/*
 * The attach steps of the sampling commands: open the target (seizing its
 * threads when 'blocking'), guard against our own crashes, find the
 * interpreter, and with 'gil' check that its GIL can be told.  Returns 0,
 * or the exit status after printing the error.  The caller closes t and
 * releases pi either way.
 */
struct target;
struct pyinterp;
struct profile;
struct sampler_opts;
int cli_attach(struct target *t, struct pyinterp *pi, pid_t pid, bool blocking,
	       struct profile *prof, bool gil);

/*
 * Options every sampling command has, with the same meaning: a command's
 * option table uses these ids for them, and its own ids start at
 * CLI_OPT_OWN.  cli_sampler_option() sets one into *pid or 'so': it
 * returns 0, 2 after a usage error, or -1 when 'id' is none of them.
 */
enum {
	CLI_OPT_PID = 1, CLI_OPT_RATE, CLI_OPT_DURATION, CLI_OPT_IDLE, CLI_OPT_GIL,
	CLI_OPT_NONBLOCKING, CLI_OPT_NO_GC, CLI_OPT_INTERPRETER, CLI_OPT_OWN
};
int cli_sampler_option(int id, const char *arg, pid_t *pid, struct sampler_opts *so);
/* --interpreter ID: "main" (*main set) or an interpreter id >= 0 (*id). */
int cli_parse_interpreter(const char *arg, bool *main, int64_t *id);

/*
 * record -- PROGRAM ARGS (launch.c).  launch_attach() starts argv and
 * attaches to it (target_open + pyinterp_attach), waiting a bounded time
 * for its interpreter to start; *pid is set once it runs (0 if it could
 * not be started).  launch_on_signal() is the sampler's on_signal policy
 * (ctx: a struct launch_signals).  launch_wait() waits for the program
 * after the recording (status: its wait status if already known, else
 * -1), passing on SIGTERM and SIGHUP, and returns the exit status
 * pyspy-c should end with: the program's, or 128 + its signal.
 */
struct launch_signals {
	pid_t pid;
	int seen;
};
int launch_attach(char *const argv[], bool seize, struct target *t, struct pyinterp *pi,
		  struct profile *prof, pid_t *pid);
bool launch_on_signal(void *ctx, int sig);
int launch_wait(pid_t pid, int status);
/*
 * How a target ended, for "process N exited" messages: " (status N)" or
 * " (killed by SIGNAME)" from a wait status, "" when it is not known
 * (-1: a target read without ptrace, whose end we only see).
 */
const char *launch_exit_how(int status, char *buf, size_t len);
/*
 * The target of a sampling command, after cli_parse(): --pid PID ('pid'),
 * or a program after "--" (*program set to it).  0, or 2 after the usage
 * error.
 */
int cli_target_args(const char *cmd, int argc, char **argv, int optind, pid_t pid,
		    char ***program);
/*
 * Attach as the command line says: to the pid (cli_attach), or start the
 * program (launch_attach, *pid set to it once it runs) with 'signals' as
 * so's on_signal policy.  Returns 0, the exit status after printing the
 * error, or -1 when the program ended before its interpreter was found
 * (said on stderr; the caller waits for it and ends as it did).
 */
int cli_launch_or_attach(char **program, pid_t *pid, struct target *t, struct pyinterp *pi,
			 struct profile *prof, struct sampler_opts *so,
			 struct launch_signals *signals);

/*
 * -o FILE (outfile.c): the profile is written to a temporary file in
 * FILE's directory (unnamed where the filesystem allows: O_TMPFILE) and
 * renamed over FILE by outfile_commit() once written and synced, so that
 * FILE is untouched unless a whole profile replaces it.  A FILE that is
 * not a regular file (/dev/null, a FIFO, /dev/stdout), or any FILE with
 * 'in_place', is opened and written directly.  outfile_open() returns 0
 * with o->f open, or 1 after printing the error; outfile_commit() returns
 * 0 or 1 after printing the error, and closes o->f either way;
 * outfile_abort() closes o->f and removes the temporary, leaving FILE as
 * it was (safe to call again, and after commit).
 */
struct outfile {
	FILE *f;
	const char *name;          /* as given, for messages */
	char *final;               /* the file renamed over; NULL: in place */
	char tmp[PATH_MAX];        /* the named temporary, "" if none */
	bool unnamed;              /* f is an O_TMPFILE, named only at commit */
};
int outfile_open(struct outfile *o, const char *path, bool binary, bool in_place);
int outfile_commit(struct outfile *o);
void outfile_abort(struct outfile *o);

int cli_main(int argc, char **argv);
int cmd_record(int argc, char **argv);
extern const struct cli_command cmd_record_def;
int cmd_dump(int argc, char **argv);
/* dump --async: the tasks as a tree (text) or a JSON array (dump_tasks.c); -1: no memory. */
struct py_tasks;
struct profile;
int dump_tasks_text(const struct py_tasks *t, const struct profile *prof, bool full, FILE *out);
int dump_tasks_json(const struct py_tasks *t, const struct profile *prof, FILE *out);
extern const struct cli_command cmd_dump_def;
int cmd_top(int argc, char **argv);
extern const struct cli_command cmd_top_def;
int cmd_query(int argc, char **argv);
extern const struct cli_command cmd_query_def;
int cmd_collect(int argc, char **argv);
extern const struct cli_command cmd_collect_def;
int cmd_serve(int argc, char **argv);
extern const struct cli_command cmd_serve_def;
int cmd_web(int argc, char **argv);
extern const struct cli_command cmd_web_def;
/* The fleet commands this build has, for --version ("fleet: serve (...)"). */
void cli_print_fleet(FILE *out);

#endif
