/* The DPDK transport: transport.h's table over one DPDK RX/TX queue pair
 * and one netstack (the shard's own TCP/IP) per shard.
 *
 * run_once is a run-to-completion loop: receive a burst, hand frames that
 * belong to another shard to it (dpdk_port.h's steering rings), feed the
 * rest and what other shards handed us to the netstack, run its timers and
 * send what it built in bursts. It returns once a callback ran (something
 * was delivered), transport_wake was called, or timeout_ms passed. Between
 * empty polls it backs off (sleeps from DPDK_IDLE_SLEEP_FIRST_US doubling
 * to DPDK_IDLE_SLEEP_MAX_US) so an idle server does not burn a core; the
 * longest sleep bounds how late a wake is seen.
 *
 * Built only with DPDK (CHEETAH_HAVE_DPDK); includes no DPDK header.
 */
#ifndef CHEETAH_TRANSPORT_DPDK_H
#define CHEETAH_TRANSPORT_DPDK_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/transport.h"

struct dpdk_port;

/* The transport for queue pair `queue` of `port` (the shard's index).
 * config's listen_port, connections_max and send_buffer_bytes_max go to
 * the netstack; listen_address is not used (the netstack answers on the
 * port's own IPv4 address). NULL with a message in `error` on failure. */
struct transport *transport_dpdk_create(const struct transport_config *config,
                                        struct dpdk_port *port, uint32_t queue,
                                        const struct transport_callbacks *callbacks, void *shard,
                                        char *error, size_t error_bytes);

#endif
