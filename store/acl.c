/* ACL lists: interning (ReferenceCountedACLCache), checks
 * (ZooKeeperServer.checkACL with the ip and digest providers) and request
 * validation (PrepRequestProcessor.fixupACL). */
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store_internal.h"

/* ---- lists ------------------------------------------------------------------ */

/* A list's strings live in the same block, after the entries. */
static struct store_acl_list *list_alloc(int32_t count, size_t string_bytes, uint8_t **strings)
{
    size_t head = sizeof(struct store_acl_list) + (size_t)count * sizeof(struct store_acl);
    struct store_acl_list *list = malloc(head + string_bytes);
    if (!list) {
        abort();
    }
    list->ref = 0;
    list->count = count;
    *strings = (uint8_t *)list + head;
    return list;
}

static struct jute_bytes copy_into(uint8_t **cursor, struct jute_bytes text)
{
    size_t len = text.len > 0 ? (size_t)text.len : 0;
    struct jute_bytes out = {*cursor, (int32_t)len};
    if (len) {
        memcpy(*cursor, text.ptr, len);
    }
    *cursor += len;
    return out;
}

static struct store_acl_list *list_build(int32_t count, const int32_t *perms,
                                         const struct jute_bytes *schemes,
                                         const struct jute_bytes *ids)
{
    size_t string_bytes = 0;
    for (int32_t i = 0; i < count; i++) {
        string_bytes += (size_t)(schemes[i].len > 0 ? schemes[i].len : 0);
        string_bytes += (size_t)(ids[i].len > 0 ? ids[i].len : 0);
    }
    uint8_t *cursor;
    struct store_acl_list *list = list_alloc(count, string_bytes, &cursor);
    for (int32_t i = 0; i < count; i++) {
        list->entries[i].perms = perms[i];
        list->entries[i].scheme = copy_into(&cursor, schemes[i]);
        list->entries[i].id = copy_into(&cursor, ids[i]);
    }
    return list;
}

struct store_acl_list *store_acl_list_new(int32_t count)
{
    uint8_t *unused;
    struct store_acl_list *list = list_alloc(count, 0, &unused);
    memset(list->entries, 0, (size_t)count * sizeof list->entries[0]);
    return list;
}

static struct store_acl_list *list_from_entries(const struct store_acl *entries, int32_t count)
{
    int32_t *perms = malloc(sizeof *perms * (size_t)(count ? count : 1));
    struct jute_bytes *schemes = malloc(sizeof *schemes * (size_t)(count ? count : 1));
    struct jute_bytes *ids = malloc(sizeof *ids * (size_t)(count ? count : 1));
    if (!perms || !schemes || !ids) {
        abort();
    }
    for (int32_t i = 0; i < count; i++) {
        perms[i] = entries[i].perms;
        schemes[i] = entries[i].scheme;
        ids[i] = entries[i].id;
    }
    struct store_acl_list *list = list_build(count, perms, schemes, ids);
    free(perms);
    free(schemes);
    free(ids);
    return list;
}

struct store_acl_list *store_acl_list_copy(const struct store_acl_list *list)
{
    struct store_acl_list *copy = list_from_entries(list->entries, list->count);
    copy->ref = list->ref;
    return copy;
}

struct store_acl_list *store_acl_list_from_vector(const struct jute_acl_vector *vector)
{
    int32_t count = vector->count > 0 ? vector->count : 0;
    struct store_acl *entries = malloc(sizeof *entries * (size_t)(count ? count : 1));
    if (!entries) {
        abort();
    }
    for (int32_t i = 0; i < count; i++) {
        entries[i].perms = vector->items[i].perms;
        entries[i].scheme = vector->items[i].id.scheme;
        entries[i].id = vector->items[i].id.id;
    }
    struct store_acl_list *list = list_from_entries(entries, count);
    free(entries);
    return list;
}

void store_acl_list_to_vector(const struct store_acl_list *list, struct jute_acl *items)
{
    for (int32_t i = 0; i < list->count; i++) {
        items[i].perms = list->entries[i].perms;
        items[i].id.scheme = list->entries[i].scheme;
        items[i].id.id = list->entries[i].id;
    }
}

static bool bytes_same(struct jute_bytes a, struct jute_bytes b)
{
    int32_t alen = a.len > 0 ? a.len : 0;
    int32_t blen = b.len > 0 ? b.len : 0;
    return alen == blen && (alen == 0 || memcmp(a.ptr, b.ptr, (size_t)alen) == 0);
}

static bool acl_equal(const struct store_acl *a, const struct store_acl *b)
{
    return a->perms == b->perms && bytes_same(a->scheme, b->scheme) && bytes_same(a->id, b->id);
}

bool store_acl_list_equal(const struct store_acl_list *a, const struct store_acl_list *b)
{
    if (a->count != b->count) {
        return false;
    }
    for (int32_t i = 0; i < a->count; i++) {
        if (!acl_equal(&a->entries[i], &b->entries[i])) {
            return false;
        }
    }
    return true;
}

/* ---- the cache ------------------------------------------------------------ */

static struct store_acl_list cache_tombstone;
#define CACHE_TOMBSTONE (&cache_tombstone)

static uint32_t list_hash(const struct store_acl_list *list)
{
    uint32_t hash = (uint32_t)list->count * 0x9E3779B1u;
    for (int32_t i = 0; i < list->count; i++) {
        const struct store_acl *acl = &list->entries[i];
        hash = hash * 31u + (uint32_t)acl->perms;
        hash = hash * 31u + store_hash_bytes(acl->scheme.ptr, (size_t)(acl->scheme.len > 0 ? acl->scheme.len : 0));
        hash = hash * 31u + store_hash_bytes(acl->id.ptr, (size_t)(acl->id.len > 0 ? acl->id.len : 0));
    }
    return hash;
}

static struct store_acl_cache_entry *cache_find(struct store_acl_cache *cache,
                                                const struct store_acl_list *list)
{
    if (!cache->capacity) {
        return NULL;
    }
    uint32_t mask = cache->capacity - 1;
    uint32_t index = list_hash(list) & mask;
    for (uint32_t probes = 0; probes < cache->capacity; probes++) {
        struct store_acl_cache_entry *entry = &cache->slots[index];
        if (!entry->list) {
            return NULL;
        }
        if (entry->list != CACHE_TOMBSTONE && store_acl_list_equal(entry->list, list)) {
            return entry;
        }
        index = (index + 1) & mask;
    }
    return NULL;
}

static struct store_acl_cache_entry *cache_place(struct store_acl_cache *cache,
                                                 struct store_acl_list *list, int64_t usage)
{
    uint32_t mask = cache->capacity - 1;
    uint32_t index = list_hash(list) & mask;
    while (cache->slots[index].list && cache->slots[index].list != CACHE_TOMBSTONE) {
        index = (index + 1) & mask;
    }
    if (!cache->slots[index].list) {
        cache->used++;
    }
    cache->slots[index] = (struct store_acl_cache_entry){list, usage};
    cache->count++;
    return &cache->slots[index];
}

static void cache_grow(struct store_acl_cache *cache)
{
    uint32_t capacity = 16;
    while ((uint64_t)(cache->count + 1) * 2 > capacity) {
        capacity *= 2;
    }
    struct store_acl_cache_entry *old = cache->slots;
    uint32_t old_capacity = cache->capacity;
    cache->slots = calloc(capacity, sizeof *cache->slots);
    if (!cache->slots) {
        abort();
    }
    cache->capacity = capacity;
    cache->count = 0;
    cache->used = 0;
    for (uint32_t i = 0; i < old_capacity; i++) {
        if (old[i].list && old[i].list != CACHE_TOMBSTONE) {
            cache_place(cache, old[i].list, old[i].usage);
        }
    }
    free(old);
}

