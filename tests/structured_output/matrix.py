"""Asking the gateway for structured output the way users do: each official SDK's own helper (`messages.parse` /
`messages.stream` with `output_format=`, `chat.completions.parse` / `.stream` with `response_format=`) and a
Pydantic model, with the answer's headers caught on the way (an httpx response hook: the parse helpers have no
raw-response form in every SDK)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic
import httpx2 as httpx
import openai
from pydantic import BaseModel

from gateway.testing import Gateway

Dialect = Literal["anthropic", "openai"]
DIALECTS: tuple[Dialect, ...] = ("anthropic", "openai")
HI: Any = [{"role": "user", "content": "Which city? JSON please."}]
BOUND = 20.0  # seconds: every call is bounded (no hang counts as an answer)


class City(BaseModel):
    city: str
    population: int


class Place(BaseModel):
    """Optional fields: OpenAI's strict mode needs every property required. `nickname` allows null in the client's
    own schema; `motto` does not (the adapter makes it nullable for the upstream, and drops the null it lets in)."""

    city: str
    population: int
    nickname: str | None = None
    motto: str = ""


@dataclass
class Asked:
    """What the client got: `status` 200 with the answer's text, or the error's status and message."""

    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    finish: str | None = None
    parsed: BaseModel | None = None
    tool_calls: int = 0


class Headers:
    """The last response's headers, seen by the SDK's own HTTP client."""

    def __init__(self) -> None:
        self.last: dict[str, str] = {}

    async def _hook(self, response: httpx.Response) -> None:
        self.last = {k.lower(): v for k, v in response.headers.items()}

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(event_hooks={"response": [self._hook]}, timeout=BOUND)


async def ask(
    gw: Gateway, model: str, dialect: Dialect, *, stream: bool = False, schema: type[BaseModel] = City
) -> Asked:
    seen = Headers()
    if dialect == "anthropic":
        asked = await _anthropic(gw, seen, model, stream, schema)
    else:
        asked = await _openai(gw, seen, model, stream, schema)
    asked.headers = seen.last
    return asked


async def _anthropic(gw: Gateway, seen: Headers, model: str, stream: bool, schema: type[BaseModel]) -> Asked:
    async with gw.anthropic(http_client=seen.client()) as client:
        try:
            if stream:
                async with client.messages.stream(
                    model=model, max_tokens=300, messages=HI, output_format=schema
                ) as events:
                    message = await events.get_final_message()
            else:
                message = await client.messages.parse(model=model, max_tokens=300, messages=HI, output_format=schema)
        except anthropic.APIStatusError as error:
            return Asked(error.status_code, str(error))
        except anthropic.APIError as error:  # an error event mid-stream (the status was 200)
            return Asked(200, f"stream error: {error}")
    text = "".join(b.text for b in message.content if b.type == "text")
    tools = sum(1 for b in message.content if b.type == "tool_use")
    parsed = schema.model_validate_json(text) if text else None
    return Asked(200, text, finish=message.stop_reason, parsed=parsed, tool_calls=tools)


async def _openai(gw: Gateway, seen: Headers, model: str, stream: bool, schema: type[BaseModel]) -> Asked:
    async with gw.openai(http_client=seen.client()) as client:
        try:
            if stream:
                async with client.chat.completions.stream(model=model, messages=HI, response_format=schema) as events:
                    completion = await events.get_final_completion()
            else:
                completion = await client.chat.completions.parse(model=model, messages=HI, response_format=schema)
        except openai.APIStatusError as error:
            return Asked(error.status_code, str(error))
        except openai.APIError as error:
            return Asked(200, f"stream error: {error}")
    choice = completion.choices[0]
    tools = len(choice.message.tool_calls or [])
    return Asked(
        200, choice.message.content or "", finish=choice.finish_reason, parsed=choice.message.parsed, tool_calls=tools
    )
