/*
 * fuzz_walk.c - the whole walk of a process's memory on any bytes: thread
 * and interpreter lists, thread states, frames of each version family,
 * code objects, names and files, line tables, thread names, the GIL, and
 * dump --locals' reprs.  The input is a memory image (memimage.h): the
 * seeds are real samples of every interpreter (snapshot.c), so mutations
 * make the corrupted and hostile states a crashing or lying target can
 * show: cycles, huge counts, pointers into nowhere.
 */
#include "fuzz.h"
#include "memimage.h"

#include "pyspy/pylayout.h"
#include "pyspy/stacks.h"
#include "python/python_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memimage m;
	struct target t;
	struct pyinterp pi;
	const struct py_layout *l;

	if (!memimage_parse(&m, data, size))
		goto out;
	l = py_layout_for(m.major, m.minor);
	if (!l)
		goto out;
	memset(&t, 0, sizeof(t));
	t.pid = 1 << 22; /* above pid_max: nothing of /proc is ever this process */
	t.sig_fd = -1;
	t.memhook = &m.hook;
	memset(&pi, 0, sizeof(pi));
	pi.target = &t;
	pi.profile = profile_new();
	pi.layout = *l;
	pi.major = m.major;
	pi.minor = m.minor;
	pi.micro = -1;
	pi.tid_offset = -1;
	pi.runtime = m.runtime;
	pi.interp_head_addr = m.interp_head_addr;
	pi.code_type = m.code_type;
	pi.gil_holder = m.gil_holder;
	pi.gil_locked = m.gil_locked;
	pi.gil_switches = m.gil_switches;
	pi.found_by = pi.version_by = "fuzz";
	pi.codes = code_cache_new();
	if (pi.profile && pi.codes) {
		/* 3.13+: the layout comes from the target's own debug offsets. */
		if (m.major == 3 && m.minor >= 13) {
			static uint8_t buf[PY_DEBUG_OFFSETS_MAX];
			uint64_t vh;
			if (target_read(&t, m.runtime, buf, sizeof(buf)) != 0 ||
			    py_debug_offsets_apply(buf, sizeof(buf), &pi.layout, &vh, pi.diag,
						   sizeof(pi.diag)) != 0)
				goto done;
		}
		/* As a running target is read, then as a stopped one (degraded),
		 * through the caches the first walk filled. */
		memimage_exercise(&pi);
		pi.degrade_ok = true;
		pi.degrade_after = 1;
		memimage_exercise(&pi);
	}
done:
	pyinterp_release(&pi);
	profile_free(pi.profile);
	target_close(&t);
out:
	memimage_free(&m);
	return 0;
}
