/* The server: configuration, the tree, the consensus core thread and the
 * shard threads, and the few services shards share (per-IP connection
 * counts, four-letter words that look across shards).
 */
#ifndef CHEETAH_SERVER_H
#define CHEETAH_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/config.h"
#include "jute/jute.h"

struct server;
struct shard;
struct transport_peer;

/* Builds everything and binds the listeners; NULL with a message on error. */
struct server *server_create(const struct cheetah_config *config, char *error, size_t error_bytes);
/* Starts the threads and blocks until server_request_stop. Returns 0 on a
 * clean stop. */
int server_run(struct server *server);
/* Async-signal-safe. */
void server_request_stop(struct server *server);
void server_destroy(struct server *server);

/* Shard -> core: wake the core after pushing requests (thread-safe). */
void server_wake_core(struct server *server);

/* maxClientCnxns per client IP, across all shards. `acquire` returns false
 * when the address is at its limit. */
bool server_ip_acquire(struct server *server, const char *address);
void server_ip_release(struct server *server, const char *address);

/* What srvr, stat and mntr print about the whole server (every shard). */
struct fourlw_server_info;
void server_info(struct server *server, struct fourlw_server_info *info);

/* True when 4lw.commands.whitelist lets `word` run. */
bool server_four_letter_word_allowed(struct server *server, const uint8_t word[4]);

/* Writes the reply to a four-letter word (already known to be one) into
 * `out`, as ZooKeeper 3.8 would, including the whitelist refusal. */
void server_four_letter_word(struct server *server, const uint8_t word[4],
                             struct jute_writer *out);

#endif
