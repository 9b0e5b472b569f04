#!/usr/bin/env python3
"""A webhook receiver for trying qr3-webhookd out: prints every request and checks its signature.

Usage: scripts/demo-receiver.py [PORT] [SECRET]   (defaults: 9000, $QR3_SECRET)
Listens on 127.0.0.1 only. Verifies X-QR3-Signature exactly as the qr3.app documentation's
Python snippet does, and answers 200 (or 400 when the signature does not verify).
"""
import hashlib
import hmac
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify_signature(payload: str, signature: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    received = signature.removeprefix("sha256=")
    return hmac.compare_digest(expected, received)


PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
SECRET = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("QR3_SECRET", "")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8")
        signature = self.headers.get("X-QR3-Signature", "")
        valid = verify_signature(body, signature, SECRET) if SECRET else None
        verdict = {True: "signature valid", False: "SIGNATURE INVALID", None: "signature not checked (no secret)"}[valid]
        print(f"{self.command} {self.path}  event={self.headers.get('X-QR3-Event-Id')} "
              f"type={self.headers.get('X-QR3-Event-Type')} attempt={self.headers.get('X-QR3-Delivery-Attempt')}  {verdict}")
        print(f"  {body}", flush=True)
        self.send_response(400 if valid is False else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


print(f"listening on http://127.0.0.1:{PORT}/hook", flush=True)
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