const struct store_acl_list *store_acl_intern(struct store_tree *tree,
                                              const struct store_acl_list *list)
{
    if (list == store_open_acl_unsafe) {
        return list;
    }
    struct store_acl_cache *cache = &tree->acl_cache;
    struct store_acl_cache_entry *entry = cache_find(cache, list);
    if (!entry) {
        if ((uint64_t)(cache->used + 1) * 4 > (uint64_t)cache->capacity * 3) {
            cache_grow(cache);
        }
        struct store_acl_list *owned = store_acl_list_copy(list);
        owned->ref = ++cache->last_index;
        entry = cache_place(cache, owned, 0);
    }
    entry->usage++;
    return entry->list;
}

void store_acl_release(struct store_tree *tree, const struct store_acl_list *list)
{
    if (!list || list == store_open_acl_unsafe) {
        return;
    }
    struct store_acl_cache_entry *entry = cache_find(&tree->acl_cache, list);
    if (!entry || entry->list != list) {
        return;
    }
    if (--entry->usage <= 0) {
        entry->list = CACHE_TOMBSTONE;
        tree->acl_cache.count--;
        store_retire(tree, (void *)list);
    }
}

void store_acl_cache_free(struct store_acl_cache *cache)
{
    for (uint32_t i = 0; i < cache->capacity; i++) {
        if (cache->slots[i].list && cache->slots[i].list != CACHE_TOMBSTONE) {
            free(cache->slots[i].list);
        }
    }
    free(cache->slots);
    memset(cache, 0, sizeof *cache);
}

/* ---- providers -------------------------------------------------------------- */

static bool bytes_is(struct jute_bytes bytes, const char *text)
{
    size_t len = strlen(text);
    return bytes.len >= 0 && (size_t)bytes.len == len &&
           (len == 0 || memcmp(bytes.ptr, text, len) == 0);
}

/* Java's Integer.parseInt on [begin, end): optional sign, digits. */
static bool parse_java_int(const uint8_t *begin, const uint8_t *end, int64_t *out)
{
    bool negative = false;
    if (begin < end && (*begin == '+' || *begin == '-')) {
        negative = *begin == '-';
        begin++;
    }
    if (begin == end) {
        return false;
    }
    int64_t value = 0;
    for (; begin < end; begin++) {
        if (*begin < '0' || *begin > '9') {
            return false;
        }
        value = value * 10 + (*begin - '0');
        if (value > (int64_t)INT32_MAX + 1) {
            return false;
        }
    }
    value = negative ? -value : value;
    if (value > INT32_MAX || value < INT32_MIN) {
        return false;
    }
    *out = value;
    return true;
}

static bool parse_v4(const uint8_t *begin, const uint8_t *end, uint8_t out[4])
{
    int part = 0;
    const uint8_t *start = begin;
    for (const uint8_t *at = begin;; at++) {
        if (at == end || *at == '.') {
            int64_t value;
            if (part >= 4 || !parse_java_int(start, at, &value) || value < 0 || value > 255) {
                return false;
            }
            out[part++] = (uint8_t)value;
            if (at == end) {
                break;
            }
            start = at + 1;
        }
    }
    return part == 4;
}

/* IPv6 text form (hex groups, one "::"). */
static bool parse_v6(const uint8_t *begin, const uint8_t *end, uint8_t out[16])
{
    uint16_t groups[8];
    int count = 0;
    int gap = -1;
    const uint8_t *at = begin;
    if (end - begin >= 2 && at[0] == ':' && at[1] == ':') {
        gap = 0;
        at += 2;
    }
    while (at < end) {
        int digits = 0;
        uint32_t value = 0;
        while (at < end && store_hex_digit_value(*at) >= 0 && digits < 5) {
            value = value * 16 + (uint32_t)store_hex_digit_value(*at);
            at++;
            digits++;
        }
        if (digits == 0 || digits > 4 || count == 8) {
            return false;
        }
        groups[count++] = (uint16_t)value;
        if (at == end) {
            break;
        }
        if (*at != ':') {
            return false;
        }
        at++;
        if (at < end && *at == ':') {
            if (gap >= 0) {
                return false;
            }
            gap = count;
            at++;
        } else if (at == end) {
            return false;
        }
    }
    if (gap < 0 ? count != 8 : count > 7) {
        return false;
    }
    memset(out, 0, 16);
    int tail = gap < 0 ? 0 : count - gap;
    int head = gap < 0 ? count : gap;
    for (int i = 0; i < head; i++) {
        out[2 * i] = (uint8_t)(groups[i] >> 8);
        out[2 * i + 1] = (uint8_t)groups[i];
    }
    for (int i = 0; i < tail; i++) {
        int slot = 8 - tail + i;
        out[2 * slot] = (uint8_t)(groups[head + i] >> 8);
        out[2 * slot + 1] = (uint8_t)groups[head + i];
    }
    return true;
}

