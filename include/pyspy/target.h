/*
 * target.h - one remote process: its threads, memory, maps and files.
 *
 * The only place that knows about ptrace and /proc.  A struct target owns
 * every OS resource taken for the process (seized threads, open /proc
 * files); target_close() releases them all and resumes anything stopped,
 * whatever state the session ended in.
 *
 * Threads are seized once (PTRACE_SEIZE, with PTRACE_O_TRACECLONE so new
 * threads are traced from their first instruction) and interrupted per
 * sample with PTRACE_INTERRUPT; between samples the caller must let
 * target_poll() handle ptrace events promptly (signal re-injection, new and
 * exited threads), which is why the session loop waits on target_event_fd().
 */
#ifndef PYSPY_TARGET_H
#define PYSPY_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define TARGET_MAX_THREADS 4096
#define TARGET_MAX_PROCS 256     /* processes traced at once (--subprocesses) */

struct target_thread {
	pid_t tid;          /* in the profiler's PID namespace */
	pid_t nstid;        /* in the target's innermost PID namespace */
	int stat_fd;        /* /proc/PID/task/TID/stat, kept open */
	int sched_fd;       /* /proc/PID/task/TID/schedstat, kept open, or -1 */
	uint64_t runs;      /* times it was given a CPU, per schedstat */
	bool seized;
	bool stopped;       /* in a ptrace-stop we caused or are holding */
	bool starting;      /* new clone, initial PTRACE_EVENT_STOP not seen yet */
	bool expect_stop;   /* an interrupt is outstanding */
	int pending_sig;    /* signal to re-inject when resuming */
	int redirect_sig;   /* main thread only: a process-directed signal
			       another thread got while we held this one */
	char state;         /* OS state letter read before the last stop */
	uint64_t tp;        /* thread pointer (target_thread_pointer), 0 until read */
	/*
	 * Stopped by us while asleep: our stop pulled it out of its system
	 * call, and it may run for a moment to go back in.  Until the next
	 * state read, when and with how much CPU time (ns) it was let go.
	 */
	bool woken;
	int64_t woken_at;
	uint64_t woken_run;
};

struct target_map {
	uint64_t start, end, offset;
	char perms[5];
	char *path;         /* NULL for anonymous mappings */
};

struct target {
	pid_t pid;
	bool traced;        /* threads are seized (blocking mode) */
	bool holding;       /* a sample is being taken: threads that stop are held */
	bool gone;          /* the process exited */
	bool pidns_differs; /* the target lives in another PID namespace */
	bool spawned;       /* we started it (record -- PROGRAM): it is our child */
	int exit_status;    /* spawned or traced: its wait status once gone, else -1 */
	int sig_fd;         /* signalfd for SIGCHLD, owned by the caller */
	struct target_thread *threads;
	size_t nthreads, cap_threads;
	uint32_t *tid_slots;    /* tid -> index + 1 (open addressing), 0 = empty */
	size_t tid_nslots;
	struct target_map *maps;
	size_t nmaps;
	char exe[4096];     /* /proc/PID/exe target, as the target sees it */
	struct target_snap *snap;
	/*
	 * The last target_read_states() found every thread asleep at its
	 * read before and not given a CPU since: nothing of the process ran
	 * in between (a thread it made meanwhile is one that ran).
	 */
	bool none_ran;
	/* statistics */
	uint64_t signals_forwarded;
	uint64_t signals_redirected; /* see redirect_to_main() in ptrace.c */
	uint64_t reads;     /* system calls spent reading memory */
	/*
	 * Time threads were held stopped by us: from the first stop seen while
	 * holding to the resume (target_resume), summed.  The wait for a
	 * thread to reach its stop is not in it: it runs, or waits for a CPU,
	 * until then.
	 */
	uint64_t held_ns;
	int64_t held_since;  /* 0: none held now */
	/*
	 * Tests and fuzzing only (tests/fuzz): when set, every read of the
	 * target's memory goes through this instead of process_vm_readv(),
	 * with its contract (bytes read up to the first that could not be,
	 * or -1 and errno).  NULL in the program.
	 */
	struct target_memhook *memhook;
	/*
	 * A core file (target_open_core()), not a live process: its memory
	 * is served through memhook, nothing is ever stopped or traced, and
	 * /proc is never read.  NULL for a process.
	 */
	struct target_core *core;
};

struct iovec;
struct target_core;
struct target_memhook {
	long (*readv)(struct target_memhook *h, pid_t pid, const struct iovec *local,
		      unsigned long nlocal, const struct iovec *remote, unsigned long nremote);
};

/*
 * Open the process: check it exists and can be read.  With 'seize', every
 * thread is seized now (fails with PERR_PERM explaining why when ptrace is
 * refused, naming another tracer if /proc says there is one).
 */
int target_open(struct target *t, pid_t pid, bool seize);
/*
 * Seize every thread of a target opened without (as target_open(.., true)
 * would): a descendant found not to be Python is only read, never traced;
 * one that is gets every thread seized once it proves to be.
 */
