#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A TLS-terminating TCP proxy for the tests (Python's standard library only):

    tls_proxy.py ADDRESS PORT CERT KEY BACKEND_ADDRESS BACKEND_PORT

Accepts TLS on ADDRESS:PORT with the certificate chain CERT and key KEY, and relays each
connection's plain bytes to BACKEND_ADDRESS:BACKEND_PORT and back. Prints "listening" once
bound, and one line per failed handshake. Serves at most 100000 connections, each closed after
60 s without traffic; runs until killed.
"""
import select
import socket
import ssl
import sys
import threading

IDLE = 60


def relay(tls, plain):
    """Copies bytes both ways from one thread: an SSL object must not be read and written by two
    threads at once (that corrupts its records: "wrong version number" at the client)."""
    open_in = True  # the client may still send
    while True:
        if not (open_in and tls.pending()):
            ready, _, _ = select.select([tls, plain] if open_in else [plain], [], [], IDLE)
            if not ready:
                return
        else:
            ready = [tls]
        if tls in ready:
            data = tls.recv(65536)
            if data:
                plain.sendall(data)
            else:
                open_in = False
                plain.shutdown(socket.SHUT_WR)
        if plain in ready:
            data = plain.recv(65536)
            if not data:
                return
            tls.sendall(data)


def serve(conn, context, backend):
    try:
        conn.settimeout(IDLE)
        tls = context.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError) as e:
        print("handshake failed: %s" % e, flush=True)
        conn.close()
        return
    try:
        plain = socket.create_connection(backend, timeout=IDLE)
    except OSError as e:
        print("backend: %s" % e, flush=True)
        tls.close()
        return
    try:
        relay(tls, plain)
    except (OSError, ssl.SSLError):
        pass
    finally:
        tls.close()
        plain.close()


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    address, port, cert, key, backend_address, backend_port = sys.argv[1:]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, int(port)))
    listener.listen(64)
    print("listening", flush=True)
    backend = (backend_address, int(backend_port))
    for _ in range(100000):
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, context, backend), daemon=True).start()


if __name__ == "__main__":
    main()
