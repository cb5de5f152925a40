/* target_internal.h - shared between the files of the target stage only */
#ifndef PYSPY_TARGET_INTERNAL_H
#define PYSPY_TARGET_INTERNAL_H

#include "pyspy/target.h"

void target_maps_release(struct target *t);
/* Add a thread to the table (opening its /proc files); NULL if full. */
struct target_thread *target_add_thread(struct target *t, pid_t tid);
void target_remove_thread(struct target *t, struct target_thread *th);
/* Seize one thread; 0, -PERR_GONE if it exited, -PERR_PERM. */
int target_seize_thread(struct target *t, pid_t tid);
/* CPU time a thread has run, in ns (/proc/PID/task/TID/schedstat); 0 if unknown. */
uint64_t target_thread_run_ns(struct target *t, pid_t tid);
int64_t target_now_ns(void);
/* The registry of traced targets (ptrace.c), for waitpid(-1) and crashes. */
void target_register(struct target *t);
void target_unregister(struct target *t);
/* Detach from every thread (stopping them first so PTRACE_DETACH works). */
void target_detach_all(struct target *t);

/* A core file's side of the target's functions (core.c). */
void target_core_release(struct target *t);
int target_core_open_file(struct target *t, const char *path);
void target_core_root(struct target *t, char *buf, size_t len);
void target_core_cmdline(struct target *t, char *buf, size_t len);
void target_core_comm(struct target *t, pid_t tid, char *buf, size_t len);

#endif
