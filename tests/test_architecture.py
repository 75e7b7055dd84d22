"""The package's borders, read from the source (no Java, fast).

- the import contracts of ``pyproject.toml`` (import-linter, run as ``lint-imports``): only
  ``fiji_bridge.imagej`` touches Java, the numpy modules never import the ImageJ layer, the
  layers, no cycles;
- no module imports another module's private (``_name``) attribute, nor uses one through a
  module it imported;
- no module but ``cli`` imports ``fiji_bridge.cli``;
- every public function and class of a module is in its ``__all__``;
- importing ``fiji_bridge`` or building the command line imports neither Java nor xarray, and
  numba loads only when noise is drawn or the engine runs.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "fiji_bridge"


def _modules() -> dict[str, ast.Module]:
    """Dotted name -> parsed source, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


MODULES = _modules()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from ... import``, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module if module in _packages() else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _packages() -> set[str]:
    return {name for name in MODULES
            if (REPO / Path(*name.split(".")) / "__init__.py").exists()}


def _imports(module: str, tree: ast.Module):
    """(line, imported module, imported name or None) of every import, lazy ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            for alias in node.names:
                yield node.lineno, source, alias.name


def test_import_contracts_hold():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " broken" in result.stdout and "0 broken" in result.stdout, result.stdout


def test_no_private_name_crosses_a_module_border():
    crossings = []
    for module, tree in MODULES.items():
        bound_modules = set()  # local names bound to another fiji_bridge module
        for line, source, name in _imports(module, tree):
            if not source.startswith("fiji_bridge"):
                continue
            target = source if name is None else f"{source}.{name}"
            if name is not None and _private(name):
                crossings.append(f"{module}:{line} imports {target}")
            if name is None and any(_private(p) for p in source.split(".")):
                crossings.append(f"{module}:{line} imports {source}")
            if name is not None and target in MODULES:
                bound_modules.add(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.names[0].asname:
                bound_modules |= {a.asname for a in node.names
                                  if f"{_absolute(module, node)}.{a.name}" in MODULES}
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in bound_modules):
                crossings.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert crossings == []


def test_nothing_imports_the_command_line():
    importers = [f"{module}:{line}" for module, tree in MODULES.items() if module != "fiji_bridge.cli"
                 for line, source, name in _imports(module, tree)
                 if source == "fiji_bridge.cli" or (source == "fiji_bridge" and name == "cli")]
    assert importers == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_public_function_and_class_is_in_all(module):
    tree = MODULES[module]
    public = {node.name for node in tree.body
              if isinstance(node, (ast.FunctionDef, ast.ClassDef))
              and not node.name.startswith("_")}
    exported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            exported = set(ast.literal_eval(node.value))
    missing = sorted(public - exported)
    assert missing == [], f"{module}: public but not in __all__: {missing}"
    unknown = sorted(name for name in exported if not any(
        isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name
        or isinstance(node, (ast.Assign, ast.AnnAssign)) and name in {
            t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)}
        or isinstance(node, (ast.Import, ast.ImportFrom)) and name in {
            (a.asname or a.name).split(".")[0] for a in node.names}
        for node in tree.body))
    lazy = module == "fiji_bridge" or "__getattr__" in {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert lazy or unknown == [], f"{module}: __all__ names what it does not define: {unknown}"


def test_importing_the_package_and_the_command_line_stays_light():
    code = (
        "import sys\n"
        "import fiji_bridge\n"
        "assert sorted(fiji_bridge.__all__) == sorted(n for n in fiji_bridge.__all__\n"
        "                                             if n in dir(fiji_bridge))\n"
        "from fiji_bridge import cli\n"
        "cli.build_parser().parse_args(['run'])\n"
        "heavy = [m for m in ('xarray', 'jpype', 'scyjava', 'imagej', 'matplotlib', 'numba')\n"
        "         if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "assert fiji_bridge.einstein_from_noise.__module__ == 'fiji_bridge.experiment'\n"
        "assert fiji_bridge.run_study.__module__ == 'fiji_bridge.study'\n"
        "assert 'xarray' in sys.modules and 'jpype' not in sys.modules\n"
        "import fiji_bridge.engine, fiji_bridge.noise\n"
        "assert 'numba' not in sys.modules  # only when noise is drawn or the engine runs\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr


def test_normalize_is_spelled_one_way_in_public_names():
    # ImageJ's menu and fiji_bridge.imagej.normalize spell it with a z; prose may say either.
    spelled = [f"{module}.{name}" for module, tree in MODULES.items() for node in tree.body
               for name in ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                            else [t.id for t in getattr(node, "targets", [])
                                  if isinstance(t, ast.Name)])
               if not name.startswith("_") and "normalis" in name.lower()]
    assert spelled == []


def test_every_module_is_placed_in_the_layers():
    # A new module must be given a layer (and, when it is numpy only, the numpy contract).
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["type"]: c for c in config["contracts"]}
    layers = [[part.strip(" ()") for part in layer.replace("|", ":").split(":")]
              for layer in contracts["layers"]["layers"]]
    placed = {name for layer in layers for name in layer}
    top_level = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert sorted(top_level - placed) == [] and sorted(placed - top_level) == []
    numpy_layer = next(layer for layer in layers if "noise" in layer)
    forbidden_sources = {name.split(".")[1] for name in contracts["forbidden"]["source_modules"]}
    assert set(numpy_layer) | {"checks"} == forbidden_sources


def test_imports_are_absolute():
    relative = [f"{module}:{node.lineno}" for module, tree in MODULES.items()
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == []
