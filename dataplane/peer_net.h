/* The connections between servers, on the consensus core's own io_uring:
 * the election port (QuorumCnxManager's rules) and the quorum port (ZAB's
 * QuorumPackets). Runs on the consensus core thread only; nothing here is
 * shared with another thread.
 *
 * Election port. One connection per pair of servers, kept only when the
 * side that connected has the higher id (QuorumCnxManager): a lower id that
 * connects sends its handshake and closes, and the higher id connects back.
 * Messages to a server with no connection wait in a queue of
 * PEER_NET_ELECTION_QUEUE_MAX (the oldest dropped, as ZooKeeper's queue of
 * one), and the last message sent to a server is sent again on every new
 * connection to it (ZooKeeper does the same, so a message lost with a
 * connection is not lost for good). Messages to ourselves come back through
 * `election_message` on the next peer_net_poll, never re-entrantly.
 *
 * Quorum port. The leader listens; learners connect to it. Bytes are cut
 * into whole QuorumPackets (consensus/quorum_wire.h's framer); after a SNAP
 * packet the snapshot stream that follows is delivered with it.
 *
 * The io_uring is created disabled; the first thread that polls (or sends)
 * owns it from then on (DEFER_TASKRUN: completion work runs only inside
 * peer_net_poll, so it never interrupts the core's other system calls).
 * Times come from peer_net_poll's now_ms, so connects, reconnects and
 * linger deadlines start in a poll (a send wakes the wait fd for it).
 *
 * Members. The servers we know start as the configuration's and only ever
 * grow (dynamic reconfiguration): peer_net_update_members adds or
 * re-addresses them, and a server that connects to our election port with
 * an id we do not know becomes known with the election address its
 * handshake names (QuorumCnxManager.handleConnection), so a joining server
 * reaches the ensemble before the reconfig that adds it commits. A learned
 * member's quorum port is unknown (0) until a configuration names it. At
 * most PEER_NET_MEMBERS_MAX are known at once; none is ever forgotten (a
 * removed server may still talk to us).
 */
#ifndef CHEETAH_PEER_NET_H
#define CHEETAH_PEER_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_NET_MEMBERS_MAX 255u
#define PEER_NET_HOST_BYTES_MAX 256u
/* Messages waiting for a connection to one server. */
#define PEER_NET_ELECTION_QUEUE_MAX 1u
/* Bytes queued for sending on one quorum connection (a SNAP of a large tree
 * is the big case). A send beyond it fails and the connection closes. */
#define PEER_NET_QUORUM_SEND_BYTES_MAX (1024ull * 1024u * 1024u)
/* Quorum connections open at once (the leader's learners plus one). */
#define PEER_NET_QUORUM_CONNECTIONS_MAX 256u
/* Wait between attempts to connect to the same server's election port. */
#define PEER_NET_RECONNECT_INTERVAL_MS 1000

struct peer_net_member {
    int64_t id;
    char host[PEER_NET_HOST_BYTES_MAX]; /* IPv4 literal or name (resolved at create or
                                         * peer_net_update_members) */
    uint16_t quorum_port;    /* 0: unknown (a quorum connect fails) */
    uint16_t election_port;  /* 0: unknown (we never connect; it may connect to us) */
};

struct peer_net_events {
    /* A notification body (after the 4-byte length) from server `from_id`. */
    void (*election_message)(void *context, int64_t from_id, const uint8_t *body,
                             size_t body_bytes);
    /* A learner connected to our quorum port (we listen: leader). */
    void (*quorum_accepted)(void *context, uint64_t connection_id);
    /* Our peer_net_quorum_connect succeeded. */
    void (*quorum_connected)(void *context, uint64_t connection_id);
    /* One whole QuorumPacket (jute bytes, decode with
     * jute_quorum_packet_decode); for SNAP, `stream` holds the snapshot
     * stream that followed it (else NULL, 0). Valid during the call only. */
    void (*quorum_packet)(void *context, uint64_t connection_id, const uint8_t *packet,
                          size_t packet_bytes, const uint8_t *stream, size_t stream_bytes);
    /* The connection is gone (peer closed, error, malformed bytes, or a
     * failed connect); `why` says which, for the log. Not called for
     * peer_net_quorum_close. */
    void (*quorum_closed)(void *context, uint64_t connection_id, const char *why);
    void *context;
};

