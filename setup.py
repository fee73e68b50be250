"""Builds the preload shim (vppsh/preload/ldp.c) into vppsh/preload/libvppsh_ldp*.so.

It is a plain shared library (it has no Python module init); an Extension is only the way
setuptools knows to compile C at `pip install`.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "vppsh.preload.libvppsh_ldp", ["vppsh/preload/ldp.c"], depends=["vppsh/preload/proto.h"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-pthread", "-fvisibility=hidden"],
    extra_link_args=["-pthread"])])
