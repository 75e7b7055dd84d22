"""Contract: every pyimagej / scyjava / imglyb name the package uses exists, with the keywords
and argument counts it passes, in the installed versions.

The uses are read from the package's own source (AST), so the list cannot drift from the code:
every ``scyjava.x.y(...)``, ``pyimagej.init(..., mode=...)``, ``imglyb.config.z()`` reached
through a name bound by ``import scyjava`` / ``import imagej as pyimagej`` / ``from scyjava
import ...``.  pyimagej's gateway properties are the ones :data:`fiji.GATEWAY_ADDONS` lists
(the only way the package reaches them, through :func:`fiji.gateway_addon`).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from pathlib import Path

import pytest

from fiji_bridge.imagej import fiji

PACKAGE = Path(__file__).resolve().parents[1] / "fiji_bridge"
TRACKED = ("imagej", "scyjava", "imglyb")


def _aliases(tree: ast.AST) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in TRACKED:
                    names[alias.asname or root] = alias.name if alias.asname else root
        elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
              and node.module.split(".")[0] in TRACKED):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, aliases: dict[str, str], inner: set[int]) -> str | None:
    parts = []
    chain = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
        chain.append(node)
    if isinstance(node, ast.Name) and node.id in aliases:
        inner.update(id(n) for n in chain)
        return ".".join([aliases[node.id], *reversed(parts)])
    return None


def external_uses(source: str, filename: str = "<source>") -> list[tuple]:
    """(dotted name, positional count or None, keywords or None, where) for each use."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    uses = []
    inner: set[int] = set()
    for node in ast.walk(tree):  # parents before children
        if id(node) in inner:
            continue
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            name = _dotted(node.func, aliases, inner)
            if name is not None:
                inner.add(id(node.func))
                starred = any(isinstance(a, ast.Starred) for a in node.args) or any(
                    k.arg is None for k in node.keywords)
                uses.append((name, None if starred else len(node.args),
                             None if starred else tuple(k.arg for k in node.keywords), where))
        elif isinstance(node, ast.Attribute):
            name = _dotted(node, aliases, inner)
            if name is not None:
                uses.append((name, None, None, where))
    return uses


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def contract_problems(uses: list[tuple]) -> list[str]:
    problems = []
    for name, n_args, keywords, where in uses:
        try:
            obj = _resolve(name)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{where}: {name} does not exist ({exc})")
            continue
        if n_args is None:
            continue
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError):  # a builtin without a signature: existence is all
            continue
        try:
            signature.bind(*[None] * n_args, **{k: None for k in keywords})
        except TypeError as exc:
            problems.append(f"{where}: {name}{signature} cannot take {n_args} positional "
                            f"argument(s) and keywords {keywords}: {exc}")
    return problems


def _package_uses() -> list[tuple]:
    uses = []
    for path in sorted(PACKAGE.rglob("*.py")):
        uses += external_uses(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    return uses


def _in_fresh_process(run_python, code: str) -> list:
    """Run ``code`` (it sets ``result``) in a new interpreter: pyimagej and imglyb cannot be
    imported into a process whose JVM (the ``ij`` fixture's) lacks their jars."""
    result = run_python(f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_pyimagej_contract as contract
{code}
print("RESULT", json.dumps(result))
""")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.split("RESULT ", 1)[1])


def test_every_pyimagej_and_scyjava_use_matches_the_installed_versions(run_python):
    problems = _in_fresh_process(
        run_python, "result = contract.contract_problems(contract._package_uses())")
    assert not problems, "\n".join(problems)


def test_the_reader_sees_the_calls_that_matter():
    calls = {(name, keywords) for name, _, keywords, _ in _package_uses()}
    assert ("imagej.init", ("mode",)) in calls
    assert ("scyjava.config.set_java_constraints", ("fetch",)) in calls
    assert ("scyjava.config.set_java_constraints", ("fetch", "version")) in calls
    names = {name for name, *_ in _package_uses()}
    for expected in ("scyjava.jvm_version", "scyjava.start_jvm", "scyjava.jvm_started",
                     "scyjava.config.endpoints.clear", "scyjava.config.add_classpath",
                     "scyjava.jimport"):
        assert expected in names, expected


def test_the_contract_check_fails_on_a_wrong_keyword_or_name(run_python):
    source = (
        "import scyjava\nimport imagej as pyimagej\nfrom scyjava import config\n"
        "scyjava.config.set_java_constraints(fetchh='never')\n"
        "pyimagej.init('/x', moode='headless')\n"
        "config.no_such_function()\n"
        "pyimagej.init('/x', mode='headless')\n"
    )
    problems = _in_fresh_process(
        run_python,
        f"result = contract.contract_problems(contract.external_uses({source!r}, 'probe.py'))")
    assert len(problems) == 3, problems
    assert "fetchh" in problems[0] and "moode" in problems[1]
    assert "no_such_function" in problems[2]


def test_gateway_properties_exist_in_pyimagej(run_python):
    kinds = _in_fresh_process(run_python, """
import inspect, imagej
from fiji_bridge.imagej import fiji
result = {name: type(inspect.getattr_static(imagej.GatewayAddons, name, None)).__name__
          for name in fiji.GATEWAY_ADDONS}
""")
    assert kinds == {name: "property" for name in fiji.GATEWAY_ADDONS}


def test_gateway_addon_refuses_names_outside_the_contract():
    with pytest.raises(ValueError, match="GATEWAY_ADDONS"):
        fiji.gateway_addon(object(), "py")
