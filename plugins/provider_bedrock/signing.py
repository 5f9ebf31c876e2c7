"""SigV4 request signing by botocore (never by hand: canonicalisation has too many sharp edges).

botocore is an optional extra (`pip install 'llm-gateway[bedrock]'`), imported on first use so that a gateway
without it still starts when no bedrock provider is configured.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import BedrockKeyConfig

SERVICE = "bedrock"  # the signing name of bedrock-runtime


def botocore_missing() -> str | None:
    """Why signing cannot work here, or None when botocore is importable."""
    try:
        import botocore.auth  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return "the bedrock provider needs botocore: pip install 'llm-gateway[bedrock]'"
    return None


def signed_headers(url: str, body: bytes, headers: Mapping[str, str], key: BedrockKeyConfig) -> dict[str, str]:
    """`headers` plus X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization for a POST.

    `url` must be exactly what goes on the wire: SigV4 signs the path as sent. Every header given is signed.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    credentials = Credentials(key.access_key, key.secret_key, key.session_token)
    SigV4Auth(credentials, SERVICE, key.region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}
