"""Contracts that keep the plugin API, the docs and the config schema honest (after datasette's test_docs)."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import pytest

from gateway import hookspecs
from gateway.cli import _merge_defs, config_schema
from gateway.config import read_config
from gateway.pipeline.stages import STAGES
from gateway.plugins import load_plugins

ROOT = Path(__file__).resolve().parent.parent
SPECS = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("gw_")}
README = (ROOT / "README.md").read_text()


def test_every_hookspec_is_a_stage_or_a_startup_hook() -> None:
    stages = {name for name, _ in STAGES}
    assert set(SPECS) == stages | set(hookspecs.STARTUP_HOOKS)
    assert not stages & set(hookspecs.STARTUP_HOOKS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_is_documented_in_the_readme(name: str) -> None:
    args = ", ".join(inspect.signature(SPECS[name]).parameters)
    assert f"`{name}({args})`" in README


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_test(name: str) -> None:
    tests = (ROOT / "tests" / "plugins" / "test_hooks.py").read_text()
    assert re.search(rf"def test_hook_{name}\b", tests)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_docstring_naming_its_mode(name: str) -> None:
    doc = SPECS[name].__doc__ or ""
    assert "Mode:" in doc


def test_request_stages_do_not_use_firstresult_and_builtins_use_no_wrappers() -> None:
    from gateway.config import Settings

    pm = load_plugins(Settings(providers={})).pm
    for name, _ in STAGES:
        caller = getattr(pm.hook, name)
        assert not caller.spec.opts.get("firstresult"), name
        for impl in caller.get_hookimpls():
            assert not impl.wrapper and not impl.hookwrapper, (name, impl.plugin_name)


def test_config_schema_file_is_current() -> None:
    committed = json.loads((ROOT / "config" / "schema.json").read_text())
    assert committed == json.loads(config_schema()), "run: python -m gateway schema > config/schema.json"


def test_a_plugin_definition_named_like_another_is_refused_not_merged() -> None:
    """A plugin's config Struct named like a core one (an MCP `ClientConfig`) once replaced the core's `client`
    definition in the schema without a word."""
    defs: dict[str, object] = {"ClientConfig": {"properties": {"port": {}}}}
    _merge_defs(defs, {"ClientConfig": {"properties": {"port": {}}}, "Extra": {}}, "same")  # equal: fine
    assert set(defs) == {"ClientConfig", "Extra"}
    with pytest.raises(ValueError, match="'mcp' defines 'ClientConfig'"):
        _merge_defs(defs, {"ClientConfig": {"properties": {"name": {}}}}, "mcp")


def test_shipped_configs_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    for name in ("demo.json", "example.json"):
        load_plugins(read_config(ROOT / "config" / name))


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def test_core_never_imports_plugins() -> None:
    for path in (ROOT / "gateway").rglob("*.py"):
        for module, _ in _imports(path):
            assert not module.startswith("plugins"), f"{path} imports {module}"


PUBLIC_MODULES = {"gateway", "gateway.api", "gateway.testing"}


def test_plugins_and_examples_import_only_the_plugin_api() -> None:
    """An allow-list, not an underscore rule: the built-in plugins are written as any third party's would be."""
    for folder in ("plugins", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            for module, _ in _imports(path):
                if module == "gateway" or module.startswith("gateway."):
                    assert module in PUBLIC_MODULES, f"{path} imports {module}: use gateway.api"


def test_no_module_is_over_400_lines() -> None:
    for folder in ("gateway", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            assert len(path.read_text().splitlines()) <= 400, path


def test_every_name_of_the_plugin_api_is_in_the_readme_reference() -> None:
    """gateway.api's __all__ is the promise; the README's reference says what each name is."""
    from gateway import api

    reference = README.split("### Plugin API reference", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in api.__all__ if n != "VERSION" and not re.search(rf"`{n}(`|\()", reference)]
    assert not missing, f"not in the README's plugin API reference: {missing}"
    assert f"version {api.VERSION})" in reference


def test_the_plugins_folder_installs_whole_as_gateway_plugins() -> None:
    """Every package under plugins/ is listed (as gateway_plugins.*) in pyproject's packages; nothing imports the
    folder by its name (it would be a second copy of every plugin module beside the installed one)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    folders = {"gateway_plugins"} | {
        "gateway_plugins." + ".".join(p.parent.relative_to(ROOT / "plugins").parts)
        for p in (ROOT / "plugins").rglob("__init__.py")
        if p.parent != ROOT / "plugins"
    }
    assert folders <= listed, folders - listed
    cores = {"gateway"} | {
        "gateway." + ".".join(p.parent.relative_to(ROOT / "gateway").parts)
        for p in (ROOT / "gateway").rglob("__init__.py")
        if p.parent != ROOT / "gateway"
    }
    assert cores <= listed, cores - listed
    for folder in ("gateway", "plugins", "tests", "examples", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for module, _ in _imports(path):
                assert module != "plugins" and not module.startswith("plugins."), f"{path} imports {module}"


def _runtime_imports(path: Path, module: str) -> set[str]:
    """The gateway modules `module` imports when it runs (imports under `if TYPE_CHECKING:` do not count)."""
    tree = ast.parse(path.read_text())
    checking = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking or not isinstance(node, ast.ImportFrom):
            continue
        base = package[: len(package) - node.level + 1] if node.level else []
        target = ".".join([*base, node.module] if node.module else base)
        if target.startswith("gateway"):
            found.add(target)
    return found


def test_no_two_parts_of_the_core_import_each_other() -> None:
    """Between the core's packages and top-level modules (gateway.http, gateway.jobs, gateway.keys, ...), imports
    go one way: a cycle is a layering mistake (the answer module exists so that http and jobs need not)."""
    edges: dict[str, set[str]] = {}
    for path in (ROOT / "gateway").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        part = module.split(".")[1] if "." in module else ""
        for target in _runtime_imports(path, module):
            other = target.split(".")[1] if "." in target else ""
            if part and other and other != part:
                edges.setdefault(part, set()).add(other)
    cycles = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))
    assert cycles == [], cycles


def test_ci_runs_the_readme_test_command() -> None:
    """The README's second quick-start command is what CI runs, word for word (CI only adds Node.js first)."""
    step = README.split("# 2. install the dev extras", 1)[1].split("```", 1)[0]
    command = [line for line in step.splitlines()[1:] if line and not line.startswith("#")]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert len(command) == 1 and ci[-1] == command[0]