/* addr2Bytes: IPv4 first, then IPv6. Returns the byte count (0: invalid). */
static int addr_to_bytes(const uint8_t *begin, const uint8_t *end, uint8_t out[16])
{
    if (parse_v4(begin, end, out)) {
        return 4;
    }
    if (parse_v6(begin, end, out)) {
        return 16;
    }
    return 0;
}

static void mask_bits(uint8_t *bytes, int size, int64_t bits)
{
    for (int i = 0; i < size; i++) {
        int64_t keep = bits - 8 * i;
        if (keep >= 8) {
            continue;
        }
        bytes[i] = keep <= 0 ? 0 : (uint8_t)(bytes[i] & (0xFF << (8 - keep)));
    }
}

/* "addr[/bits]" -> address bytes and prefix bits; false when invalid. */
static bool ip_expr_parse(struct jute_bytes expr, uint8_t address[16], int *size, int64_t *bits)
{
    if (expr.len <= 0) {
        return false;
    }
    const uint8_t *begin = expr.ptr;
    const uint8_t *end = expr.ptr + expr.len;
    const uint8_t *slash = memchr(begin, '/', (size_t)expr.len);
    *size = addr_to_bytes(begin, slash ? slash : end, address);
    if (*size == 0) {
        return false;
    }
    *bits = *size * 8;
    if (slash) {
        if (!parse_java_int(slash + 1, end, bits) || *bits < 0 || *bits > *size * 8) {
            return false;
        }
    }
    return true;
}

static bool ip_matches(struct jute_bytes client, struct jute_bytes expr)
{
    uint8_t acl_address[16];
    int acl_size;
    int64_t bits;
    if (!ip_expr_parse(expr, acl_address, &acl_size, &bits)) {
        return false;
    }
    mask_bits(acl_address, acl_size, bits);
    uint8_t remote[16];
    int remote_size =
        client.len > 0 ? addr_to_bytes(client.ptr, client.ptr + client.len, remote) : 0;
    if (remote_size != acl_size) {
        return false;
    }
    mask_bits(remote, remote_size, bits);
    return memcmp(remote, acl_address, (size_t)acl_size) == 0;
}

/* IPAuthenticationProvider.isValid in 3.8: only IPv4 addresses (its IPv6
 * parser is a TODO), so "ip:::1" is INVALIDACL. */
static bool ip_valid(struct jute_bytes expr)
{
    uint8_t address[16];
    int size;
    int64_t bits;
    return ip_expr_parse(expr, address, &size, &bits) && size == 4;
}

/* DigestAuthenticationProvider.isValid: id.split(":") has two parts (Java's
 * split drops trailing empty strings). */
static bool digest_valid(struct jute_bytes id)
{
    if (id.len <= 0) {
        return false;
    }
    int32_t len = id.len;
    while (len > 0 && id.ptr[len - 1] == ':') {
        len--; /* trailing empty parts vanish */
    }
    if (len == 0) {
        return false;
    }
    int parts = 1;
    for (int32_t i = 0; i < len; i++) {
        if (id.ptr[i] == ':') {
            parts++;
        }
    }
    return parts == 2;
}

