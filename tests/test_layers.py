"""Dependencies point one way: wire <- vlib <- vnet <- session <- vcl <- cli. Every import in
vppsh/ (at any depth, inside functions too) is read from the source and checked against that
order; engine.py and main.py compose the layers and may import them all. Within the session
layer, vcl talks to the session layer only: no module of vcl imports a transport's. linux_cp
sits on vnet beside the session layer (VPP's plugin): it knows wire, vlib and vnet; below cli,
nothing knows it."""

from __future__ import annotations

import ast
import pathlib

import vppsh

ROOT = pathlib.Path(vppsh.__file__).parent
LAYERS = ("wire", "vlib", "vnet", "session", "vcl", "cli")
SIDE = {"linux_cp": "vnet"}  # a side layer: the highest layer it may import
COMPOSERS = {"engine", "main", "__main__", "__init__"}


def _imports(path: pathlib.Path, root: pathlib.Path = ROOT):
    """(line, absolute module) of every vppsh import in `path`."""
    pkg = path.relative_to(root.parent).with_suffix("").parts
    pkg = pkg[:-1] if pkg[-1] != "__init__" else pkg[:-1]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = pkg[:len(pkg) - node.level + 1] if node.level else ()
            mod = (*base, *(node.module.split(".") if node.module else ())) if node.level else \
                tuple((node.module or "").split("."))
            if node.module is None:  # `from .. import x`: x are modules of base
                for a in node.names:
                    yield node.lineno, (*mod, a.name)
            else:
                yield node.lineno, mod
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, tuple(a.name.split("."))


def _layer(parts: tuple) -> str | None:
    ok = len(parts) > 1 and parts[0] == "vppsh" and (parts[1] in LAYERS or parts[1] in SIDE)
    return parts[1] if ok else None


def _rank(layer: str, importing: bool) -> float:
    """A side layer imports as high as its base; it is imported from just below cli."""
    if layer in SIDE:
        return LAYERS.index(SIDE[layer]) if importing else LAYERS.index("cli") - 0.5
    return LAYERS.index(layer)


def test_no_import_points_up_a_layer():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        src = _layer(parts)
        if src is None:
            assert parts[-1] in COMPOSERS or parts[1] == "preload", f"{path}: in no layer"
            continue
        for line, mod in _imports(path):
            dst = _layer(mod)
            if dst is not None and dst != src and _rank(dst, False) > _rank(src, True):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {src} imports {'.'.join(mod)}")
    assert not wrong, "\n".join(wrong)


def test_vcl_uses_no_transport_module():
    wrong = [f"{path.name}:{line}: {'.'.join(mod)}" for path in sorted((ROOT / "vcl").rglob("*.py"))
             for line, mod in _imports(path) if mod[:3] == ("vppsh", "session", "tcp")
             or mod[:3] == ("vppsh", "session", "udp")]
    assert not wrong, wrong


def test_the_scan_reads_relative_and_absolute_imports(tmp_path):
    fake = tmp_path / "vppsh" / "vlib"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from ..vnet.ip4 import main\nimport vppsh.session.main\n"
                                 "from .. import cli\n")
    found = [mod for _line, mod in _imports(fake / "bad.py", tmp_path / "vppsh")]
    assert sorted(found) == [("vppsh", "cli"), ("vppsh", "session", "main"), ("vppsh", "vnet", "ip4")]
