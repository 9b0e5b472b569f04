"""A webhook receiver that verifies like the documented Python example: the raw body decoded as UTF-8.

    python3 verify_python.py SECRET        (or QR3_SECRET=... python3 verify_python.py)

Listens on 127.0.0.1 on a free port and prints "LISTENING <port>", then one JSON line per request:
{"valid":true|false,"event_id":<X-QR3-Event-Id or null>,"body":<raw body>}. Answers 200 when the
X-QR3-Signature header verifies and 400 otherwise. Exits with status 0 on SIGTERM or SIGINT.
"""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from spec_signature import verify_raw_body

SECRET = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("QR3_SECRET")
OUTPUT_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        raw_body = self.read_body()
        valid = verify_raw_body(raw_body, self.headers.get("X-QR3-Signature"), SECRET)
        record = {
            "valid": valid,
            "event_id": self.headers.get("X-QR3-Event-Id"),
            "body": raw_body.decode("utf-8", errors="replace"),
        }
        with OUTPUT_LOCK:
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            sys.stdout.buffer.write(line.encode("utf-8"))
            sys.stdout.buffer.flush()
        answer = b"ok\n" if valid else b"invalid signature\n"
        self.send_response(200 if valid else 400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format, *args):
        pass


def stop(signum, frame):
    sys.exit(0)


def main():
    if not SECRET:
        sys.stderr.write("usage: verify_python.py SECRET (or set QR3_SECRET)\n")
        sys.exit(2)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A parent that spawns from a thread with SIGTERM blocked (Foundation's Process does) passes the mask on.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
