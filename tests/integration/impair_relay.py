#!/usr/bin/python3
"""A userspace netem: relays Ethernet frames between a tap it creates and an
existing interface, dropping, delaying, duplicating and reordering them.

Why it exists: issue 6 asks for the client suites to pass with `tc qdisc ...
netem` loss, delay, duplication and reordering on the tap interface, but this
machine's kernel has no netem (nor any other qdisc module, classifier or tc
action: `tc qdisc add ... netem` answers "Specified qdisc kind is unknown").
So the impairment is done here, between the kernel's TCP and the server:

    kernel TCP (clients)                                  server
    <tap>  10.x.y.1/24  <- this relay ->  AF_PACKET on <interface>  (DPDK's
    (created here,          drop / delay /   (no address: a wire)    net_tap,
     IFF_TAP|IFF_NO_PI)     dup / reorder                            or a veth)

Both directions are impaired independently with netem's meanings:
  --loss P        each frame is dropped with probability P percent;
  --delay-ms D    each frame is held D ms (+ uniform jitter +-J ms);
  --duplicate P   a frame is sent twice with probability P percent;
  --reorder P     with probability P percent a frame skips the delay and goes
                  at once, overtaking the held ones (needs --delay-ms > 0).
ARP frames are never dropped (netem drops them too, but a lost ARP only
tests the kernel's ARP retries, and the suites are about TCP).

It runs until SIGTERM/SIGINT or --duration-s, holds at most HELD_FRAMES_MAX
frames (more are dropped and counted), and on exit writes its counters as
JSON to --stats (so a test can assert the impairment really happened).
"""

import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
FRAME_BYTES_MAX = 65536
HELD_FRAMES_MAX = 4096
FRAMES_PER_WAKEUP_MAX = 256
DIRECTIONS = ("to_server", "to_client")


class Direction:
    def __init__(self, name):
        self.name = name
        self.counters = {"frames": 0, "dropped": 0, "duplicated": 0, "reordered": 0,
                         "delayed": 0, "held_full": 0, "sent": 0,
                         "send_failed": 0}


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    request = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
    try:
        fcntl.ioctl(fd, TUNSETIFF, request)
    except OSError as error:
        os.close(fd)
        raise SystemExit(f"impair_relay: cannot create tap {name}: {error}")
    return fd


def open_packet_socket(interface):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((interface, 0))
    sock.setblocking(False)
    return sock


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tap", required=True, help="name of the tap to create (kernel side)")
    parser.add_argument("--interface", required=True, help="existing interface of the server side")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration-s", type=float, default=3600.0)
    parser.add_argument("--stats", help="write the counters here as JSON at exit")
    parser.add_argument("--ready", help="create this file once both ends are open")
    options = parser.parse_args()
    for name in ("loss", "duplicate", "reorder"):
        value = getattr(options, name)
        if not 0.0 <= value <= 100.0:
            parser.error(f"--{name} must be a percentage (0-100), got {value}")
    if options.reorder > 0 and options.delay_ms <= 0:
        parser.error("--reorder needs --delay-ms > 0 (as netem: reordering is skipping the delay)")

    tap_fd = open_tap(options.tap)
    packet_socket = open_packet_socket(options.interface)
    rng = random.Random(options.seed)
    directions = {name: Direction(name) for name in DIRECTIONS}
    held = []  # heap of (release_time_s, sequence, direction name, frame)
    sequence = 0
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    if options.ready:
        with open(options.ready, "w") as ready:
            ready.write(str(os.getpid()))

    def emit(direction_name, frame):
        try:
            if direction_name == "to_server":
                packet_socket.send(frame)
            else:
                os.write(tap_fd, frame)
            directions[direction_name].counters["sent"] += 1
        except OSError:  # a full tap queue, a frame over the MTU: lost, as on a wire
            directions[direction_name].counters["send_failed"] += 1

    def impair(direction_name, frame, now_s):
        nonlocal sequence
        direction = directions[direction_name]
        counters = direction.counters
        counters["frames"] += 1
        is_arp = len(frame) >= 14 and struct.unpack_from("!H", frame, 12)[0] == ETH_P_ARP
        if not is_arp and rng.random() * 100.0 < options.loss:
            counters["dropped"] += 1
            return
        copies = 1
        if not is_arp and rng.random() * 100.0 < options.duplicate:
            counters["duplicated"] += 1
            copies = 2
        for _ in range(copies):
            if options.delay_ms <= 0 or is_arp:
                emit(direction_name, frame)
                continue
            if rng.random() * 100.0 < options.reorder:
                counters["reordered"] += 1
                emit(direction_name, frame)
                continue
            if len(held) >= HELD_FRAMES_MAX:
                counters["held_full"] += 1
                continue
            jitter_s = rng.uniform(-options.jitter_ms, options.jitter_ms) / 1000.0
            release_s = now_s + max(0.0, options.delay_ms / 1000.0 + jitter_s)
            sequence += 1
            heapq.heappush(held, (release_s, sequence, direction_name, frame))
            counters["delayed"] += 1

    deadline_s = time.monotonic() + options.duration_s
    while not stopping and time.monotonic() < deadline_s:
        now_s = time.monotonic()
        while held and held[0][0] <= now_s:
            _, _, direction_name, frame = heapq.heappop(held)
            emit(direction_name, frame)
        timeout_s = 0.2 if not held else max(0.0, held[0][0] - now_s)
        try:
            readable, _, _ = select.select([tap_fd, packet_socket], [], [], timeout_s)
        except InterruptedError:
            continue
        now_s = time.monotonic()
        if tap_fd in readable:
            for _ in range(FRAMES_PER_WAKEUP_MAX):
                try:
                    frame = os.read(tap_fd, FRAME_BYTES_MAX)
                except BlockingIOError:
                    break
                impair("to_server", frame, now_s)
        if packet_socket in readable:
            for _ in range(FRAMES_PER_WAKEUP_MAX):
                try:
                    frame, address = packet_socket.recvfrom(FRAME_BYTES_MAX)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue  # what we (or the kernel) sent toward the server
                impair("to_client", frame, now_s)

    if options.stats:
        with open(options.stats, "w") as stats:
            json.dump({name: d.counters for name, d in directions.items()}, stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