int store_acl_check(const struct store_tree *tree, const struct store_acl_list *acl,
                    int32_t perm, const struct store_auth *auth)
{
    if (tree->config.skip_acl || !acl || acl->count == 0) {
        return ZK_OK;
    }
    if (auth) {
        if (auth->is_super) {
            return ZK_OK;
        }
        for (int32_t i = 0; i < auth->id_count; i++) {
            if (bytes_is(auth->ids[i].scheme, "super")) {
                return ZK_OK;
            }
        }
    }
    for (int32_t i = 0; i < acl->count; i++) {
        const struct store_acl *entry = &acl->entries[i];
        if ((entry->perms & perm) == 0) {
            continue;
        }
        if (bytes_is(entry->scheme, "world") && bytes_is(entry->id, "anyone")) {
            return ZK_OK;
        }
        bool is_ip = bytes_is(entry->scheme, "ip");
        bool is_digest = bytes_is(entry->scheme, "digest");
        if ((!is_ip && !is_digest) || !auth) {
            continue; /* no provider for the scheme: nothing matches */
        }
        for (int32_t j = 0; j < auth->id_count; j++) {
            if (!bytes_same(auth->ids[j].scheme, entry->scheme)) {
                continue;
            }
            bool match = is_ip ? ip_matches(auth->ids[j].id, entry->id)
                               : bytes_same(auth->ids[j].id, entry->id);
            if (match) {
                return ZK_OK;
            }
        }
    }
    return ZK_NOAUTH;
}

int store_acl_fixup(const struct jute_acl_vector *vector, const struct store_auth *auth,
                    struct store_acl_list **out)
{
    *out = NULL;
    int32_t count = vector->count > 0 ? vector->count : 0;
    if (count == 0) {
        return ZK_INVALIDACL; /* null or empty list */
    }
    /* removeDuplicates, then expansion of "auth" (which may add more
     * entries than the request had: at most one per authenticated id). */
    int32_t auth_ids = auth ? auth->id_count : 0;
    size_t room = (size_t)count * (size_t)(auth_ids + 1);
    struct store_acl *entries = malloc(sizeof *entries * room);
    struct store_acl *unique = malloc(sizeof *unique * (size_t)count);
    if (!entries || !unique) {
        abort();
    }
    int32_t unique_count = 0;
    for (int32_t i = 0; i < count; i++) {
        struct store_acl candidate = {vector->items[i].perms, vector->items[i].id.scheme,
                                      vector->items[i].id.id};
        bool seen = false;
        for (int32_t j = 0; j < unique_count && !seen; j++) {
            seen = acl_equal(&unique[j], &candidate);
        }
        if (!seen) {
            unique[unique_count++] = candidate;
        }
    }
    int rc = ZK_OK;
    size_t produced = 0;
    for (int32_t i = 0; i < unique_count && rc == ZK_OK; i++) {
        const struct store_acl *entry = &unique[i];
        if (entry->scheme.len < 0) {
            rc = ZK_INVALIDACL; /* null scheme */
        } else if (bytes_is(entry->scheme, "world") && bytes_is(entry->id, "anyone")) {
            entries[produced++] = *entry;
        } else if (bytes_is(entry->scheme, "auth")) {
            /* Expands to the ids whose provider says isAuthenticated():
             * digest (ip is not; schemes without a provider are skipped). */
            bool any = false;
            for (int32_t j = 0; j < auth_ids; j++) {
                if (bytes_is(auth->ids[j].scheme, "digest")) {
                    entries[produced++] =
                        (struct store_acl){entry->perms, auth->ids[j].scheme, auth->ids[j].id};
                    any = true;
                }
            }
            if (!any) {
                rc = ZK_INVALIDACL;
            }
        } else if (bytes_is(entry->scheme, "digest")) {
            if (!digest_valid(entry->id)) {
                rc = ZK_INVALIDACL;
            } else {
                entries[produced++] = *entry;
            }
        } else if (bytes_is(entry->scheme, "ip")) {
            if (!ip_valid(entry->id)) {
                rc = ZK_INVALIDACL;
            } else {
                entries[produced++] = *entry;
            }
        } else {
            rc = ZK_INVALIDACL; /* no provider (world:<other>, unknown schemes) */
        }
    }
    if (rc == ZK_OK) {
        *out = list_from_entries(entries, (int32_t)produced);
    }
    free(entries);
    free(unique);
    return rc;
}
