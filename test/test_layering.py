"""Package layering of lst, checked on the source (AST; nothing is imported):

* library packages never import ``lst.bin`` (command-line tools) or ``lst.benchmarks``;
* the packages of lst form no import cycle (module- and function-level imports both count);
* only ``lst.benchmarks`` knows targets (no "PASS"/"MISS" string anywhere else);
* every entry point (``if __name__ == "__main__"``) is in ``lst/bin``, and ``lst/bin`` holds
  entry points only: a tool may import another tool's ``main`` but no helper from it.

Known, pending exceptions are listed with the reason; each must still exist and still break
the rule (so a fixed one is removed from the list, not forgotten).
"""
import ast
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Set, Tuple

from conftest import REPO_ROOT

LST = REPO_ROOT / "lst"

# file -> why it is still an exception
PENDING_TARGETS: Dict[str, str] = {}
PENDING_ENTRY_POINTS: Dict[str, str] = {}
PENDING_BIN_HELPERS: Dict[Tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def sources() -> Dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(LST.rglob("*.py"))}


def lst_imports(tree: ast.Module, module: str) -> List[Tuple[str, List[str], int]]:
    """(imported lst module, imported names, line) for every import in the file, at any depth."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "lst"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                pkg = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
                base = ".".join(pkg + ([base] if base else []))
            if base.split(".")[0] != "lst":
                continue
            names = [a.name for a in node.names]
            if base == "lst" or base.endswith(".bin"):  # from lst import data / from lst.bin import tool
                out += [(f"{base}.{n}", [], node.lineno) for n in names]
            else:
                out.append((base, names, node.lineno))
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])  # lst.models, lst.vocab, ...


def test_library_never_imports_bin_or_benchmarks():
    bad = []
    for path, tree in sources().items():
        mod = module_name(path)
        for target, _, line in lst_imports(tree, mod):
            if mod.startswith("lst.bin"):
                continue
            if target.startswith("lst.bin"):
                bad.append(f"{rel(path)}:{line} imports {target}")
            if target.startswith("lst.benchmarks") and not mod.startswith("lst.benchmarks"):
                bad.append(f"{rel(path)}:{line} imports {target} (only lst.bin may)")
    assert not bad, "\n".join(bad)


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return []


def package_graph() -> Tuple[Dict[str, Set[str]], Dict[Tuple[str, str], str]]:
    graph, example = defaultdict(set), {}
    for path, tree in sources().items():
        mod = module_name(path)
        src = package_of(mod)
        for target, _, line in lst_imports(tree, mod):
            dst = package_of(target)
            if dst != src and src != "lst" and dst != "lst":
                graph[src].add(dst)
                example.setdefault((src, dst), f"{rel(path)}:{line}")
    return graph, example


def test_packages_form_no_import_cycle():
    graph, example = package_graph()
    cycle = find_cycle(graph)
    assert not cycle, "package import cycle: " + " -> ".join(cycle) + " (" + "; ".join(
        f"{a}->{b} at {example[(a, b)]}" for a, b in zip(cycle, cycle[1:])) + ")"
    assert "lst.bin" not in {dst for dsts in graph.values() for dst in dsts}


def test_find_cycle_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) == []


def has_main_guard(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)]
            consts = [n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)]
            if "__name__" in names and "__main__" in consts:
                return True
    return False


def test_targets_only_in_benchmarks():
    found = set()
    for path, tree in sources().items():
        if module_name(path).startswith("lst.benchmarks"):
            continue
        if any(isinstance(n, ast.Constant) and n.value in ("PASS", "MISS") for n in ast.walk(tree)):
            found.add(rel(path))
    assert found == set(PENDING_TARGETS), f"PASS/MISS outside lst/benchmarks: {sorted(found - set(PENDING_TARGETS))}; " \
                                          f"no longer pending: {sorted(set(PENDING_TARGETS) - found)}"


def test_entry_points_only_in_bin():
    found = {rel(p) for p, tree in sources().items()
             if has_main_guard(tree) and not module_name(p).startswith("lst.bin")}
    assert found == set(PENDING_ENTRY_POINTS), f"entry points outside lst/bin: " \
        f"{sorted(found - set(PENDING_ENTRY_POINTS))}; no longer pending: {sorted(set(PENDING_ENTRY_POINTS) - found)}"


def test_bin_holds_entry_points_only():
    missing, helpers = [], set()
    for path, tree in sources().items():
        mod = module_name(path)
        if not mod.startswith("lst.bin.") or path.name == "__init__.py":
            continue
        defines_main = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
        if not (defines_main and has_main_guard(tree)):
            missing.append(rel(path))
        for target, names, _ in lst_imports(tree, mod):
            if target.startswith("lst.bin.") and names != ["main"] and names:
                helpers.add((rel(path), target))
            if target.startswith("lst.bin.") and not names:  # `from lst.bin import tool`: only tool.main may be used
                attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                         and isinstance(n.value, ast.Name) and n.value.id == target.rsplit(".", 1)[1]}
                if attrs - {"main"}:
                    helpers.add((rel(path), target))
    assert not missing, f"lst/bin modules without main() and a __main__ guard: {missing}"
    assert helpers == set(PENDING_BIN_HELPERS), f"helpers imported from lst/bin tools: " \
        f"{sorted(helpers - set(PENDING_BIN_HELPERS))}; no longer pending: {sorted(set(PENDING_BIN_HELPERS) - helpers)}"
