#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""An independent client of the served OpenDHT gateway API: Python's standard xmlrpc.client.

    xmlrpc_client.py URL api        put, put_removable, get with paging, get_details, rm
    xmlrpc_client.py URL malformed  bad arguments, malformed XML, oversized requests however
                                    framed (Content-Length, chunked, none)
    xmlrpc_client.py URL rate N     more than N requests in a burst are refused, then allowed
    xmlrpc_client.py URL cache URL2 a key cached at URL shows what URL2 stores under it later
    xmlrpc_client.py URL quota      one client (by address) keeps at most 1,000 long puts alive

Prints PASS/FAIL lines and "N passed, N failed"; exits 1 if anything failed.
"""
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.parse
import xmlrpc.client
from xmlrpc.client import Binary

passed = failed = 0


def check(name, ok):
    global passed, failed
    if ok:
        passed += 1
        print("PASS", name)
    else:
        failed += 1
        print("FAIL", name)


def sha(b):
    return hashlib.sha1(b).digest()


def get_all(proxy, key, maxvals, details=False):
    """Pages with the placemark until it comes back empty; returns (values, pages)."""
    values, pages, pm = [], 0, Binary(b"")
    method = proxy.get_details if details else proxy.get
    for _ in range(1000):
        vals, pm = method(key, maxvals, pm, "xmlrpc_client.py")
        pages += 1
        values.extend(vals)
        if pm.data == b"":
            break
    return values, pages


def fault_code(call):
    try:
        call()
    except xmlrpc.client.Fault as f:
        return f.faultCode
    except Exception as e:  # noqa: BLE001 - anything else is a failure of the check
        return "exception %r" % e
    return None


def api(proxy):
    key = Binary(sha(b"colors %d" % os.getpid()))
    check("put red (1 h) returns 0", proxy.put(key, Binary(b"red"), 3600, "t") == 0)
    secret = b"donttell"
    check("put_removable blue returns 0",
          proxy.put_removable(key, Binary(b"blue"), "SHA", Binary(sha(secret)), 600, "t") == 0)
    vals, pm = proxy.get(key, 10, Binary(b""), "t")
    check("get returns red and blue", sorted(v.data for v in vals) == [b"blue", b"red"])
    check("and an empty placemark: nothing more", pm.data == b"")

    values, pages = get_all(proxy, key, 1)
    check("paging one value at a time finds both in 2 pages",
          sorted(v.data for v in values) == [b"blue", b"red"] and pages == 2)

    details, _ = get_all(proxy, key, 10, details=True)
    d = {v[0].data: v for v in details}
    check("get_details shows both", set(d) == {b"red", b"blue"})
    check("red: plain put, no hash type or secret hash",
          d[b"red"][2] == "" and d[b"red"][3].data == b"")
    check("red: TTL remaining within its 3600 s", 3500 < d[b"red"][1] <= 3600)
    check("blue: hash type SHA and the secret's SHA-1",
          d[b"blue"][2] == "SHA" and d[b"blue"][3].data == sha(secret))
    check("blue: TTL remaining within its 600 s", 500 < d[b"blue"][1] <= 600)

    check("rm with a wrong secret returns 0",
          proxy.rm(key, Binary(sha(b"blue")), "SHA", Binary(b"guess"), 900, "t") == 0)
    vals, _ = get_all(proxy, key, 10)
    check("but removes nothing", sorted(v.data for v in vals) == [b"blue", b"red"])
    check("rm with the secret returns 0",
          proxy.rm(key, Binary(sha(b"blue")), "SHA", Binary(secret), 900, "t") == 0)
    vals, _ = get_all(proxy, key, 10)
    check("blue is gone, red stays", [v.data for v in vals] == [b"red"])
    check("put_removable of blue again while the rm lasts does not bring it back",
          proxy.put_removable(key, Binary(b"blue"), "SHA", Binary(sha(secret)), 60, "t") == 0
          and [v.data for v in get_all(proxy, key, 10)[0]] == [b"red"])

    many = Binary(sha(b"many %d" % os.getpid()))
    for i in range(70):
        assert proxy.put(many, Binary(b"value %02d" % i), 300, "t") == 0
    vals, pm = proxy.get(many, 1000, Binary(b""), "t")
    check("a get returns at most 64 values whatever maxvals asks", len(vals) == 64)
    check("and a placemark of 20 bytes to go on", len(pm.data) == 20)
    values, pages = get_all(proxy, many, 25)
    got = [v.data for v in values]
    check("paging 25 at a time returns all 70 once, in 3 pages",
          sorted(got) == [b"value %02d" % i for i in range(70)] and pages == 3)
    check("a key without values gives an empty list and placemark",
          proxy.get(Binary(sha(b"nothing here")), 10, Binary(b""), "t") == [[], Binary(b"")])
    big = os.urandom(1024)
    check("a value of exactly 1024 bytes is accepted and read back",
          proxy.put(many, Binary(big), 60, "t") == 0
          and big in [v.data for v in get_all(proxy, many, 64)[0]])


def raw_post(url, body, length=None, framing="length"):
    """POSTs body: with a Content-Length (`length` if given, else the body's), "chunked" (in
    chunks of 8 KiB; "chunked-raw": body is already so encoded), or "close" (no length: the body ends where the client shuts its sending
    side, as HTTP/1.0 allows). Returns (HTTP status, response bytes) or (None, what came)."""
    u = urllib.parse.urlparse(url)
    s = socket.create_connection((u.hostname, u.port or 80), timeout=30)
    try:
        if framing.startswith("chunked"):
            head = b"POST / HTTP/1.1\r\nHost: z2z\r\nConnection: close\r\n" \
                   b"Transfer-Encoding: chunked\r\n"
            payload = body if framing == "chunked-raw" else b"".join(
                b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
        elif framing == "close":
            head, payload = b"POST / HTTP/1.0\r\n", body
        else:
            head = b"POST / HTTP/1.0\r\nContent-Length: %d\r\n" % (
                len(body) if length is None else length)
            payload = body
        s.sendall(head + b"Content-Type: text/xml\r\n\r\n")
        try:
            s.sendall(payload)
            if framing == "close":
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer before reading it all
        data = b""
        while len(data) < 1 << 20:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data.startswith(b"HTTP/"):
        return None, data
    return int(data.split(b" ", 2)[1]), data


def fault_of(data):
    """The (faultCode, faultString) of an HTTP response carrying an XML-RPC fault, else None."""
    try:
        xmlrpc.client.loads(data.split(b"\r\n\r\n", 1)[1])
    except xmlrpc.client.Fault as f:
        return f.faultCode, f.faultString
    except Exception:  # noqa: BLE001 - no fault there
        return None
    return None


def oversized(proxy, url):
    """Requests over the 16 KiB limit get fault 5 naming the limit, however they are framed."""
    key = Binary(sha(b"k"))
    call = xmlrpc.client.dumps((key, Binary(b""), 60, "t"), "put").encode()
    filler = b"<!--" + b"x" * (1 << 20) + b"-->"
    for size in (64 * 1024, 1024 * 1024):
        body = call.replace(b"<methodCall>", b"<methodCall>" + filler[:size - len(call) - 3]
                            + b"-->", 1)
        assert len(body) == size
        for framing in ("length", "chunked", "close"):
            status, data = raw_post(url, body, framing=framing)
            f = fault_of(data) if status == 200 else None
            name = "%d KiB %s" % (size // 1024, {"length": "with Content-Length",
                                                  "chunked": "chunked, no Content-Length",
                                                  "close": "without Content-Length"}[framing])
            check("a request of %s gets HTTP 200 and fault 5 (HTTP %r, %r)" % (name, status, f),
                  f is not None and f[0] == 5 and "16384 bytes" in f[1])
            check("the server still serves a get after it",
                  proxy.get(key, 1, Binary(b""), "t")[1] == Binary(b""))
    status, data = raw_post(url, b"x", length=10 ** 9)
    f = fault_of(data) if status == 200 else None
    check("a request that only claims 10^9 bytes gets fault 5 at once (HTTP %r, %r)"
          % (status, f), f is not None and f[0] == 5 and "1000000000 bytes" in f[1])
    # Within the limit, the framings xmlrpc-c itself does not take work all the same.
    for framing in ("chunked", "close"):
        status, data = raw_post(url, call, framing=framing)
        check("a put %s is served (HTTP %r)" % (framing, status),
              status == 200 and xmlrpc.client.loads(data.split(b"\r\n\r\n", 1)[1])[0] == (0,))
    status, _ = raw_post(url, b"5\r\nhello-there\r\n0\r\n\r\n", framing="chunked-raw")
    check("a chunk longer than its size gets HTTP 400 (HTTP %r)" % status, status == 400)
    status, data = raw_post(url, b"", framing="close")
    check("an empty body without Content-Length gets HTTP 411 (HTTP %r)" % status, status == 411)
    # The connection an oversized request came on, read to its end, carries the next call.
    conn = http.client.HTTPConnection(urllib.parse.urlparse(url).netloc, timeout=30)
    conn.request("POST", "/", body=b"<" * (64 * 1024), headers={"Content-Type": "text/xml"})
    first = conn.getresponse().read()
    conn.request("POST", "/", body=call, headers={"Content-Type": "text/xml"})
    second = conn.getresponse().read()
    conn.close()
    check("the connection of a 64 KiB request carries the next call",
          fault_of(b"\r\n\r\n" + first) is not None
          and xmlrpc.client.loads(second)[0] == (0,))


def malformed(proxy, url):
    key = Binary(sha(b"k"))
    B = Binary
    cases = [
        ("a key of 19 bytes", lambda: proxy.put(B(b"x" * 19), B(b"v"), 60, "t"), 1),
        ("a key of 21 bytes", lambda: proxy.get(B(b"x" * 21), 1, B(b""), "t"), 1),
        ("a value of 1025 bytes", lambda: proxy.put(key, B(b"v" * 1025), 60, "t"), 1),
        ("a TTL of 0", lambda: proxy.put(key, B(b"v"), 0, "t"), 1),
        ("a TTL over a week", lambda: proxy.put(key, B(b"v"), 604801, "t"), 1),
        ("hash type MD5", lambda: proxy.put_removable(key, B(b"v"), "MD5", B(sha(b"s")), 60, "t"), 1),
        ("a secret hash of 10 bytes", lambda: proxy.put_removable(key, B(b"v"), "SHA", B(b"s" * 10), 60, "t"), 1),
        ("a secret of 41 bytes", lambda: proxy.rm(key, B(sha(b"v")), "SHA", B(b"s" * 41), 60, "t"), 1),
        ("a value hash of 5 bytes", lambda: proxy.rm(key, B(b"12345"), "SHA", B(b"s"), 60, "t"), 1),
        ("maxvals 0", lambda: proxy.get(key, 0, B(b""), "t"), 1),
        ("a placemark of 5 bytes", lambda: proxy.get(key, 1, B(b"12345"), "t"), 1),
        ("an application name of 300 bytes", lambda: proxy.put(key, B(b"v"), 60, "a" * 300), 1),
    ]
    for name, call, code in cases:
        check("fault %d for %s" % (code, name), fault_code(call) == code)
    for name, call in [
        ("a string where a key belongs", lambda: proxy.put("not binary", B(b"v"), 60, "t")),
        ("too few arguments", lambda: proxy.put(key, B(b"v"), 60)),
        ("too many arguments", lambda: proxy.get(key, 1, B(b""), "t", "extra")),
        ("an unknown method", lambda: proxy.frobnicate(key)),
        ("a TTL of 2^31 - 1", lambda: proxy.put(key, B(b"v"), 2**31 - 1, "t")),
    ]:
        code = fault_code(call)
        check("a fault for %s (%r)" % (name, code), isinstance(code, int))
    for name, body in [
        ("truncated XML", b"<?xml version='1.0'?><methodCall><methodName>get</methodName><params>"),
        ("binary garbage", bytes(range(256)) * 4),
        ("XML that is no call", b"<?xml version='1.0'?><hello/>"),
    ]:
        status, data = raw_post(url, body)
        check("a fault for %s" % name, status == 200 and b"<fault>" in data)
    status, data = raw_post(url, b"")
    check("an empty body gets HTTP 400 (HTTP %r)" % status, status == 400)
    # An entity bomb: 600 bytes that expand to 10^9 (xmlrpc-c's parser expands DTD entities).
    entities = '<!ENTITY e0 "0123456789">' + "".join(
        '<!ENTITY e%d "%s">' % (i, "&e%d;" % (i - 1) * 10) for i in range(1, 9))
    bomb = ('<?xml version="1.0"?><!DOCTYPE methodCall [%s]><methodCall><methodName>&e8;'
            '</methodName><params/></methodCall>' % entities).encode()
    started = time.monotonic()
    status, data = raw_post(url, bomb)
    f = fault_of(data) if status == 200 else None
    check("an entity bomb of %d bytes gets fault 6 within 2 s (HTTP %r, %r, %.2f s)"
          % (len(bomb), status, f, time.monotonic() - started),
          f is not None and f[0] == 6 and time.monotonic() - started < 2)
    # The same bomb in UTF-16 (a search for "<!DOCTYPE" in the bytes would not see it).
    started = time.monotonic()
    status, data = raw_post(url, bomb.decode().encode("utf-16"))
    f = fault_of(data) if status == 200 else None
    check("the same bomb in UTF-16 gets fault 6 within 2 s (HTTP %r, %r, %.2f s)"
          % (status, f, time.monotonic() - started),
          f is not None and f[0] == 6 and time.monotonic() - started < 2)
    oversized(proxy, url)
    check("the server still serves a get afterwards",
          proxy.get(key, 1, B(b""), "t")[1] == B(b""))
    check("and a put", proxy.put(key, B(b"still here"), 60, "t") == 0)


def rate(proxy, n):
    key = Binary(sha(b"rate"))
    statuses, faults = [], 0
    for _ in range(4 * n):
        try:
            proxy.get(key, 1, Binary(b""), "t")
            statuses.append("ok")
        except xmlrpc.client.Fault as f:
            faults += f.faultCode == 2
    check("a burst of %d gets: some refused with fault 2 (%d)" % (4 * n, faults), faults > 0)
    check("but not the first %d" % n, statuses[:n] == ["ok"] * n)
    puts = [proxy.put(key, Binary(b"r"), 60, "t") for _ in range(2 * n)]
    check("puts over the rate return status 2 (try again)", 2 in puts)
    time.sleep(2.5)
    check("after a pause the client is served again", proxy.put(key, Binary(b"r"), 60, "t") == 0)


def cache(proxy, other_url):
    """A key read through this endpoint (so cached there) shows a value another endpoint, with
    its own node, stores later: the cache follows the DHT. Repeated gets of it are quick."""
    other = xmlrpc.client.ServerProxy(other_url)
    key = Binary(sha(b"cached %d" % os.getpid()))
    check("a fresh key reads empty", proxy.get(key, 10, Binary(b""), "t") == [[], Binary(b"")])
    check("the other endpoint stores a value under it",
          other.put(key, Binary(b"from elsewhere"), 600, "t") == 0)
    start, seen = time.monotonic(), False
    while not seen and time.monotonic() - start < 10:
        seen = [v.data for v in proxy.get(key, 10, Binary(b""), "t")[0]] == [b"from elsewhere"]
        if not seen:
            time.sleep(0.1)
    check("this endpoint shows it within 10 s (%.1f s)" % (time.monotonic() - start), seen)
    start = time.monotonic()
    for _ in range(50):
        proxy.get(key, 10, Binary(b""), "t")
    slowest = time.monotonic() - start
    check("50 more gets of it take under 2 s in all (%.2f s)" % slowest, slowest < 2)


class FromAddress(xmlrpc.client.Transport):
    """Connects from a chosen local address (another loopback address: another client)."""

    def __init__(self, source):
        super().__init__()
        self.source = source

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.source_address = (self.source, 0)
        return conn


def quota(url):
    """Long puts (TTL over OpenDHT's 10 minutes) are kept alive by the endpoint: one client
    address may have 1,000 of them, and what it asks beyond gets status 1 (over capacity) while
    other clients are still served. Short puts and a removal's freed place are not held back."""
    # Addresses of their own: the other modes' long puts came from 127.0.0.1.
    import concurrent.futures
    key = Binary(sha(b"quota %d" % os.getpid()))
    secret = b"mine"

    def put_many(first, count, source="127.0.0.3"):
        proxy = xmlrpc.client.ServerProxy(url, transport=FromAddress(source))
        return [proxy.put(key, Binary(b"long %04d" % i), 3600, "t")
                for i in range(first, first + count)]

    p1 = xmlrpc.client.ServerProxy(url, transport=FromAddress("127.0.0.3"))
    check("a removable long put from 127.0.0.3 returns 0",
          p1.put_removable(key, Binary(b"removable"), "SHA", Binary(sha(secret)), 3600, "t") == 0)
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sum(pool.map(put_many, range(0, 999, 111), [111] * 9), [])
    check("999 more long puts from 127.0.0.3 return 0 (%.1f s; %s)" % (
        time.monotonic() - start, {s: statuses.count(s) for s in set(statuses)}),
          statuses == [0] * 999)
    check("the next long put from 127.0.0.3 returns 1 (over capacity)",
          p1.put(key, Binary(b"one too many"), 3600, "t") == 1)
    time.sleep(1.1)  # a later expiry: another DHT value for the same put
    check("the same value put again later is no new put: 0",
          p1.put(key, Binary(b"long 0007"), 3600, "t") == 0)
    check("and shows once", [v.data for v in get_all(p1, key, 64)[0]].count(b"long 0007") == 1)
    check("a short put from 127.0.0.3 is not held back: 0",
          p1.put(key, Binary(b"short"), 300, "t") == 0)
    p2 = xmlrpc.client.ServerProxy(url, transport=FromAddress("127.0.0.4"))
    check("a long put from another client, 127.0.0.4, returns 0",
          p2.put(key, Binary(b"from elsewhere"), 3600, "t") == 0)
    check("removing one of 127.0.0.3's long puts returns 0",
          p1.rm(key, Binary(sha(b"removable")), "SHA", Binary(secret), 600, "t") == 0)
    check("and frees its place: the long put now returns 0",
          p1.put(key, Binary(b"one too many"), 3600, "t") == 0)
    # A long rm is held like a long put, and repeated later takes no second place either.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sum(pool.map(put_many, range(2000, 2999, 111), [111] * 9,
                                ["127.0.0.5"] * 9), [])
    p5 = xmlrpc.client.ServerProxy(url, transport=FromAddress("127.0.0.5"))
    gone = Binary(sha(b"long 2000"))
    check("127.0.0.5: 999 long puts and a long rm return 0",
          statuses == [0] * 999 and p5.rm(key, gone, "SHA", Binary(b"any"), 3600, "t") == 0)
    time.sleep(1.1)
    check("the same rm later returns 0 (no new place)",
          p5.rm(key, gone, "SHA", Binary(b"any"), 3600, "t") == 0)
    check("another long rm returns 1 (over capacity)",
          p5.rm(key, gone, "SHA", Binary(b"other"), 3600, "t") == 1)


def main():
    url, mode = sys.argv[1], sys.argv[2]
    proxy = xmlrpc.client.ServerProxy(url)
    if mode == "api":
        api(proxy)
    elif mode == "malformed":
        malformed(proxy, url)
    elif mode == "rate":
        rate(proxy, int(sys.argv[3]))
    elif mode == "cache":
        cache(proxy, sys.argv[3])
    elif mode == "quota":
        quota(url)
    else:
        sys.exit("unknown mode " + mode)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
