"""The ctypes declarations match the C headers: sizes and every field's
offset, as printed by layout/layout.c (built by CMake: kvmhost_py_layout)."""

import ctypes
import json
import os
import subprocess

import pytest

from kvmhost import _structs


def c_layout():
    tool = os.environ.get("KVMHOST_LAYOUT_TOOL")
    if not tool:
        pytest.skip("KVMHOST_LAYOUT_TOOL is not set (ctest sets it to the kvmhost_py_layout program)")
    return json.loads(subprocess.run([tool], check=True, capture_output=True, text=True).stdout)


def py_offset(cls, dotted):
    off = 0
    for name in dotted.split("."):
        if name not in dict(cls._fields_) and getattr(cls, "_anonymous_", ()):
            for anon in cls._anonymous_:  # a field of an anonymous union member
                inner = dict(cls._fields_)[anon]
                if name in dict(inner._fields_):
                    off += getattr(cls, anon).offset
                    cls = inner
                    break
        desc = getattr(cls, name)
        off += desc.offset
        cls = dict(cls._fields_)[name]
    return off


def test_every_struct_matches():
    layout = c_layout()
    assert set(layout) == set(_structs.C_STRUCTS), "layout.c and _structs.C_STRUCTS list different structs"
    for cname, cls in _structs.C_STRUCTS.items():
        want = layout[cname]
        assert ctypes.sizeof(cls) == want["size"], f"sizeof(struct {cname})"
        for field, off in want["fields"].items():
            assert py_offset(cls, field) == off, f"offsetof(struct {cname}, {field})"


def test_every_python_field_is_checked():
    layout = c_layout()
    for cname, cls in _structs.C_STRUCTS.items():
        checked = {f.split(".")[0] for f in layout[cname]["fields"]}
        for name, _ in cls._fields_:
            if name in getattr(cls, "_anonymous_", ()):
                continue
            assert name in checked, f"{cname}.{name} is declared in Python but not checked by layout.c"
