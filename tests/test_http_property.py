"""A property-based run of the HTTP API from Smarkets' document: schemathesis makes requests
to every operation (valid ones and, fewer, invalid ones; with the session's token and
without), and every answer must be one the document lists for the operation, fit its
schema, and never be a 500. Bounded so that it runs in seconds."""

from __future__ import annotations

import unittest as pyunit
from typing import Any

from twisted.internet.threads import deferToThread

from tests.http_document import NO_DOCUMENT, check_response, fresh_document, have_document
from tests.support import inline
from tests.http_support import BIG, HttpTestCase
from txsmarkets.exchange.http import DEFAULT_RATE_LIMITS

#: Examples per operation: valid ones, then invalid ones.
VALID_EXAMPLES = 25
INVALID_EXAMPLES = 10


def run_operations(base_url: str, token: str) -> tuple[int, list[str]]:
    """Run every operation of the document against ``base_url`` (blocking: in a thread);
    ``(requests made, what went wrong)``."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(fresh_document())
    session = requests.Session()
    problems: list[str] = []
    made = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        # Our own session stays ours: a logout is tried with some other token.
        own = operation.path != "/v3/sessions/" or operation.method.lower() != "delete"
        for mode, examples in ((GenerationMode.POSITIVE, VALID_EXAMPLES), (GenerationMode.NEGATIVE, INVALID_EXAMPLES)):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode), authorised=st.booleans())
            def call(case: Any, authorised: bool) -> None:
                nonlocal made
                secret = token if own else "someone-else"
                headers = {"Authorization": f"Session-Token {secret}"} if authorised else {}
                response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
                made += 1
                assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
                # schemathesis gives each header as a list of its values.
                content_type = (response.headers.get("content-type") or [None])[0]
                check_response(case.method, operation.path, response.status_code, response.content, content_type)

            try:
                call()
            except Unsatisfiable:
                # An operation without parameters or a body (logout) has no invalid request.
                assert mode == GenerationMode.NEGATIVE, operation.label
            except Exception as e:
                problems.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {e}")
    session.close()
    return made, problems


class PropertyTests(HttpTestCase):
    timeout = 240

    @inline
    async def test_every_operation_answers_as_documented(self) -> None:
        if not have_document():
            raise pyunit.SkipTest(NO_DOCUMENT)
        http = await self.start_http(
            first_order_id=BIG, http_rate_limits={name: None for name in DEFAULT_RATE_LIMITS}
        )
        token = await http.login()
        # Something to list, cancel and look up: a resting order and a fill.
        other = await http.login("demo2", "demo2")
        await http.place(token, price=2000, quantity=10000)
        await http.place(other, side="sell", price=2000, quantity=5000)
        made, problems = await deferToThread(run_operations, f"http://127.0.0.1:{self.exchange.http_port}", token)
        self.assertEqual(problems, [])
        self.assertGreater(made, 21 * VALID_EXAMPLES)
