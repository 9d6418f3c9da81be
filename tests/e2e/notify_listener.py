#!/usr/bin/python3
"""systemd's side of sd_notify(3), for tests/e2e/test_notify.sh.

  notify_listener.py listen SOCK LOG
      bind a datagram unix socket at SOCK (what NOTIFY_SOCKET names) and
      append each message to LOG as one JSON line:
      {"t": CLOCK_MONOTONIC seconds, "m": ["READY=1", "STATUS=...", ...]}
  notify_listener.py wait LOG ASSIGNMENT [--after T] [--timeout S]
      wait until a message holding ASSIGNMENT (e.g. READY=1) arrived after
      time T; print its time (exit 1 at the timeout)
  notify_listener.py list LOG ASSIGNMENT [--after T] [--before T]
      print the times of the messages holding ASSIGNMENT, one a line
  notify_listener.py now
      print CLOCK_MONOTONIC seconds (the listener's clock)
"""
import argparse
import json
import os
import signal
import socket
import sys
import time


def listen(sock_path, log_path):
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(log_path, "a", buffering=1) as log:
        while True:
            data = s.recv(4096)
            t = time.monotonic()
            lines = [l for l in data.decode(errors="replace").split("\n") if l]
            log.write(json.dumps({"t": t, "m": lines}) + "\n")


def messages(log_path):
    try:
        with open(log_path) as f:
            for line in f:
                if line.endswith("\n"):
                    yield json.loads(line)
    except FileNotFoundError:
        return


def times(log_path, assignment, after, before):
    return [m["t"] for m in messages(log_path)
            if assignment in m["m"] and after < m["t"] < before]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("listen")
    p.add_argument("sock")
    p.add_argument("log")
    for name in ("wait", "list"):
        p = sub.add_parser(name)
        p.add_argument("log")
        p.add_argument("assignment")
        p.add_argument("--after", type=float, default=0.0)
        p.add_argument("--before", type=float, default=float("inf"))
        p.add_argument("--timeout", type=float, default=5.0)
    sub.add_parser("now")
    a = ap.parse_args()

    if a.cmd == "listen":
        listen(a.sock, a.log)
    elif a.cmd == "now":
        print(f"{time.monotonic():.6f}")
    elif a.cmd == "list":
        for t in times(a.log, a.assignment, a.after, a.before):
            print(f"{t:.6f}")
    else:
        end = time.monotonic() + a.timeout
        while True:
            found = times(a.log, a.assignment, a.after, a.before)
            if found:
                print(f"{found[0]:.6f}")
                return 0
            if time.monotonic() > end:
                return 1
            time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
