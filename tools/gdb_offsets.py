# Print the offsets of every CPython field pyspy-c reads, from a libpython's
# DWARF, as "name value" lines (-1 = absent).  Development aid used to fill
# src/python/layout_table.c; the test suite cross-checks the table with libdw.
#   gdb -batch -x tools/gdb_offsets.py /root/.pyenv/versions/X/lib/libpythonX.so
import gdb

def lookup(tname):
    try:
        return gdb.lookup_type(tname)
    except gdb.error:
        return None

def offset(tname, path):
    t = lookup(tname)
    if t is None:
        return -1
    off = 0
    for part in path.split('.'):
        t = t.strip_typedefs()
        found = None
        for f in t.fields():
            if f.name == part:
                found = f
                break
        if found is None:
            return -1
        off += found.bitpos // 8
        t = found.type
    return off

def size(tname):
    t = lookup(tname)
    return -1 if t is None else t.strip_typedefs().sizeof

FIELDS = [
    ("runtime.interpreters_head", "struct pyruntimestate", "interpreters.head"),
    ("runtime.interpreters_main", "struct pyruntimestate", "interpreters.main"),
    ("runtime.gil_last_holder", "struct pyruntimestate", "ceval.gil.last_holder"),
    ("runtime.gil_locked", "struct pyruntimestate", "ceval.gil.locked"),
    ("runtime.tstate_current", "struct pyruntimestate", "gilstate.tstate_current"),
    ("interp.next", "struct _is", "next"),
    ("interp.tstate_head", "struct _is", "tstate_head"),
    ("interp.threads_head", "struct _is", "threads.head"),
    ("interp.ceval_gil", "struct _is", "ceval.gil"),
    ("gil.last_holder", "struct _gil_runtime_state", "last_holder"),
    ("gil.locked", "struct _gil_runtime_state", "locked"),
    ("tstate.next", "struct _ts", "next"),
    ("tstate.interp", "struct _ts", "interp"),
    ("tstate.frame", "struct _ts", "frame"),
    ("tstate.cframe", "struct _ts", "cframe"),
    ("tstate.current_frame", "struct _ts", "current_frame"),
    ("tstate.thread_id", "struct _ts", "thread_id"),
    ("tstate.native_thread_id", "struct _ts", "native_thread_id"),
    ("cframe.current_frame", "struct _PyCFrame", "current_frame"),
    ("frame.f_back", "struct _frame", "f_back"),
    ("frame.f_code", "struct _frame", "f_code"),
    ("frame.f_lasti", "struct _frame", "f_lasti"),
    ("iframe.f_code", "struct _PyInterpreterFrame", "f_code"),
    ("iframe.f_executable", "struct _PyInterpreterFrame", "f_executable"),
    ("iframe.previous", "struct _PyInterpreterFrame", "previous"),
    ("iframe.prev_instr", "struct _PyInterpreterFrame", "prev_instr"),
    ("iframe.instr_ptr", "struct _PyInterpreterFrame", "instr_ptr"),
    ("iframe.owner", "struct _PyInterpreterFrame", "owner"),
    ("code.co_filename", "PyCodeObject", "co_filename"),
    ("code.co_name", "PyCodeObject", "co_name"),
    ("code.co_firstlineno", "PyCodeObject", "co_firstlineno"),
    ("code.co_lnotab", "PyCodeObject", "co_lnotab"),
    ("code.co_linetable", "PyCodeObject", "co_linetable"),
    ("code.co_code_adaptive", "PyCodeObject", "co_code_adaptive"),
    ("unicode.length", "PyASCIIObject", "length"),
    ("unicode.state", "PyASCIIObject", "state"),
    ("bytes.ob_size", "PyBytesObject", "ob_base.ob_size"),
    ("bytes.ob_sval", "PyBytesObject", "ob_sval"),
    ("string.ob_size", "PyStringObject", "ob_size"),
    ("string.ob_sval", "PyStringObject", "ob_sval"),
]
for name, t, path in FIELDS:
    print("%s %d" % (name, offset(t, path)))
print("size.tstate %d" % size("struct _ts"))
print("size.interp %d" % size("struct _is"))
print("size.ascii %d" % size("PyASCIIObject"))
print("size.compact %d" % size("PyCompactUnicodeObject"))
print("size.iframe %d" % size("struct _PyInterpreterFrame"))
print("size.code %d" % size("PyCodeObject"))
