/* The netstack's neighbour cache (see arp.h). */
#include "dataplane/netstack/arp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_MS 1000u

bool arp_cache_init(struct arp_cache *cache, uint32_t entries_max, uint32_t lifetime_ms)
{
    assert(entries_max >= 1 && entries_max <= ARP_ENTRIES_MAX_LIMIT);
    assert(lifetime_ms > 0);
    memset(cache, 0, sizeof(*cache));
    cache->entries = calloc(entries_max, sizeof(*cache->entries));
    if (cache->entries == NULL) {
        return false;
    }
    cache->entries_max = entries_max;
    cache->lifetime_us = (uint64_t)lifetime_ms * US_PER_MS;
    return true;
}

void arp_cache_free(struct arp_cache *cache)
{
    free(cache->entries);
    cache->entries = NULL;
    cache->count = 0;
}

static struct arp_entry *entry_find(const struct arp_cache *cache, uint32_t ipv4)
{
    for (uint32_t index = 0; index < cache->count; index++) {
        if (cache->entries[index].ipv4 == ipv4) {
            return &cache->entries[index];
        }
    }
    return NULL;
}

static bool entry_live(const struct arp_cache *cache, const struct arp_entry *entry,
                       uint64_t now_us)
{
    /* An entry learned "in the future" (a clock that went back) counts as
     * fresh: the lifetime bounds it at the next expire anyway. */
    return now_us < entry->learned_us || now_us - entry->learned_us < cache->lifetime_us;
}

const uint8_t *arp_cache_lookup(const struct arp_cache *cache, uint32_t ipv4, uint64_t now_us)
{
    const struct arp_entry *entry = entry_find(cache, ipv4);
    if (entry == NULL || !entry_live(cache, entry, now_us)) {
        return NULL;
    }
    return entry->mac;
}

bool arp_cache_stale(const struct arp_cache *cache, uint32_t ipv4, uint64_t now_us)
{
    const struct arp_entry *entry = entry_find(cache, ipv4);
    if (entry == NULL || !entry_live(cache, entry, now_us) || now_us < entry->learned_us) {
        return false;
    }
    return now_us - entry->learned_us >= cache->lifetime_us - cache->lifetime_us / 4u;
}

static uint32_t oldest_index(const struct arp_cache *cache)
{
    assert(cache->count > 0);
    uint32_t oldest = 0;
    for (uint32_t index = 1; index < cache->count; index++) {
        if (cache->entries[index].learned_us < cache->entries[oldest].learned_us) {
            oldest = index;
        }
    }
    return oldest;
}

bool arp_cache_insert(struct arp_cache *cache, uint32_t ipv4,
                      const uint8_t mac[NETSTACK_MAC_BYTES], uint64_t now_us)
{
    struct arp_entry *entry = entry_find(cache, ipv4);
    bool evicted = false;
    if (entry == NULL) {
        if (cache->count < cache->entries_max) {
            entry = &cache->entries[cache->count++];
        } else {
            entry = &cache->entries[oldest_index(cache)];
            evicted = true;
        }
        entry->ipv4 = ipv4;
    }
    memcpy(entry->mac, mac, NETSTACK_MAC_BYTES);
    entry->learned_us = now_us;
    return evicted;
}

uint32_t arp_cache_expire(struct arp_cache *cache, uint64_t now_us)
{
    uint32_t expired = 0;
    uint32_t index = 0;
    /* Each step either advances or shrinks the table: at most count steps. */
    while (index < cache->count) {
        if (entry_live(cache, &cache->entries[index], now_us)) {
            index++;
            continue;
        }
        cache->entries[index] = cache->entries[--cache->count];
        expired++;
    }
    return expired;
}

uint64_t arp_cache_next_expiry(const struct arp_cache *cache)
{
    if (cache->count == 0) {
        return UINT64_MAX;
    }
    return cache->entries[oldest_index(cache)].learned_us + cache->lifetime_us;
}

bool arp_request_allowed(struct arp_cache *cache, uint32_t ipv4, uint64_t now_us)
{
    struct arp_request_sent *slot = NULL;
    for (uint32_t index = 0; index < cache->requests_count; index++) {
        if (cache->requests[index].ipv4 == ipv4) {
            slot = &cache->requests[index];
            break;
        }
    }
    if (slot != NULL) {
        if (now_us >= slot->sent_us && now_us - slot->sent_us < ARP_REQUEST_INTERVAL_US) {
            return false;
        }
    } else if (cache->requests_count < ARP_REQUESTS_REMEMBERED_MAX) {
        slot = &cache->requests[cache->requests_count++];
    } else {
        slot = &cache->requests[0];
        for (uint32_t index = 1; index < cache->requests_count; index++) {
            if (cache->requests[index].sent_us < slot->sent_us) {
                slot = &cache->requests[index];
            }
        }
    }
    slot->ipv4 = ipv4;
    slot->sent_us = now_us;
    return true;
}
