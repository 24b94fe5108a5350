"""Fixtures: loopback OpenAI-compatible servers, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig


@pytest.fixture
def start_server() -> Iterator[Callable[..., LoopbackLLMServer]]:
    """`start_server(latency_s=..., fault=..., ...)` -> a started server on 127.0.0.1."""
    started: list[LoopbackLLMServer] = []

    def start(**config: Any) -> LoopbackLLMServer:
        server = LoopbackLLMServer(ServerConfig(**config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
