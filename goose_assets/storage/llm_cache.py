"""`llm_cache`: the content-addressed store of every LLM answer, read before a call and
written through after each one (a re-run never pays for a call twice)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb

from goose_assets.core.llm_types import LLMRequest, LLMResponse


class LLMCache:
    """`llm_cache` as a ResponseCache: look-up before calling, write-through per response.

    Holds one connection for the duration of a generation step so that each response is
    committed the moment it arrives (a crash loses at most the calls in flight).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.hits = 0
        self.writes = 0
        # a DuckLake catalog has no PRIMARY KEY, so INSERT OR REPLACE cannot work there
        self.insert_if_absent = _current_catalog_type(con) == "ducklake"

    def get_many(self, keys: Sequence[str]) -> dict[str, LLMResponse]:
        found: dict[str, LLMResponse] = {}
        for chunk_start in range(0, len(keys), 1000):
            chunk = list(keys[chunk_start : chunk_start + 1000])
            # a constant IN list goes into the scan as a key filter; `IN (SELECT unnest(?))` is a
            # hash join over every row's response: 250 keys from a 100K-row (1 GB) cache took
            # 0.2-0.3 s this way, 3.1-3.3 s that way (freshly opened database, the usual case)
            rows = self.con.execute(
                "SELECT key, response, tokens_in, tokens_out FROM llm_cache WHERE key IN ("
                + ", ".join("?" * len(chunk)) + ")",
                chunk,
            ).fetchall()
            for key, response, tin, tout in rows:
                data = json.loads(response)
                found[key] = LLMResponse(
                    ref_id=data.get("ref_id", ""), texts=data["texts"], tokens_in=tin or 0,
                    tokens_out=tout or 0, cached=True, error=data.get("error"),
                    attempts=data.get("attempts", 1), faults=data.get("faults", []),
                    validation=data.get("validation"),
                )
        self.hits += len(found)
        return found

    def put(self, key: str, backend: str, model: str, request: LLMRequest, response: LLMResponse) -> None:
        # the backend decides what is worth caching (llm.calls.should_cache: never a
        # transport failure; a final bad answer yes, so a re-run does not pay for it again)
        values = [
            key, backend, model,
            json.dumps({"prompt_version": request.prompt_version, "messages": request.messages,
                        "sampling": request.sampling()}, ensure_ascii=False),
            json.dumps({"ref_id": response.ref_id, "texts": response.texts, "error": response.error,
                        "attempts": response.attempts, "faults": response.faults,
                        # the validation record (core.synthesis.parse): a re-run replays it instead of validating again
                        **({"validation": response.validation} if response.validation is not None else {})},
                       ensure_ascii=False),
            response.tokens_in, response.tokens_out,
        ]
        if self.insert_if_absent:
            # append-only: concurrent appends never conflict in DuckLake, deletes would.
            # Two workers racing on one key may both insert; equal keys mean equivalent
            # requests, so get_many may return either row.
            self.con.execute(
                "INSERT INTO llm_cache (key, backend, model, request, response, tokens_in, tokens_out, created_at) "
                "SELECT ?, ?, ?, ?, ?, ?, ?, now() WHERE NOT EXISTS (SELECT 1 FROM llm_cache WHERE key = ?)",
                [*values, key],
            )
        else:
            self.con.execute(
                "INSERT OR REPLACE INTO llm_cache (key, backend, model, request, response, tokens_in, tokens_out, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                values,
            )
        self.writes += 1


def _current_catalog_type(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return str(row[0]) if row else ""
