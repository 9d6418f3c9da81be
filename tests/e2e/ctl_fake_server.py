#!/usr/bin/python3
"""A stand-in for espressod's control socket, for test_ctl_client.sh.

usage: ctl_fake_server.py SOCKET LOG [GATE]

Listens on the unix stream socket SOCKET, serves one connection at a time and
appends every request line it receives (without its newline) to LOG. Each
request is answered "ESPRESSO <code> <len>\\n" + <len> bytes of body, chosen by
the request with a leading "-j" token set aside:

  batch begin | batch end   0, empty body
  echo ARGS...              0, "ARGS...\\n"
  show x                    0, 70,000 bytes: 1000 lines "NNNNN xxx...x" of 70 bytes
  show empty                0, empty body
  fail...                   22, "fail: because\\n"
  nomsg                     5, empty body
  badhdr                    "HELLO WORLD\\n" instead of a header
  trunc                     a header promising 100 bytes, 10 bytes, then close
  trunchdr                  "ESPRES", then close
  monitor                   "ESPRESSO 0 0\\n", "event 1\\n"; when GATE is given,
                            waits (at most 20 s) for the file GATE to exist;
                            then "event 2\\n", "event 3\\n" and close
  anything else             0, "ok\\n" ('{"ok": true}\\n' after "-j")

Standard library only; stops on SIGTERM.
"""
import os
import socket
import sys
import time

LONG_BODY = b"".join(b"%05d %s\n" % (i, b"x" * 63) for i in range(1000))
assert len(LONG_BODY) == 70000


def reply(conn, code, body=b""):
    conn.sendall(b"ESPRESSO %d %d\n" % (code, len(body)) + body)


def wait_gate(gate):
    deadline = time.monotonic() + 20
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)


def serve(conn, log, gate):
    """Answer requests on conn until the client or a rule closes it."""
    with conn.makefile("rb") as rfile:
        serve_lines(conn, rfile, log, gate)


def serve_lines(conn, rfile, log, gate):
    state = {}
    for raw in rfile:
        line = raw.rstrip(b"\n")
        log.write(line + b"\n")
        log.flush()
        toks = line.split(b" ")
        json = toks[:1] == [b"-j"]
        if json:
            toks = toks[1:]
        cmd = b" ".join(toks)
        # as espressod: after a failed line of a batch, the rest of it is
        # skipped until "batch end" (espressoctl pipelines a batch)
        if cmd == b"batch begin":
            state["batch"], state["failed"] = True, False
        elif cmd == b"batch end":
            state["batch"], state["failed"] = False, False
        elif state.get("failed"):
            reply(conn, 125, b"skipped: an earlier line of the batch failed\n")
            continue
        if cmd in (b"batch begin", b"batch end", b"show empty"):
            reply(conn, 0)
        elif toks[:1] == [b"echo"]:
            reply(conn, 0, b" ".join(toks[1:]) + b"\n")
        elif cmd == b"show x":
            reply(conn, 0, LONG_BODY)
        elif cmd.startswith(b"fail"):
            reply(conn, 22, b"fail: because\n")
            if state.get("batch"):
                state["failed"] = True
        elif cmd == b"nomsg":
            reply(conn, 5)
        elif cmd == b"badhdr":
            conn.sendall(b"HELLO WORLD\n")
        elif cmd == b"trunc":
            conn.sendall(b"ESPRESSO 0 100\n" + b"y" * 10)
            return
        elif cmd == b"trunchdr":
            conn.sendall(b"ESPRES")
            return
        elif toks[:1] == [b"monitor"]:
            reply(conn, 0)
            conn.sendall(b"event 1\n")
            wait_gate(gate)
            conn.sendall(b"event 2\n")
            conn.sendall(b"event 3\n")
            return
        else:
            reply(conn, 0, b'{"ok": true}\n' if json else b"ok\n")


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, logpath = sys.argv[1], sys.argv[2]
    gate = sys.argv[3] if len(sys.argv) == 4 else None
    # append mode: the test may truncate LOG between cases
    log = open(logpath, "ab")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path + ".tmp")
    srv.listen(16)
    os.rename(path + ".tmp", path)  # appears only once it is listening
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                serve(conn, log, gate)
            except (BrokenPipeError, ConnectionResetError):
                pass


if __name__ == "__main__":
    main()
