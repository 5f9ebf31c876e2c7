"""An LLM gateway speaking the Anthropic Messages and OpenAI Chat Completions APIs.

The public names a plugin may import are re-exported here; everything else is internal.
"""

from .call import ChatCall, ChatResult, Chunk, NativeBody, Principal, RoutePlan, Target
from .config import ConfigStruct, ProviderConfig, ProviderKey, Settings
from .context import CallContext
from .errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PaymentRequired,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = [
    "AuthenticationFailed",
    "CallContext",
    "ChatCall",
    "ChatResult",
    "Chunk",
    "ConfigStruct",
    "GatewayError",
    "InvalidRequest",
    "NativeBody",
    "NotFound",
    "Overloaded",
    "PaymentRequired",
    "PermissionDenied",
    "Principal",
    "ProviderConfig",
    "ProviderKey",
    "RateLimited",
    "RoutePlan",
    "Settings",
    "Target",
    "UpstreamError",
    "UpstreamTimeout",
    "hookimpl",
]
