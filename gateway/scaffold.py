"""`gateway new-plugin NAME`: an installable plugin package to start from, with its test passing.

What it writes (NAME must be a Python identifier; it is the package, the entry point and the config name):

    NAME/pyproject.toml        the package, its `gateway` entry point, the kit as a test extra, pytest's settings
    NAME/NAME/__init__.py      a typed config and one hook: a model allow-list that refuses other models (403)
    NAME/tests/test_NAME.py    the plugin's tests, written with gateway.testing
    NAME/README.md             how to install it, configure it and run its tests
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A plugin for the LLM gateway"
requires-python = ">=3.11"
dependencies = ["llm-gateway"]

[project.optional-dependencies]
test = ["llm-gateway[testing]"]

# The gateway loads every installed package's `gateway` entry points as plugins.
[project.entry-points.gateway]
{name} = "{name}"

[tool.setuptools]
packages = ["{name}"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"

[tool.ruff]
line-length = 120

[tool.mypy]
strict = true
"""

PLUGIN = '''\
"""{name}: a plugin for the LLM gateway, written against its plugin API (gateway.api).

Config: {{"plugins": [{{"name": "{name}", "config": {{"allowed_models": ["mock/*", "anthropic/claude-sonnet-4-5"]}}}}]}}
"""

from __future__ import annotations

from gateway.api import (
    CallContext,
    ChatCall,
    ConfigRegistry,
    ConfigStruct,
    PermissionDenied,
    hookimpl,
)
from msgspec import field


class {config}(ConfigStruct, frozen=True):
    # Models calls may ask for: exact names, or "provider/*". Empty: every model (the plugin does nothing).
    allowed_models: list[str] = field(default_factory=list)


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add("{name}", {config})


@hookimpl
def gw_authorize(call: ChatCall, ctx: CallContext) -> None:
    allowed = ctx.config({config}).allowed_models
    if allowed and not any(_matches(call.model, pattern) for pattern in allowed):
        raise PermissionDenied(f"model {{call.model!r}} is not allowed here")


def _matches(model: str, pattern: str) -> bool:
    return model == pattern or (pattern.endswith("/*") and model.startswith(pattern[:-1]))
'''

TEST = '''\
"""{name}'s tests, with the gateway's kit: a gateway in-process, the official SDKs, fake upstreams."""

from __future__ import annotations

import anthropic
import pytest
from gateway.testing import MakeGateway

import {name}

HI: list[anthropic.types.MessageParam] = [{{"role": "user", "content": "hi"}}]
PLUGIN = {{"name": "{name}", "config": {{"allowed_models": ["mock/*"]}}}}
CONFIG = {{"providers": {{"mock": {{}}}}, "plugins": [PLUGIN]}}


async def test_allowed_models_are_served_and_others_refused(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(CONFIG, plugins=[{name}])
    async with gw.anthropic() as client:
        answer = await client.messages.create(model="mock/any", max_tokens=10, messages=HI)
        assert answer.content
        with pytest.raises(anthropic.PermissionDeniedError, match="not allowed"):
            await client.messages.create(model="anthropic/claude-x", max_tokens=10, messages=HI)
'''

README = """\
# {name}

A plugin for the LLM gateway.

```sh
pip install -e '.[test]'     # the plugin, with the gateway's test kit
pytest -q                    # its tests
```

Installed, the gateway loads it through its `gateway` entry point; configure it in the gateway's config file:

```json
{{"plugins": [{{"name": "{name}", "config": {{"allowed_models": ["mock/*"]}}}}]}}
```

The hooks, the types they take and the plugin API are in the gateway's README, "Writing a plugin".
"""


def new_plugin(name: str, parent: Path) -> Path:
    """Write the package for plugin `name` under `parent`; its folder. Raises ValueError for a bad name or a
    folder that exists."""
    if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) or name == "gateway":
        raise ValueError(f"{name!r} is not a valid plugin name: use lower case letters, digits and _")
    root = parent / name
    if root.exists():
        raise ValueError(f"{root} exists already")
    config = "".join(part.title() for part in name.split("_")) + "Config"
    files = {
        root / "pyproject.toml": PYPROJECT.format(name=name, dist=name.replace("_", "-")),
        root / name / "__init__.py": PLUGIN.format(name=name, config=config),
        root / "tests" / f"test_{name}.py": TEST.format(name=name),
        root / "README.md": README.format(name=name),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
