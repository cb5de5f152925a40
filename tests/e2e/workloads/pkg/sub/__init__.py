# A nested package: frames in pkg/sub/deep.py are shown as pkg/sub/deep.py.
