"""Reads lines "base64(secret) base64(body) base64(header)" from the file in argv[1] and prints
"valid" or "invalid" for each, as the documented Python receiver would decide."""
import base64
import sys

from spec_signature import verify_raw_body

with open(sys.argv[1], encoding="ascii") as lines:
    for line in lines:
        if not line.strip():
            continue
        secret, body, header = (base64.b64decode(field) for field in line.split())
        valid = verify_raw_body(body, header.decode("utf-8"), secret.decode("utf-8"))
        print("valid" if valid else "invalid")
