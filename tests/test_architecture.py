"""Architecture bars, read from the source with :mod:`ast` (nothing is imported; fast).

(a) no import cycle among frisson modules; (b) no function longer than 100 lines of
code after its docstring; (c) no private name imported from another package; (d)
lower layers never import higher ones (DESIGN.md's data flow). Offenders that existed
when a bar was introduced are listed in commented allow-lists: the test passes on
them and fails on any new offender; an entry that no longer offends is reported
with a warning (delete it, so the lists only shrink). Two more bars keep one spelling
of shared constants: (e) the audio suffixes live only in ``frisson.audio``
(``AUDIO_SUFFIXES``), (f) ``"musicnn-msd"`` is spelled out in code only where the
registry defines it (``DEFAULT_ENCODER`` everywhere else).

Import edges: every ``import``/``from ... import`` of a frisson module, at module
level and inside functions, except in ``if TYPE_CHECKING:`` blocks (they never run).
``from frisson.a import b`` is an edge to ``frisson.a.b`` when that is a module and
to ``frisson.a`` otherwise; the implicit import of parent packages is not an edge
(else every package would form a cycle with its own submodules).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "frisson"
MAX_CODE_LINES = 100


def _warn_stale(name: str, stale: set[str]) -> None:
    if stale:
        warnings.warn(f"{name}: no longer offending, delete: {sorted(stale)}", stacklevel=2)


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Import:
    """One import statement's target in a module."""

    importer: str
    target: str  # the frisson module imported
    names: tuple[str, ...]  # names taken from it (``from ... import``); () for ``import``
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_runtime(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk_runtime(other)
            continue
        yield child
        yield from _walk_runtime(child)


def _resolve(importer: str, node: ast.ImportFrom) -> str | None:
    """The absolute module a ``from`` import reads from (relative imports resolved)."""
    if not node.level:
        return node.module
    is_package = MODULES[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(importer: str) -> list[Import]:
    out = []
    for node in _walk_runtime(TREES[importer]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    out.append(Import(importer, alias.name, (), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(importer, node)
            if source is None or source.split(".")[0] != PACKAGE:
                continue
            plain = [a.name for a in node.names if f"{source}.{a.name}" not in MODULES]
            for alias in node.names:  # submodules imported by name are edges of their own
                if f"{source}.{alias.name}" in MODULES:
                    out.append(Import(importer, f"{source}.{alias.name}", (), node.lineno))
            if plain:
                out.append(Import(importer, source, tuple(plain), node.lineno))
    return out


IMPORTS = [imp for name in MODULES for imp in _imports(name)]


# ----------------------------------------------------------------------------- cycles
def _graph(imports: list[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for imp in imports:
        if imp.target in MODULES and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def import_cycles(imports: list[Import] = IMPORTS) -> list[list[str]]:
    """Strongly connected components of more than one module."""
    return sorted(c for c in _strongly_connected(_graph(imports)) if len(c) > 1)


def test_tarjan_finds_a_planted_cycle_and_nothing_in_a_chain():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert sorted(c for c in _strongly_connected(graph) if len(c) > 1) == [["a", "b", "c"]]
    assert all(len(c) == 1 for c in _strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}))


def test_reader_sees_function_level_imports_but_not_type_checking_blocks(monkeypatch):
    # frisson.encoders._registry imports _weights inside describe_encoder
    targets = {imp.target for imp in IMPORTS if imp.importer == "frisson.encoders._registry"}
    assert "frisson.encoders._weights" in targets
    code = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import frisson.cli\n"
        "else:\n    from frisson import errors\ndef f():\n    from . import store\n"
    )
    monkeypatch.setitem(TREES, "frisson.audio", ast.parse(code))
    assert {imp.target for imp in _imports("frisson.audio")} == {"frisson.errors", "frisson.store"}


def test_a_cycle_through_a_function_level_import_is_found(monkeypatch):
    # frisson.store imports frisson.audio; planting the way back closes a cycle
    monkeypatch.setitem(TREES, "frisson.audio", ast.parse("def f():\n    import frisson.store\n"))
    imports = [i for i in IMPORTS if i.importer != "frisson.audio"] + _imports("frisson.audio")
    (cycle,) = import_cycles(imports)  # with what store reaches that imports audio
    assert {"frisson.audio", "frisson.store", "frisson.encoders._base"} <= set(cycle)
    assert "frisson.timeseries" not in cycle  # imported by audio, imports nothing back


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, "import cycles (strongly connected components):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


# --------------------------------------------------------------------- long functions
#: Functions longer than MAX_CODE_LINES code lines when this bar came in (issue 14).
#: Split them and delete their line here; new ones are refused.
LONG_FUNCTIONS_ALLOWED: set[str] = set()


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef, source: list[str]) -> int:
    """Non-blank, non-comment lines from the first statement after the docstring to the end."""
    body = function.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    lines = source[body[0].lineno - 1 : function.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def long_functions() -> dict[str, int]:
    """``module:qualified.name`` -> code lines, for functions over the limit."""
    out = {}
    for module, tree in TREES.items():
        source = MODULES[module].read_text(encoding="utf-8").splitlines()

        def visit(node: ast.AST, prefix: str, module: str = module, source=source) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{prefix}{child.name}"
                    n = code_lines(child, source)
                    if n > MAX_CODE_LINES:
                        out[f"{module}:{name}"] = n
                    visit(child, f"{name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return out


def test_code_lines_skip_the_docstring_blanks_and_comments():
    text = 'def f():\n    """Doc.\n\n    More.\n    """\n    a = 1\n\n    # note\n    return a\n'
    function = ast.parse(text).body[0]
    assert code_lines(function, text.splitlines()) == 2


def test_no_function_longer_than_100_code_lines():
    found = long_functions()
    new = {name: n for name, n in found.items() if name not in LONG_FUNCTIONS_ALLOWED}
    assert not new, f"functions over {MAX_CODE_LINES} code lines (split them): {new}"
    _warn_stale("LONG_FUNCTIONS_ALLOWED", LONG_FUNCTIONS_ALLOWED - set(found))


# ---------------------------------------------------------------------- private names
#: ``importer -> module:name`` imports of private names across packages when this bar
#: came in (issue 14). Make the name public (or move the code) and delete the entry.
PRIVATE_IMPORTS_ALLOWED: set[str] = set()


def _package_of(module: str) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def private_imports() -> set[str]:
    """Private names (``_x``) imported from a module of a package the importer is not in.

    A name is private to the package of the module that defines it: its modules and
    subpackages may import it (``frisson.models.encoding._cv`` from
    ``frisson.models.encoding._design``); any other module may not. Top-level modules
    (``frisson.store``) count as the one-module package ``frisson.store`` here, so a
    top-level module's private names stay its own.
    """
    out = set()
    for imp in IMPORTS:
        if imp.target not in MODULES:
            continue
        owner = _package_of(imp.target)
        if owner == PACKAGE:  # top-level module: its names are its own
            owner = imp.target
        for name in imp.names:
            if not name.startswith("_") or name.startswith("__"):
                continue
            if imp.importer != owner and not imp.importer.startswith(owner + "."):
                out.add(f"{imp.importer} -> {imp.target}:{name}")
    return out


def test_no_private_name_imported_from_another_package():
    found = private_imports()
    new = found - PRIVATE_IMPORTS_ALLOWED
    assert not new, "private names imported across packages (make them public):\n" + "\n".join(
        sorted(new)
    )
    _warn_stale("PRIVATE_IMPORTS_ALLOWED", PRIVATE_IMPORTS_ALLOWED - found)


# ----------------------------------------------------------------------------- layers
_ABOVE_BASE = ("encoders", "physio", "models", "pipelines", "report", "cli")
_ORCHESTRATION = ("pipelines", "report", "cli")
_TOP_LEVEL = (*_ORCHESTRATION, "__main__")  # everything else lies below pipelines


def _top(module: str) -> str:
    """The name under frisson a module lives in (``frisson.encoders.hf`` -> ``encoders``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _forbidden(importer: str) -> tuple[str, ...]:
    """What a module may not import, per DESIGN.md's data flow."""
    top = _top(importer)
    if top in ("timeseries", "audio"):
        return _ABOVE_BASE
    if top == "pipelines":
        return ("report", "cli")
    if top not in _TOP_LEVEL:
        return _ORCHESTRATION
    return ()


def layer_violations(imports: list[Import] = IMPORTS) -> list[str]:
    """``importer -> target (line n)`` for every import against the layers."""
    return sorted(
        {
            f"{imp.importer} -> {imp.target} (line {imp.line})"
            for imp in imports
            if _top(imp.target) in _forbidden(imp.importer)
        }
    )


def test_lower_layers_never_import_higher_ones():
    violations = layer_violations()
    assert not violations, "imports against DESIGN.md's layers:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    ("importer", "code", "bad"),
    [
        ("frisson.audio", "import frisson.encoders.mel", True),
        ("frisson.timeseries", "from frisson import report", True),
        ("frisson.audio", "from frisson.errors import AudioError", False),
        ("frisson.encoders.hf", "from frisson.pipelines import song", True),
        ("frisson.encoders.hf", "from frisson.physio import eda", False),  # not a listed bar
        ("frisson.store", "from frisson.cli import main", True),
        ("frisson.pipelines.song", "from frisson.report import song", True),
        ("frisson.pipelines.song", "import frisson.encoders", False),
        ("frisson.cli", "import frisson.report", False),
    ],
)
def test_layer_rule_on_planted_imports(importer, code, bad, monkeypatch):
    monkeypatch.setitem(TREES, importer, ast.parse(f"def f():\n    {code}\n"))
    assert bool(layer_violations(_imports(importer))) is bad


# ------------------------------------------------------------------ shared constants
def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes of a module and its classes and functions."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _string_constants(module: str, value: str) -> list[ast.Constant]:
    """Code (not docstring) string constants equal to ``value`` in a module."""
    docs = _docstrings(TREES[module])
    return [
        node
        for node in ast.walk(TREES[module])
        if isinstance(node, ast.Constant) and node.value == value and id(node) not in docs
    ]


#: Modules still holding their own list of audio suffixes (issue 14); use AUDIO_SUFFIXES.
SUFFIX_LISTS_ALLOWED: set[str] = set()


def suffix_lists() -> set[str]:
    """Modules other than frisson.audio with a tuple/list/set literal holding ``".opus"``."""
    out = set()
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and any(
                isinstance(e, ast.Constant) and e.value == ".opus" for e in node.elts
            ):
                out.add(module)
    return out - {"frisson.audio"}


def test_one_list_of_audio_suffixes():
    from frisson.audio import AUDIO_SUFFIXES

    assert len(AUDIO_SUFFIXES) == len(set(AUDIO_SUFFIXES)) == 11
    assert all(s.startswith(".") and s == s.lower() for s in AUDIO_SUFFIXES)
    assert "frisson.audio" not in suffix_lists()
    found = suffix_lists()
    new = found - SUFFIX_LISTS_ALLOWED
    assert not new, f"own audio suffix lists (use frisson.audio.AUDIO_SUFFIXES): {sorted(new)}"
    _warn_stale("SUFFIX_LISTS_ALLOWED", SUFFIX_LISTS_ALLOWED - found)


#: Where "musicnn-msd" is a name in its own right: the registry (DEFAULT_ENCODER and
#: its entry) and musicnn's checkpoint table (each checkpoint's registry name).
DEFAULT_ENCODER_HOMES = {"frisson.encoders._registry", "frisson.encoders.musicnn"}
#: Modules that spell out the default instead of using DEFAULT_ENCODER (issue 14).
DEFAULT_ENCODER_SPELLED_ALLOWED: set[str] = set()


def spelled_default_encoder() -> dict[str, list[int]]:
    """Modules (outside the homes) with a code string ``"musicnn-msd"``, and its lines."""
    found = {}
    for module in TREES:
        if module in DEFAULT_ENCODER_HOMES:
            continue
        lines = [node.lineno for node in _string_constants(module, "musicnn-msd")]
        if lines:
            found[module] = lines
    return found


def test_the_default_encoder_is_spelled_once():
    from frisson.encoders import DEFAULT_ENCODER

    assert DEFAULT_ENCODER == "musicnn-msd"
    assert len(_string_constants("frisson.encoders._registry", DEFAULT_ENCODER)) == 2
    found = spelled_default_encoder()
    new = {m: lines for m, lines in found.items() if m not in DEFAULT_ENCODER_SPELLED_ALLOWED}
    assert not new, f'"musicnn-msd" spelled out (use DEFAULT_ENCODER): {new}'
    _warn_stale("DEFAULT_ENCODER_SPELLED_ALLOWED", DEFAULT_ENCODER_SPELLED_ALLOWED - set(found))


def test_constant_bars_see_code_but_not_docstrings(monkeypatch):
    code = 'def f(x="musicnn-msd"):\n    """Default ``"musicnn-msd"``."""\n    return {".opus"}\n'
    monkeypatch.setitem(TREES, "frisson.store", ast.parse(code))
    assert spelled_default_encoder()["frisson.store"] == [1]
    assert "frisson.store" in suffix_lists()


# ------------------------------------------------------------------- shared docstrings
def test_every_docstring_placeholder_is_filled():
    """No ``%(name)s`` is left in a public docstring (fill_doc ran and knew every entry)."""
    import importlib
    import inspect

    from frisson._docs import fill_doc

    left = []
    for module_name in TREES:
        if module_name.endswith("__main__") or module_name == "frisson._docs":
            continue  # runs the command line when imported; explains the placeholders
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            doc = inspect.getdoc(obj) or ""
            if "%(" in doc and ")s" in doc:
                left.append(f"{module_name}.{name}")
    assert not left, f"docstrings with unfilled %(name)s (decorate with fill_doc): {left}"

    def planted():
        """Doc.

        Parameters
        ----------
        %(no_such_entry)s
        """

    with pytest.raises(KeyError, match="no_such_entry"):
        fill_doc(planted)