int target_seize_listed(struct target *t);
/*
 * Start 'argv' as our child and return its pid once it has exec'd (its
 * interpreter still starting).  The child keeps our terminal and process
 * group, so Ctrl-C reaches it as it would without us.  Returns the pid,
 * or a negative PERR_* (the program could not be run: the message says
 * why).
 */
pid_t target_spawn(char *const argv[]);
/*
 * Wait (bounded) for a spawned child that exited after we closed the
 * target, and give its wait status; -1 if unknown.
 */
int target_reap(pid_t pid, int timeout_ms);

/*
 * Open a core dump (an ELF core of x86-64, or one gzip'd) as the target:
 * its threads (all stopped; idle when stopped in a system call), maps
 * and memory.  Memory the core did not save (file mappings never written:
 * code, read-only data) is read from the files mapped there, found at
 * the core's paths under 'sysroot' (NULL or "/": the root), the main
 * program at 'exe' when given.  Files missing or changed since the core
 * was made are reported on 'warn' (one line each, bounded; NULL: quiet).
 * Returns 0, or a negative PERR_* with its message set (PERR_NOPROC: the
 * core cannot be opened; PERR_RUNTIME: it is not a core, corrupt or
 * truncated).
 */
int target_open_core(struct target *t, const char *path, const char *exe, const char *sysroot,
		     FILE *warn);
/* A core's thread registers (x86-64: struct user_regs_struct); 0 or -PERR_UNAVAILABLE. */
int target_core_regs(struct target *t, pid_t tid, void *regs, size_t len);
/*
 * The directory the target's absolute file paths are under, as seen from
 * here: "/proc/PID/root", a core's sysroot, or "" (the root).
 */
void target_root(struct target *t, char *buf, size_t len);

/*
 * Reread what the process runs: /proc/PID/exe and its maps (after an
 * exec, or while a program we started loads its libraries).
 */
int target_reload(struct target *t);

/* Release everything; safe on a zeroed or already-closed target. */
void target_close(struct target *t);

/*
 * Remote memory.  0, or -PERR_TORN (unmapped/short), -PERR_GONE, -PERR_PERM.
 * Reads inside a region of the current snapshot are served from it.
 */
int target_read(struct target *t, uint64_t addr, void *buf, size_t len);

/* Several reads in one system call; each element's rc says how it went. */
struct target_iov {
	uint64_t addr;
	void *buf;
	size_t len;
	int rc;
};
/* Returns the number of failed elements (0 = all read). */
size_t target_readv(struct target *t, struct target_iov *v, size_t n);

/*
 * A snapshot holds remote regions copied once per sample (a thread's
 * data stack, say) so that the many small reads that follow cost no
 * system call.  It is only valid while the target is stopped, or for one
 * sample in non-blocking mode: clear it at the start of every sample.
 *
 * Prefetch.  While recording is on (target_memo_record()), each read
 * the snapshot cannot serve, or that a prefetched region served, is
 * noted (address and length), and so is every region passed to
 * target_memo_note().  target_snap_prefetch() starts the next sample by
 * copying all the regions noted during the last one into a fresh
 * snapshot in one system call (one iovec per region), so that the walk
 * of a stack that did not move finds everything it reads there.  Nothing
 * of the last sample is trusted: a prefetched region is a copy of remote
 * memory made during the current sample, found by exact address, and a
 * region that cannot be read any more is simply left out.
 */
#define TARGET_SNAP_BYTES (512u << 10)
#define TARGET_SNAP_REGIONS 1024
#define TARGET_MEMO_REGIONS 512
#define TARGET_MEMO_BYTES (256u << 10)
void target_snap_clear(struct target *t);
/* Copy [addr, addr+len) into the snapshot; 0 or a read error. */
int target_snap_add(struct target *t, uint64_t addr, size_t len);
/* Whether the snapshot holds all of [addr, addr+len) (a read of it costs nothing). */
bool target_snap_has(const struct target *t, uint64_t addr, size_t len);
/*
 * Clear the snapshot and fill it with the regions noted during the last
 * recording, in one process_vm_readv together with 'head' (read before
 * them) and 'tail' (after them), whose elements are read into their own
 * buffers as by target_readv().  Returns the number of system calls made
 * (1 unless some region could not be read).
 */
unsigned target_snap_prefetch(struct target *t, struct target_iov *head, size_t nhead,
			      struct target_iov *tail, size_t ntail);
/* Start noting the regions read (forgetting the last notes but one set). */
void target_memo_begin(struct target *t);
void target_memo_end(struct target *t);
/* Stop noting for a while (reads that will not recur); returns the state
 * to give back to target_memo_resume(). */
bool target_memo_pause(struct target *t);
void target_memo_resume(struct target *t, bool was);
/*
 * Note a region to prefetch next time (while noting).  Regions added with
 * target_snap_add() are not noted: their caller notes what it wants.
 */
void target_memo_note(struct target *t, uint64_t addr, size_t len);
/* Read a pointer-sized word. */
int target_read_ptr(struct target *t, uint64_t addr, uint64_t *out);

