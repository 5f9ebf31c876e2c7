"""An LLM gateway speaking the Anthropic Messages and OpenAI Chat Completions APIs.

The plugin API is `gateway.api`, re-exported here: `from gateway import hookimpl, ChatCall, ...` and
`from gateway.api import ...` are the same names. Everything else in the package is internal.
"""

from .api import *  # noqa: F403
from .api import __all__ as __all__

__version__ = "0.1.0"  # the package's (pyproject.toml); the plugin API has its own, gateway.api.VERSION
