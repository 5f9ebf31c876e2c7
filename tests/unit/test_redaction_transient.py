"""A request's own credentials (`Redactor.add_transient`): masked like configured secrets, held in a bounded set
that neither grows with the requests nor rebuilds the pattern."""

from __future__ import annotations

from gateway.redaction import MASK, MAX_TRANSIENT, Redactor


def test_a_transient_secret_is_masked_in_texts_errors_and_checks() -> None:
    redactor = Redactor(["configured-secret-1234"])
    redactor.add_transient("mcp-token-abcdef123456", "short")
    assert redactor.text("token mcp-token-abcdef123456 and configured-secret-1234") == f"token {MASK} and {MASK}"
    assert redactor.has_secret("x mcp-token-abcdef123456 y")
    assert not redactor.has_secret("short texts stay")  # under MIN_SECRET_LENGTH: no secret


def test_the_oldest_transient_secrets_go_once_the_bound_is_reached() -> None:
    redactor = Redactor()
    tokens = [f"request-token-{n:06d}" for n in range(MAX_TRANSIENT + 10)]
    for token in tokens:
        redactor.add_transient(token)
    assert not redactor.has_secret(tokens[0])
    assert redactor.text(tokens[-1]) == MASK
    assert redactor.text(tokens[10]) == MASK  # the oldest still held
