"""Log redaction replaces secret values and never rewrites the words of a message."""

from __future__ import annotations

import io
import json
import logging
import string
from collections.abc import Callable, Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from wasteland_common import logs
from wasteland_common.logs import REDACTED, credential_shaped, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJraWxvVXNlcklkIjoiYWxpY2UifQ"
    ".c2lnbmF0dXJlLW9mLWEtand0LXRva2Vu"
)
SECRET_NAMES = ["token", "Bearer", "dolthub_token", "authorization", "api_key", "secret"]

words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=23)
numbers = st.text(alphabet=string.digits, min_size=1, max_size=11)
separators = st.sampled_from([" ", ": ", ", ", ". ", " (", ") "])
prose = st.lists(
    st.tuples(words | numbers | st.sampled_from(SECRET_NAMES), separators), min_size=1, max_size=12
).map(lambda parts: "".join(word + sep for word, sep in parts).strip())
secrets = st.text(
    alphabet=string.ascii_letters + string.digits + "._-", min_size=12, max_size=60
).filter(lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s))

CONTEXTS: list[Callable[[str], str]] = [
    lambda s: f"Bearer {s}",
    lambda s: f"wl: auth failed for token {s}",
    lambda s: f"authorization: token {s}",
    lambda s: f"dolthub_token: {s}",
    lambda s: json.dumps({"dolthub_token": s, "dolthub_org": "alice"}),
    lambda s: repr({"authorization": f"token {s}", "accept": "application/json"}),
    lambda s: f"GET /api?token={s}&ref=main",
    lambda s: json.dumps({"message": json.dumps({"dolthub_token": s})}),
    lambda s: f"request body {{'password': '{s}'}}",
]


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    # Other tests in this process may have registered secrets; these tests are about the
    # patterns, so they run without them (and restore them afterwards).
    saved = set(logs._extra_secrets)
    logs._extra_secrets.clear()
    yield
    logs._extra_secrets.clear()
    logs._extra_secrets.update(saved)


@given(text=prose)
def test_words_of_a_message_are_never_rewritten(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "message",
    [
        "dolthub_token: DoltHub rejected the token",
        "dolthub_token: the token may not read the upstream hop/wl-commons",
        "invalid token format",
        "Bearer scheme required",
        "authorization: token expired",
        "secret: missing",
        "api_key: required",
        "token 2024 was issued",
    ],
)
def test_messages_about_tokens_keep_their_words(message: str) -> None:
    assert redact(message) == message


@given(secret=secrets, context=st.sampled_from(CONTEXTS))
def test_secret_values_are_redacted_in_every_context(
    secret: str, context: Callable[[str], str]
) -> None:
    assume(credential_shaped(secret))
    out = redact(context(secret))
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"authorization: Bearer {JWT}", f"authorization: Bearer {REDACTED}"),
        (f"a jwt {JWT} in prose", f"a jwt {REDACTED} in prose"),
        ("using sandbox-token-alice now", f"using {REDACTED} now"),
        ("dhat.v1.abcdef in a message", f"{REDACTED} in a message"),
        ('{"dolthub_token": "hunter2"}', f'{{"dolthub_token": "{REDACTED}"}}'),
        ("secret=hunter2 rest", f"secret={REDACTED} rest"),
        # The hint is public; only values of secret-named fields go.
        ('{"token_hint": "abcd"}', '{"token_hint": "abcd"}'),
        (
            "dolthub_token: DoltHub rejected the token abc123def456ghi",
            f"dolthub_token: DoltHub rejected the token {REDACTED}",
        ),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_secrets_are_replaced_wherever_they_appear() -> None:
    logs.register_secret("kek-material-xyz")
    assert redact("key kek-material-xyz loaded") == f"key {REDACTED} loaded"
    logs.register_secret("short")  # too short to be told apart from words: ignored
    assert redact("a short message") == "a short message"


def test_the_json_log_line_is_redacted_and_keeps_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logs.configure("test", "INFO", "json")
    log = logging.getLogger("tests.logs")
    try:
        log.warning("dolthub_token: DoltHub rejected the token %s", "sandbox-token-bob")
        try:
            raise ValueError(f"bad header Bearer {JWT}")
        except ValueError:
            log.exception("request failed for %s", {"authorization": "token abc123def456ghi"})
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_wasteland", False):
                root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == f"dolthub_token: DoltHub rejected the token {REDACTED}"
    assert "abc123def456ghi" not in stream.getvalue()
    assert JWT not in stream.getvalue()
    assert "sandbox-token-bob" not in stream.getvalue()
    assert "ValueError: bad header Bearer" in lines[1]["exception"]
