# A package, so that frames in its modules are shown as pkg/mod.py.
