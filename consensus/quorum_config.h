/* The ensemble's membership as ZooKeeper 3.8's QuorumMaj holds it, and the
 * rules of dynamic reconfiguration that change it (PrepRequestProcessor's
 * reconfig case), as pure functions.
 *
 * A configuration travels as text: "server.N=<spec>\n" per member, then
 * "version=<hex>" (QuorumMaj.toString): in NEWLEADER, in election
 * notifications, in /zookeeper/config and in zoo.cfg.dynamic.<version>.
 * A member's spec is QuorumServer's:
 *   host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]
 * The version of a configuration is the zxid of the reconfig transaction
 * that made it (0 for the one zoo.cfg's server lines give).
 */
#ifndef CHEETAH_QUORUM_CONFIG_H
#define CHEETAH_QUORUM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/election.h"

/* Host names and addresses, NUL included. */
#define QUORUM_HOST_BYTES_MAX 256u
/* The configuration text of the largest ensemble. */
#define QUORUM_CONFIG_TEXT_BYTES_MAX (ELECTION_MEMBERS_MAX * 2u * QUORUM_HOST_BYTES_MAX)

struct quorum_server {
    int64_t id;
    char host[QUORUM_HOST_BYTES_MAX]; /* without [] for IPv6 */
    uint16_t quorum_port;
    uint16_t election_port;
    bool observer;
    bool has_client;                  /* the ";[clientHost:]clientPort" part */
    char client_host[QUORUM_HOST_BYTES_MAX]; /* "0.0.0.0" when only the port was given */
    uint16_t client_port;
};

/* About 135 KB: keep it on the heap. */
struct quorum_config {
    int64_t version;
    size_t server_count;
    struct quorum_server servers[ELECTION_MEMBERS_MAX];
};

/* QuorumServer(sid, spec): false with a reason in `why` (ZooKeeper's
 * ConfigException messages) when the spec is malformed: not 3 or 4 parts
 * before ';', a port that is not a number in 0..65535, the quorum and
 * election ports equal, an unknown type, a client part with more than host
 * and port. */
bool quorum_server_parse(int64_t id, const char *spec, size_t spec_len,
                         struct quorum_server *out, char *why, size_t why_bytes);

/* Reads a configuration text (server.N lines and version=<hex>; blank lines
 * and surrounding spaces ignored). False with `why` on anything else. */
bool quorum_config_parse(const char *text, size_t text_len, struct quorum_config *out,
                         char *why, size_t why_bytes);

/* QuorumMaj.toString() (quorum_wire.h's quorum_config_text). False when it
 * does not fit. */
bool quorum_config_format(const struct quorum_config *config, char *out, size_t out_bytes);

const struct quorum_server *quorum_config_find(const struct quorum_config *config, int64_t id);
bool quorum_config_is_voter(const struct quorum_config *config, int64_t id);
size_t quorum_config_voter_count(const struct quorum_config *config);
/* QuorumMaj.containsQuorum: the voters among `ids` are more than half of
 * the configuration's voters. */
bool quorum_config_is_quorum(const struct quorum_config *config, const int64_t *ids,
                             size_t id_count);
/* Same members, same addresses, same types (the version aside). */
bool quorum_config_same_members(const struct quorum_config *a, const struct quorum_config *b);
/* The members as the election takes them; returns the count. */
size_t quorum_config_election_members(const struct quorum_config *config,
                                      struct election_member *out);

/* A reconfig request (ReconfigRequest's strings; NULL for a null string). */
struct quorum_reconfig_request {
    const char *joining;     /* "server.N=<spec>,..." */
    size_t joining_len;
    const char *leaving;     /* "N,..." */
    size_t leaving_len;
    const char *new_members; /* non-incremental: the whole membership */
    size_t new_members_len;
};

/* The configuration a reconfig request makes from `last_seen`, with version
 * `version` (the reconfig's zxid), by PrepRequestProcessor's rules:
 * new_members given: exactly those members ("," or newlines between
 * server.N=<spec> entries); otherwise last_seen minus `leaving` plus
 * `joining` (a joining id already present is replaced; each joiner needs
 * all three ports). Then at least `voters_min` voters must remain
 * (ZooKeeper: 2 while standaloneEnabled, else 1).
 * Returns 0 (ZK_OK) or the ZooKeeper error: ZK_BADARGUMENTS (with why),
 * ZK_MARSHALLINGERROR where ZooKeeper fails with an unchecked exception (a
 * server id that is not a number). */
int quorum_config_reconfig(const struct quorum_config *last_seen,
                           const struct quorum_reconfig_request *request, int64_t version,
                           size_t voters_min, struct quorum_config *out, char *why,
                           size_t why_bytes);

#endif
