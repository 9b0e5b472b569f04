#!/usr/bin/env python3
"""A TLS server on 127.0.0.1 whose certificate no client trusts (self-signed, made by the test).

Usage: tls_server.py CERT KEY. Writes "listening on PORT" to stderr, then one line per
connection: "request received" when a client completed the handshake and sent a request,
"handshake failed: ..." when it did not. Ends by itself after 10 minutes, in case the test
that started it could not stop it.
"""
import signal
import socket
import ssl
import sys

signal.alarm(600)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(64)
print(f"listening on {server.getsockname()[1]}", file=sys.stderr, flush=True)
while True:
    connection, _ = server.accept()
    connection.settimeout(5)
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            if tls.recv(65536):
                print("request received", file=sys.stderr, flush=True)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except (ssl.SSLError, OSError) as error:
        print(f"handshake failed: {type(error).__name__}", file=sys.stderr, flush=True)
        connection.close()
