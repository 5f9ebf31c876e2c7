"""Fixtures of the adaptation tests: the fake upstreams (refusing what the real APIs refuse) and a gateway on them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.testing import Gateway
from tests.adaptation.helpers import Upstreams, gateway, upstreams


@pytest.fixture
async def up() -> AsyncIterator[Upstreams]:
    async for fakes in upstreams():
        yield fakes


@pytest.fixture
async def gw(up: Upstreams) -> AsyncIterator[Gateway]:
    async for running in gateway(up):
        yield running


@pytest.fixture
async def strict(up: Upstreams) -> AsyncIterator[Gateway]:
    """The gateway with `client.drop_unsupported_params: false`."""
    async for running in gateway(up, drop_unsupported_params=False):
        yield running
