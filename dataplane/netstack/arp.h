/* The netstack's neighbour cache: IPv4 address -> MAC, a small bounded
 * table with a lifetime per entry, and the record of recent ARP requests
 * that rate-limits asking for the same next hop.
 *
 * Pure: time is the caller's now_us. Lookups are linear: the table holds
 * the gateway and the on-link peers (tens of entries), and a linear scan of
 * a few cache lines beats hashing at that size.
 */
#ifndef CHEETAH_NETSTACK_ARP_H
#define CHEETAH_NETSTACK_ARP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/netstack/netstack.h"

/* How many next hops the request limiter remembers; a next hop it forgot
 * may be asked for again early, which costs one frame. */
#define ARP_REQUESTS_REMEMBERED_MAX 16u
/* At most one request per next hop per this long. */
#define ARP_REQUEST_INTERVAL_US 1000000u
#define ARP_ENTRIES_MAX_LIMIT 65536u

struct arp_entry {
    uint32_t ipv4;
    uint8_t mac[NETSTACK_MAC_BYTES];
    uint64_t learned_us; /* last insert or refresh */
};

struct arp_request_sent {
    uint32_t ipv4;
    uint64_t sent_us;
};

struct arp_cache {
    struct arp_entry *entries; /* [0, count) are live, unordered */
    uint32_t count;
    uint32_t entries_max;
    uint64_t lifetime_us;
    struct arp_request_sent requests[ARP_REQUESTS_REMEMBERED_MAX];
    uint32_t requests_count;
};

/* False when out of memory. entries_max in 1..ARP_ENTRIES_MAX_LIMIT,
 * lifetime_ms > 0. */
bool arp_cache_init(struct arp_cache *cache, uint32_t entries_max, uint32_t lifetime_ms);
void arp_cache_free(struct arp_cache *cache);

/* The MAC of a live entry (learned within the lifetime), or NULL. The
 * pointer is valid until the next insert or expire. */
const uint8_t *arp_cache_lookup(const struct arp_cache *cache, uint32_t ipv4, uint64_t now_us);
/* Whether a live entry is in the last quarter of its lifetime: time to ask
 * again while still using it, so that a busy next hop never goes missing. */
bool arp_cache_stale(const struct arp_cache *cache, uint32_t ipv4, uint64_t now_us);
/* Inserts or refreshes ipv4 -> mac. When the table is full the entry
 * learned longest ago goes: returns true then (an eviction to count). */
bool arp_cache_insert(struct arp_cache *cache, uint32_t ipv4,
                      const uint8_t mac[NETSTACK_MAC_BYTES], uint64_t now_us);
/* Drops the entries past their lifetime; returns how many. */
uint32_t arp_cache_expire(struct arp_cache *cache, uint64_t now_us);
/* When the next entry expires, or UINT64_MAX for an empty table. */
uint64_t arp_cache_next_expiry(const struct arp_cache *cache);

/* Whether a request for ipv4 may go out now (none in the last
 * ARP_REQUEST_INTERVAL_US); if so it is recorded as sent. */
bool arp_request_allowed(struct arp_cache *cache, uint32_t ipv4, uint64_t now_us);

#endif
