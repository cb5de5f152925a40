/*
 * spin.c - a tiny C extension for the native-stack tests, built at test
 * time against each interpreter's own headers (Python 2.7 and 3.x), or
 * with the limited API (Py_LIMITED_API) for interpreters without headers.
 *
 *   call_back(fn)          C calls the Python function fn()
 *   spin(fd[, probe])      calls probe() (which records the Python stack
 *                          as the interpreter sees it), writes "ready\n"
 *                          to fd, then spins in C forever
 *   start_native_thread()  starts a pthread that spins in C and never
 *                          touches Python; returns once it runs
 *
 * Built with -O0 so that every function keeps its own frame and the
 * lines of the calls stay where the source has them.  The busy loops sit
 * on one line each, so that whichever of their instructions a sample
 * stops at, the line is the same.
 */
#include <Python.h>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

static volatile unsigned long spin_counter;

static void native_spin_forever(void)
{
	for (;;) spin_counter++; /* LINE:native_loop */
}

static volatile int native_started;

static void *native_thread_main(void *arg)
{
	(void)arg;
	native_started = 1;
	native_spin_forever(); /* LINE:native_call */
	return NULL;
}

static PyObject *call_back(PyObject *self, PyObject *fn)
{
	PyObject *res;

	(void)self;
	res = PyObject_CallObject(fn, NULL); /* LINE:call_back */
	if (!res)
		return NULL;
	Py_DECREF(res);
	Py_RETURN_NONE;
}

static PyObject *spin(PyObject *self, PyObject *args)
{
	PyObject *probe = NULL, *res;
	int fd;
	ssize_t w;

	(void)self;
	if (!PyArg_ParseTuple(args, "i|O", &fd, &probe))
		return NULL;
	/* The caller's Python stack, as the interpreter sees it from here. */
	if (probe && probe != Py_None) {
		if (!(res = PyObject_CallObject(probe, NULL)))
			return NULL;
		Py_DECREF(res);
	}
	w = write(fd, "ready\n", 6);
	(void)w;
	for (;;) spin_counter++; /* LINE:spin */
	Py_RETURN_NONE;
}

static PyObject *start_native_thread(PyObject *self, PyObject *unused)
{
	pthread_t th;

	(void)self;
	(void)unused;
	if (pthread_create(&th, NULL, native_thread_main, NULL) != 0) {
		PyErr_SetString(PyExc_OSError, "pthread_create failed");
		return NULL;
	}
	pthread_detach(th);
	/* Return once it runs its own code, not the C library's start-up. */
	while (!native_started)
		sched_yield();
	return PyLong_FromUnsignedLong((unsigned long)th);
}

static PyMethodDef methods[] = {
	{ "call_back", call_back, METH_O, "call fn() from C" },
	{ "spin", spin, METH_VARARGS, "call probe(), write ready to fd, then spin in C forever" },
	{ "start_native_thread", start_native_thread, METH_NOARGS, "start a C-only thread" },
	{ NULL, NULL, 0, NULL },
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef module = { PyModuleDef_HEAD_INIT, "spin", NULL, -1, methods,
				     NULL, NULL, NULL, NULL };

PyMODINIT_FUNC PyInit_spin(void)
{
	return PyModule_Create(&module);
}
#else
PyMODINIT_FUNC initspin(void)
{
	Py_InitModule("spin", methods);
}
#endif
