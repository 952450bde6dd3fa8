"""An outside ZeroMQ peer on the master's bus (pyzmq), for BusSecurityTests.

Connects to the registry's sockets the way a gateway or worker would, does what an attacker
would try, and reports what it got, as one JSON object on stdout:

    .build-venv/bin/python Tests/bus/outside_peer.py PLAN.json

PLAN: {"keys": "none" | "own" | "given", "server_key": Z85, "public": Z85, "secret": Z85,
       "events": ENDPOINT, "updates": ..., "snapshot": ..., "jobs_out": ...,
       "push": [[kind, body_json_text], ...], "content_query": {"requestId": ..., "index": 0},
       "seconds": 3}
- keys "none": no security mechanism at all; "own": a fresh keypair nobody listed (the server
  key is public, so an attacker has it); "given": the public/secret pair in the plan (the tests'
  positive controls use the real gateway's or worker's).
- It pushes every event in "push" on `events`, subscribes to everything on `updates`, asks for
  a snapshot and sends a `content` query on `snapshot`, and pulls from `jobs_out`, then
  counts for "seconds" what arrives.
Report: {"updates": N, "topics": [...], "snapshot_chunks": N, "query_answers": N, "jobs": N, "unsent": N}.
"""
import json
import sys
import time
import uuid

import zmq


def secure(socket, plan):
    if plan["keys"] == "none":
        return
    if plan["keys"] == "own":
        public, secret = zmq.curve_keypair()
    else:
        public, secret = plan["public"].encode(), plan["secret"].encode()
    socket.curve_serverkey = plan["server_key"].encode()
    socket.curve_publickey = public
    socket.curve_secretkey = secret


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    if plan["keys"] != "none" and not zmq.has("curve"):
        sys.exit("this pyzmq has no CURVE support")
    context = zmq.Context()

    def socket(kind, endpoint):
        s = context.socket(kind)
        s.linger = 0
        # A send blocks while the socket has no pipe, which for a peer the server refuses is
        # between every failed handshake and the next attempt: bounded, or the script could hang
        # (it did, now and then, in full test runs). What cannot be sent is counted, not waited on.
        s.sndtimeo = 5000
        secure(s, plan)
        s.connect(endpoint)
        return s

    events = socket(zmq.PUSH, plan["events"])
    updates = socket(zmq.SUB, plan["updates"])
    updates.setsockopt(zmq.SUBSCRIBE, b"")
    snapshot = socket(zmq.DEALER, plan["snapshot"])
    jobs = socket(zmq.PULL, plan["jobs_out"])

    report = {"updates": 0, "topics": [], "snapshot_chunks": 0, "query_answers": 0, "jobs": 0, "unsent": 0}

    def send(s, frames):
        try:
            s.send_multipart(frames)
        except zmq.Again:
            report["unsent"] += 1

    for kind, body in plan.get("push", []):
        send(events, [kind.encode(), body.encode()])
    send(snapshot, [b"snapshot", uuid.uuid4().hex.encode()])
    query = plan.get("content_query")
    if query is not None:
        send(snapshot, [b"query", uuid.uuid4().hex.encode(), b"content", json.dumps(query).encode()])

    poller = zmq.Poller()
    for s in (updates, snapshot, jobs):
        poller.register(s, zmq.POLLIN)
    deadline = time.monotonic() + float(plan.get("seconds", 3))
    while (left := deadline - time.monotonic()) > 0:
        for s, _ in poller.poll(timeout=max(1, int(left * 1000))):
            frames = s.recv_multipart()
            if s is updates:
                report["updates"] += 1
                topic = frames[0].decode(errors="replace")
                if topic not in report["topics"] and len(report["topics"]) < 20:
                    report["topics"].append(topic)
            elif s is snapshot:
                if frames[0] == b"snapshot":
                    report["snapshot_chunks"] += 1
                elif frames[0] == b"query":
                    report["query_answers"] += 1
            else:
                report["jobs"] += 1
    print(json.dumps(report), flush=True)
    context.destroy(linger=0)


if __name__ == "__main__":
    main()
