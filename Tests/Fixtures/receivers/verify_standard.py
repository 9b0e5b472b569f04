"""Verifies recorded deliveries with the receivers' own libraries: standardwebhooks and svix.

    python3 verify_standard.py CASES.json

CASES.json is a list of {"secret", "headers": {name: value}, "body_b64"}. For each case prints one
line: "standardwebhooks=<ok|reason> svix=<ok|reason> x-qr3=<ok|invalid>", where x-qr3 is the
seed's documented Python check of X-QR3-Signature (spec_signature.py).

A secret of the form whsec_<base64> is given to the libraries as the string (they decode it);
any other secret as its UTF-8 bytes, which is what the daemon signs with.
"""
import base64
import json
import sys

import standardwebhooks
import svix.webhooks

from spec_signature import verify_raw_body


def key(secret: str):
    return secret if secret.startswith("whsec_") else secret.encode()


def check(verify) -> str:
    try:
        verify()
        return "ok"
    except Exception as error:  # the libraries' WebhookVerificationError, reported by its message
        return str(error).replace(" ", "_") or type(error).__name__


with open(sys.argv[1], encoding="utf-8") as file:
    cases = json.load(file)
for case in cases:
    body = base64.b64decode(case["body_b64"])
    headers = case["headers"]
    secret = case["secret"]
    standard = check(lambda: standardwebhooks.Webhook(key(secret)).verify(body, headers))
    via_svix = check(lambda: svix.webhooks.Webhook(key(secret)).verify(body, headers))
    legacy = "ok" if verify_raw_body(body, headers.get("X-QR3-Signature"), secret) else "invalid"
    print(f"standardwebhooks={standard} svix={via_svix} x-qr3={legacy}", flush=True)
