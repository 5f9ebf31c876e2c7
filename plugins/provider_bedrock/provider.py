"""AWS Bedrock through the Converse API: POST /model/{modelId}/converse and /converse-stream, SigV4-signed.

Keys carry AWS credentials in `bedrock_key_config` ({region, access_key, secret_key, session_token?}); a key's
`value` is not used. `network_config.base_url` replaces `https://bedrock-runtime.{region}.amazonaws.com`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import ClassVar
from urllib.parse import quote

from yarl import URL

from gateway import (
    CallContext,
    ChatCall,
    ChatResult,
    Chunk,
    ProviderKey,
)
from gateway.api import (
    CLAUDE,
    BaseProvider,
    ConfigError,
    MediaRules,
    ProviderConfig,
    ProviderSetup,
    new_message_id,
    read_error_body,
)

from . import wire as w
from .config import BedrockKeyConfig, key_configs, parse_key_config
from .errors import error_from_reply
from .signing import botocore_missing, signed_headers
from .stream import ConverseStreamReader
from .transform import converse_message, converse_request

DEFAULT_BASE_URL = "https://bedrock-runtime.{region}.amazonaws.com"
JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"
REQUEST_ID_HEADER = "x-amzn-requestid"


class BedrockProvider(BaseProvider):
    """Converse is nobody's client dialect (dialect None): every call is translated. count_tokens is a local
    estimate: Bedrock's CountTokens serves only some models. Its own models count no higher than Claude."""

    kind: ClassVar[str] = "bedrock"
    media: ClassVar[MediaRules] = CLAUDE

    @classmethod
    def check_config(cls, name: str, config: ProviderConfig) -> list[str]:
        """Config errors found before start-up (gateway check-config, a clean one-line serve error)."""
        missing = botocore_missing()
        if missing is not None:
            return [f"$.providers.{name}: {missing}"]
        try:
            key_configs(name, config)
        except ConfigError as exc:
            return exc.errors
        return []

    def __init__(self, setup: ProviderSetup) -> None:
        """Raises ConfigError (with paths) for keys without valid credentials, or without botocore."""
        super().__init__(setup)
        missing = botocore_missing()
        if missing is not None:
            raise ConfigError([f"$.providers.{setup.name}: {missing}"])
        self._keys = key_configs(setup.name, setup.config)
        self._base = self.network.base_url.rstrip("/") if self.network.base_url else None

    async def complete(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> ChatResult:
        url, body, headers = self._request(call, key, "converse", JSON)
        response, reply = await self.http.call(
            url, body, headers, self.network, errors=error_from_reply, decode=w.RESPONSE_DECODER.decode,
            what="Converse response",
        )  # fmt: skip
        message_id = _message_id(reply.headers.get(REQUEST_ID_HEADER))
        return ChatResult(message=converse_message(response, model=call.model, message_id=message_id))

    async def stream(self, call: ChatCall, key: ProviderKey, ctx: CallContext) -> AsyncIterator[Chunk]:
        url, body, headers = self._request(call, key, "converse-stream", EVENT_STREAM)
        async with self.http.stream(url, body, headers, self.network) as resp:
            if resp.status >= 400:
                raise error_from_reply(resp.status, resp.headers, await read_error_body(resp))
            reader = ConverseStreamReader(model=call.model, message_id=_message_id(resp.headers.get(REQUEST_ID_HEADER)))
            async with aclosing(self.http.reads(resp, self.network)) as reads:
                async for data in reads:
                    chunk, error = reader.read(data)
                    if chunk is not None:
                        yield chunk
                    if error is not None:
                        raise error
            last = reader.end()
            if last is not None:
                yield last

    def _request(
        self, call: ChatCall, key: ProviderKey, operation: str, accept: str
    ) -> tuple[str, bytes, dict[str, str]]:
        """The URL, the body and the signed headers of one attempt with `key`."""
        assert call.target is not None
        credentials = self._credentials(key)
        model = call.target.model
        body = w.ENCODER.encode(converse_request(call.request, model=model))
        base = self._base or DEFAULT_BASE_URL.format(region=credentials.region)
        # aiohttp re-quotes a URL string (`%3A` goes out as `:`); SigV4 signs the path as it goes out, so sign
        # the URL in the very form aiohttp will send.
        url = str(URL(f"{base}/model/{quote(model, safe='')}/{operation}"))
        headers = {"content-type": JSON, "accept": accept, **self.network.extra_headers}
        return url, body, signed_headers(url, body, headers, credentials)

    def _credentials(self, key: ProviderKey) -> BedrockKeyConfig:
        found = self._keys.get(id(key))
        # A key object we did not see at start-up (a plugin built it) is validated now.
        return found if found is not None else parse_key_config(key, f"$.providers.{self.setup.name}.keys[?]")


def _message_id(request_id: str | None) -> str:
    """Bedrock gives no message id; its request id makes one that can be traced in AWS logs."""
    return f"msg_bdrk_{request_id.replace('-', '')}" if request_id else new_message_id()