/* (Re)read /proc/PID/maps into t->maps. */
int target_load_maps(struct target *t);
/*
 * Open a file the target has mapped, through /proc/PID/map_files (works
 * across mount namespaces and for deleted files), falling back to
 * /proc/PID/root/<path>.  Returns an fd or -1.
 */
int target_open_mapped(struct target *t, const struct target_map *m);
/* Whether 'path', as the target sees it, exists (through /proc/PID/root). */
bool target_file_exists(struct target *t, const char *path);

/* Refresh the list of threads from /proc/PID/task (non-blocking mode, or to
 * learn the names of threads).  Seizes new ones in blocking mode. */
int target_refresh_threads(struct target *t);

/*
 * Read each thread's OS state letter into thread->state ('R' running,
 * ...).  A thread that was not running at its last read and has not been
 * given a CPU since (its run count in /proc/PID/task/TID/schedstat did
 * not move; five times cheaper to read than stat) keeps its letter.
 */
void target_read_states(struct target *t);

/*
 * Stop every seized thread and wait (bounded by timeout_ms) until each is in
 * a ptrace-stop.  Threads that exit meanwhile are dropped.  Returns 0,
 * -PERR_GONE when the process is gone, -PERR_TIMEOUT when some thread did
 * not stop in time (the caller resumes and drops the sample).
 */
int target_stop(struct target *t, int timeout_ms);
/* The same for the listed threads only (others keep running). */
int target_stop_tids(struct target *t, const pid_t *tids, size_t n, int timeout_ms);
/*
 * Ask the listed threads (tids NULL: every seized thread) to stop, without
 * waiting: a later target_stop_tids() or target_stop() waits for them, and
 * target_resume() lets them go.  From here until then the target is held
 * (each thread that stops stays stopped): the caller must resume it on
 * every path.
 */
void target_interrupt_tids(struct target *t, const pid_t *tids, size_t n);
/* Resume every thread we hold stopped, re-injecting pending signals. */
void target_resume(struct target *t);
/*
 * Resume every thread, and wait (at most timeout_ms) for the interrupts
 * still on their way (a stop that timed out arrives late) so that they
 * are let go too: after it, no thread stops for us unless asked again.
 * Before the profiler suspends itself.  0, or -PERR_TIMEOUT.
 */
int target_settle(struct target *t, int timeout_ms);
/*
 * Every thread listed is seized: a stop holds the whole process (what
 * its memory says then cannot change under a read).
 */
bool target_all_seized(const struct target *t);
/*
 * Handle every pending ptrace event without blocking: re-inject signals,
 * adopt new threads, forget exited ones, notice that the process is gone.
 * Call whenever target_event_fd() is readable.
 */
void target_poll(struct target *t);
/*
 * A traced target that is gone: wait up to timeout_ms for its exit to be
 * reported, so that exit_status says how it ended.  A read can find the
 * process gone (ESRCH) a moment before the kernel reports its end to us.
 */
void target_await_exit(struct target *t, int timeout_ms);

/*
 * The thread pointer of a thread (x86_64: its %fs base), which glibc and
 * musl make the thread's pthread_t.  Read with ptrace while the thread is
 * stopped, then kept (a thread does not move it).  0, -PERR_UNAVAILABLE
 * (not stopped and not read yet, or another architecture) or -PERR_TORN.
 */
int target_thread_pointer(struct target *t, pid_t tid, uint64_t *tp);
/* Map a thread id as the target sees it to the host tid (0 if unknown). */
pid_t target_host_tid(struct target *t, pid_t nstid);
struct target_thread *target_thread_by_tid(struct target *t, pid_t tid);
/*
 * The descendants of process 'root' (children, grandchildren, ...), at
 * most 'cap', from /proc/PID/task/TID/children.  Returns how many.
 */
size_t target_descendants(pid_t root, pid_t *out, size_t cap);
/*
 * A number that identifies the program a process runs now: it changes
 * when the process execs (its code and stack move).  0 if it is gone.
 */
uint64_t target_image_id(pid_t pid);
/*
 * Both from one read of /proc/PID/stat: the image id, and the start time
 * (clock ticks after boot), which with the pid identifies a process for
 * good (a reused pid has another).  0, or -1 if it is gone.
 */
int target_stat_ids(pid_t pid, uint64_t *image, uint64_t *start_time);
/* The target's command line, arguments separated by spaces, into buf. */
void target_cmdline(struct target *t, char *buf, size_t len);
/*
 * The same for any process: 0, or -1 ("?" in buf) when it has none (a
 * kernel thread, a zombie) or is gone.
 */
int target_pid_cmdline(pid_t pid, char *buf, size_t len);
/* OS thread name (comm) of a thread, into buf. */
void target_thread_comm(struct target *t, pid_t tid, char *buf, size_t len);

/* Install handlers so a crash of the profiler detaches cleanly. */
void target_guard_crashes(struct target *t);

#endif
