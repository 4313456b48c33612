"""Guarantees 3 and 4 of ARCHITECTURE.md, against a running Cheetah.

Guarantee 3 (client FIFO): a session that pipelines writes and reads without
waiting gets its replies in the order it sent them, and every read shows
every earlier write of the same session.

Guarantee 4 (watch before data): a client that set a watch receives the
watch event before any reply that shows it the change, even while the shard
serves reads concurrently with the writer. The window is widened with the
CHEETAH_TEST_COMMIT_DELIVERY_DELAY_US hook (see dataplane/test_hooks.h);
the same check run with CHEETAH_TEST_SKIP_WATCH_CATCH_UP=1 must see
violations, which shows that the check can fail.
"""

import os
import struct
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_FIFO = 22510
PORT_WATCH = 22511
PORT_WATCH_BROKEN = 22512
PORT_WATCH_SHARDED = 22513
PIPELINE_DEPTH = 400
WATCH_ROUNDS = 60
READS_PER_ROUND_MAX = 5000
ROUND_TIMEOUT_S = 10.0
DELIVERY_DELAY_US = "3000"


def get_data_version(frame):
    data = jc.decode_reply_body(jc.OP_GET_DATA, frame.body)
    return data["data"], data["stat"]["version"]


def test_guarantee_3_pipelined_writes_and_reads_complete_in_order():
    with servers.cheetah(PORT_FIFO) as server:
        client = jc.JuteClient(server.address)
        client.connect()
        client.call(jc.OP_CREATE, jc.encode_create("/g3", b"start"))
        sent = []  # (xid, opcode, expected data for reads)
        last_written = b"start"
        for index in range(PIPELINE_DEPTH):
            if index % 3 == 0:
                last_written = f"value-{index}".encode()
                xid = client.send_request(jc.OP_SET_DATA, jc.encode_set_data("/g3", last_written))
                sent.append((xid, jc.OP_SET_DATA, None))
            elif index % 3 == 1:
                xid = client.send_request(jc.OP_GET_DATA, jc.encode_path_watch("/g3"))
                sent.append((xid, jc.OP_GET_DATA, last_written))
            else:
                path = f"/g3/child-{index}"
                xid = client.send_request(jc.OP_CREATE, jc.encode_create(path))
                sent.append((xid, jc.OP_CREATE, None))
                xid = client.send_request(jc.OP_EXISTS, jc.encode_path_watch(path))
                sent.append((xid, jc.OP_EXISTS, path))
        received = []
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            frame = client.read_frame(timeout_s=10)
            if not frame.is_notification:
                received.append(frame)
        assert [frame.xid for frame in received] == [xid for xid, _, _ in sent], \
            "replies did not come back in the order the requests were sent"
        for (xid, opcode, expected), frame in zip(sent, received):
            assert frame.err == jc.OK, f"request {xid} (op {opcode}) failed with {frame.err}"
            if opcode == jc.OP_GET_DATA:
                data, _ = get_data_version(frame)
                assert data == expected, f"read {xid} did not see the session's own write"
            if opcode == jc.OP_EXISTS:
                assert len(frame.body) == 68, f"exists {xid} did not see {expected}"
        client.close()


def watch_rounds(address, kind):
    """Runs WATCH_ROUNDS rounds of: reader sets a watch, writer changes the
    node without waiting, reader polls until a reply shows the change.
    Returns the number of rounds where the reply came before the event."""
    writer = jc.JuteClient(address)
    writer.connect()
    reader = jc.JuteClient(address)
    reader.connect()
    base = f"/g4-{kind}"
    writer.call(jc.OP_CREATE, jc.encode_create(base, b"0"))
    violations = 0
    for round_index in range(WATCH_ROUNDS):
        if kind == "data":
            frame = reader.call(jc.OP_GET_DATA, jc.encode_path_watch(base, True))
            _, seen_version = get_data_version(frame)
            writer.send_request(jc.OP_SET_DATA, jc.encode_set_data(base, str(round_index).encode()))
            read_op, read_body = jc.OP_GET_DATA, jc.encode_path_watch(base, False)
        else:
            frame = reader.call(jc.OP_GET_CHILDREN2, jc.encode_path_watch(base, True))
            seen_cversion = jc.decode_reply_body(jc.OP_GET_CHILDREN2, frame.body)["stat"]["cversion"]
            writer.send_request(jc.OP_CREATE, jc.encode_create(f"{base}/c{round_index}"))
            read_op, read_body = jc.OP_GET_CHILDREN2, jc.encode_path_watch(base, False)
        reader.pending_events.clear()
        event_seen = False
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        for _ in range(READS_PER_ROUND_MAX):
            assert time.monotonic() < deadline, "the change never became visible"
            xid = reader.send_request(read_op, read_body)
            frames, reply = reader.read_reply(xid)
            event_seen |= any(f.is_notification for f in frames[:-1])
            if kind == "data":
                changed = get_data_version(reply)[1] > seen_version
            else:
                stat = jc.decode_reply_body(jc.OP_GET_CHILDREN2, reply.body)["stat"]
                changed = stat["cversion"] > seen_cversion
            if changed:
                if not event_seen:
                    violations += 1
                    # Consume the late event so the next round starts clean.
                    reader.read_frame(timeout_s=5)
                break
        writer.read_frame(timeout_s=5)
    writer.close()
    reader.close()
    return violations


@pytest.mark.parametrize("kind", ["data", "children"])
def test_guarantee_4_watch_event_before_the_reply_that_shows_the_change(kind):
    environment = {"CHEETAH_TEST_COMMIT_DELIVERY_DELAY_US": DELIVERY_DELAY_US}
    with servers.cheetah(PORT_WATCH, env=environment) as server:
        assert watch_rounds(server.address, kind) == 0


def test_guarantee_4_holds_across_shards():
    """Writer and reader may sit on different shards: each shard catches up
    on its own before it answers."""
    environment = {"CHEETAH_TEST_COMMIT_DELIVERY_DELAY_US": DELIVERY_DELAY_US}
    with servers.cheetah(PORT_WATCH_SHARDED, {"cheetah.shards": "3"}, env=environment) as server:
        for kind in ("data", "children"):
            assert watch_rounds(server.address, kind) == 0


def test_guarantee_4_check_fails_without_the_catch_up():
    """The same check against a server whose shards skip the catch-up: it
    must see violations, or the check above proves nothing."""
    environment = {"CHEETAH_TEST_COMMIT_DELIVERY_DELAY_US": DELIVERY_DELAY_US,
                   "CHEETAH_TEST_SKIP_WATCH_CATCH_UP": "1"}
    with servers.cheetah(PORT_WATCH_BROKEN, env=environment) as server:
        assert watch_rounds(server.address, "data") > 0
