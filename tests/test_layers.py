"""The import graph points one way: app, bench, eval -> qa -> index (issue 16).

Read from the source's syntax trees, so it loads no module and no model: every import counts,
the ones inside functions and under `TYPE_CHECKING` too, since a lazy import is still a
dependency. Checked for every module of index/, qa/, eval/, bench/ and app.py:

- layers: a package imports only from its own layer or below (index < qa < eval < bench < app
  < citeqa_cli);
- the `citeqa` command (`citeqa_cli`, which hands eval's and the page's commands to `qa.cli`) is
  an entry point, imported by no module;
- no module takes another module's private name (`from x import _y`, `import x._y`, `x._y`);
- no two modules import each other, directly or round a loop.

`KNOWN` lists the imports that break these today in files being edited elsewhere, each with the
change that removes it; a listed import that is gone fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("index", "qa", "eval", "bench")
# Lower layers must not know the higher ones exist.
LAYER = {"index": 0, "qa": 1, "eval": 2, "bench": 3, "app": 4, "citeqa_cli": 5}
ENTRY_POINTS = frozenset({"citeqa_cli"})

# (importing module, what it imports: a module or module.name) -> the rule it breaks. Each
# group's comment says the change that removes it, in a file another engineer is editing now.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One use of another module: `target` is a module, or `module.name` for a name in it."""

    importer: str
    target: str
    where: str  # file:line


def module_files(root: Path = ROOT) -> dict[str, Path]:
    files = {name: root / f"{name}.py" for name in ("app", "citeqa_cli")}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = importer.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join([*base, module] if module else base)


def imports_of(importer: str, path: Path, modules: set[str]) -> Iterator[Import]:
    """Every project module or name `importer` uses, wherever the import statement sits, and
    every `module._name` read through a name an import bound."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = importer.replace(".", "/") + ("/__init__.py" if path.name == "__init__.py" else ".py")

    def at(node: ast.stmt | ast.expr) -> str:
        return f"{name}:{node.lineno}"

    bound: dict[str, str] = {}  # local name -> the project module it refers to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in LAYER:
                    continue
                yield Import(importer, alias.name, at(node))
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom):
            is_package = path.name == "__init__.py"
            module = _absolute(node.module, node.level, importer, is_package)
            if module.split(".")[0] not in LAYER:
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield Import(importer, full, at(node))
                if full in modules:
                    bound[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain: list[str] = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in bound:
            continue
        target = bound[base.id]
        for attr in reversed(chain):
            target = f"{target}.{attr}"
            if target not in modules:
                break
        if target not in modules and _private(target.rsplit(".", 1)[1]):
            yield Import(importer, target, at(node))


def _module_of(target: str, modules: set[str]) -> str:
    """The module a target names or takes a name from."""
    return target if target in modules or "." not in target else target.rsplit(".", 1)[0]


def problems(root: Path = ROOT) -> tuple[list[tuple[Import, str]], dict[str, set[str]]]:
    """Each import that breaks a rule, with the rule, and the module graph (known exceptions
    left out) for the cycle check."""
    files = module_files(root)
    modules = set(files)
    found: list[tuple[Import, str]] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for importer, path in files.items():
        for imp in imports_of(importer, path, modules):
            source = _module_of(imp.target, modules)
            if source == importer:
                continue
            rule = None
            if LAYER[imp.target.split(".")[0]] > LAYER[importer.split(".")[0]]:
                rule = "layer"
            elif source in ENTRY_POINTS:
                rule = "cli"
            elif any(_private(part) for part in imp.target.split(".")[1:]):
                rule = "private"
            if rule:
                found.append((imp, rule))
            if (importer, imp.target) not in KNOWN and source in modules:
                graph[importer].add(source)
    return found, graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other through imports (Tarjan's strongly connected
    components, iteratively), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups, key=len, reverse=True)


WHY = {
    "layer": "imports from a higher layer (index < qa < eval < bench < app)",
    "cli": "imports the command line, an entry point: move what it needs below it, into qa/",
    "private": "imports another module's private name: make it public where it is shared",
}


def test_every_module_is_seen():
    files = module_files()
    assert {"app", "index.store", "qa.types", "qa.llm.base", "eval.run", "bench.retrieval"} <= set(
        files
    )


def test_imports_point_down_and_take_no_private_names():
    found, _ = problems()
    new = [
        f"{imp.where}: {imp.importer} -> {imp.target}: {WHY[rule]}"
        for imp, rule in found
        if (imp.importer, imp.target) not in KNOWN
    ]
    assert not new, "\n".join(new)


def test_known_exceptions_still_exist():
    """An entry whose import is gone is removed from KNOWN, so the list only shrinks."""
    found = {(imp.importer, imp.target): rule for imp, rule in problems()[0]}
    stale = [f"{key}: {rule}" for key, rule in KNOWN.items() if found.get(key) != rule]
    assert not stale, "no longer imported that way; remove from KNOWN:\n" + "\n".join(stale)


def test_no_import_cycles():
    loops = cycles(problems()[1])
    assert not loops, "modules that import each other: " + "; ".join(" <-> ".join(g) for g in loops)


def test_the_checks_see_what_they_look_for(tmp_path):
    """The walker finds each kind of import it guards against, inside functions too."""
    for package in (*PACKAGES, "qa/sub"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
    (tmp_path / "app.py").write_text("def _page():\n    pass\n")
    (tmp_path / "qa" / "cli.py").write_text("def parse():\n    pass\n")
    (tmp_path / "citeqa_cli.py").write_text("def main():\n    pass\n")
    (tmp_path / "qa" / "sub" / "__init__.py").write_text("from .. import cli\nimport citeqa_cli\n")
    (tmp_path / "eval" / "run.py").write_text("import qa.sub\n\n\ndef _runner():\n    pass\n")
    (tmp_path / "index" / "store.py").write_text(
        "import app\n\n\ndef f():\n    from qa.cli import parse\n    return app._page()\n"
    )
    (tmp_path / "eval" / "report.py").write_text(
        "from eval.run import _runner\nimport eval.run as r\n\nr._runner()\n"
    )
    found = {(imp.importer, imp.target, rule) for imp, rule in problems(tmp_path)[0]}
    assert found == {
        ("index.store", "app", "layer"),
        ("index.store", "qa.cli.parse", "layer"),
        ("index.store", "app._page", "layer"),
        ("qa.sub", "citeqa_cli", "layer"),
        ("eval.report", "eval.run._runner", "private"),
    }
    (tmp_path / "eval" / "run.py").write_text("def f():\n    import eval.report\n")
    assert cycles(problems(tmp_path)[1]) == [["eval.report", "eval.run"]]
