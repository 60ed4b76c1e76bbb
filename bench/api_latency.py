#!/usr/bin/env python3
"""Latency of one Engine API request, repeated on one kept-alive connection to a unix socket.

    python3 bench/api_latency.py SOCKET PATH [COUNT]

Prints one JSON object: count, p50/p90/p99/max in milliseconds, and the answer's size.
"""
import http.client
import json
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("docker")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def main():
    sock, path = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    conn = UnixConnection(sock)
    times = []
    size = 0
    for i in range(count + 50):
        start = time.perf_counter()
        conn.request("GET", path)
        res = conn.getresponse()
        body = res.read()
        took = time.perf_counter() - start
        if res.status != 200:
            sys.exit(f"{path}: HTTP {res.status}: {body[:200]!r}")
        if i >= 50:  # the first 50 warm up
            times.append(took * 1000)
            size = len(body)
    times.sort()

    def pct(p):
        return round(times[min(len(times) - 1, int(len(times) * p / 100))], 3)

    print(json.dumps({"count": count, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
                      "max_ms": round(times[-1], 3), "bytes": size,
                      "containers": len(json.loads(body))}))


if __name__ == "__main__":
    main()
