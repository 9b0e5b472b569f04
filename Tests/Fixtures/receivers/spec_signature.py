"""The receiver example from SPEC.md, verbatim, and how a raw-body receiver applies it."""
import hashlib
import hmac


def verify_signature(payload: str, signature: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    received = signature.removeprefix("sha256=")
    return hmac.compare_digest(expected, received)


def verify_raw_body(raw_body: bytes, signature: str | None, secret: str) -> bool:
    """Verifies the body decoded as UTF-8; undecodable bodies and non-ASCII signatures are invalid."""
    try:
        return verify_signature(raw_body.decode("utf-8"), signature or "", secret)
    except (UnicodeDecodeError, TypeError):
        return False