struct peer_net_config {
    int64_t my_id;
    const struct peer_net_member *members; /* every server, self included */
    size_t member_count;
    /* quorumListenOnAllIPs: listen on 0.0.0.0 instead of our own host. */
    bool listen_on_all_ips;
    /* Largest QuorumPacket data accepted (jute.maxbuffer plus headroom). */
    size_t quorum_data_bytes_max;
};

struct peer_net;

/* Binds our election port (and prepares the quorum port). Returns NULL with
 * a message in `error` (which port, why, what to do). */
struct peer_net *peer_net_create(const struct peer_net_config *config,
                                 const struct peer_net_events *events, char *error,
                                 size_t error_bytes);
void peer_net_destroy(struct peer_net *net);

/* A committed reconfig's membership (ZooKeeper's `reconfig`): why the
 * member table is not fixed at create. Call on the thread that polls,
 * between polls (or from inside one of its events). Every server in
 * `members` that we do not know is added (its host resolved as at
 * create); a known one (same id) takes the new
 * host and ports: an open connection to it stays (QuorumCnxManager keeps
 * its connections across a reconfig too), new connects use the new
 * address. Servers not in the list stay known and untouched (a removed
 * server may still talk to us; nothing is closed). Our own entry changes
 * only if the list names my_id (our listening sockets stay where they are;
 * the new address is what our handshakes announce). Returns 0, or -1 with
 * a message in `error` (more than PEER_NET_MEMBERS_MAX servers in all, an
 * id twice in the list, a host name too long or that does not resolve),
 * and then nothing has changed: everything is checked before anything is
 * applied. Resolving a name may block (getaddrinfo) as it does at create. */
int peer_net_update_members(struct peer_net *net, const struct peer_net_member *members,
                            size_t member_count, char *error, size_t error_bytes);

/* A file descriptor that becomes readable when peer_net_poll has work (for
 * the core's poll()). */
int peer_net_wait_fd(const struct peer_net *net);

/* Handles completed I/O and calls the events. Never blocks. Returns the
 * number of events delivered. */
size_t peer_net_poll(struct peer_net *net, int64_t now_ms);

/* Queues a notification body to server `to_id` (connecting if needed). */
void peer_net_election_send(struct peer_net *net, int64_t to_id, const uint8_t *body,
                            size_t body_bytes);

/* Starts (true) or stops (false) listening on our quorum port. Stopping
 * does not close accepted connections. Returns 0 or -1 with `error`. */
int peer_net_quorum_listen(struct peer_net *net, bool listen, char *error, size_t error_bytes);
/* Connects to server `leader_id`'s quorum port. Returns the connection id
 * (never 0); quorum_connected or quorum_closed follows. */
uint64_t peer_net_quorum_connect(struct peer_net *net, int64_t leader_id);
/* Queues bytes (whole packets) on a connection. False when the connection
 * is unknown or its send queue would pass PEER_NET_QUORUM_SEND_BYTES_MAX
 * (the connection is then closed and quorum_closed follows). */
bool peer_net_quorum_send(struct peer_net *net, uint64_t connection_id, const uint8_t *bytes,
                          size_t byte_count);
/* Closes a connection after its queued bytes are sent (at most
 * PEER_NET_CLOSE_LINGER_MS later). */
#define PEER_NET_CLOSE_LINGER_MS 1000
void peer_net_quorum_close(struct peer_net *net, uint64_t connection_id);

/* Bytes queued and not yet sent on a connection (0 when unknown). */
size_t peer_net_quorum_queued_bytes(const struct peer_net *net, uint64_t connection_id);

/* Election port connections this server holds (any state), for tests and
 * diagnostics: once a pair has settled, one per other server. */
size_t peer_net_election_connection_count(const struct peer_net *net);

#endif
