/* cheetah-snapdump: prints a snapshot file (ZooKeeper 3.8's or Cheetah's)
 * in readable form, as ZooKeeper's SnapshotFormatter does: the header, the
 * sessions, the ACL cache, every node (path, Stat, data length and a
 * preview, ACL), the seals and the digest trailer.
 *
 *   cheetah-snapdump [--data-bytes N] FILE
 *   cheetah-snapdump --rewrite OUT_FILE FILE
 *
 * --rewrite loads FILE into a Cheetah data tree (store_snapshot_load) and
 * writes that tree and the file's sessions to OUT_FILE with Cheetah's own
 * writer (store_snapshot_write): a check that Cheetah reads everything a
 * snapshot holds and writes what ZooKeeper loads, and a way to normalise a
 * snapshot. It prints nothing but errors.
 *
 * Exits 0 when the whole file is sound; 1 with a message naming the file
 * and the offset when it is corrupt or truncated (what came before the
 * fault has been printed); 2 for usage or I/O errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/snapshot.h"

/* The data preview shows at most this many bytes unless told otherwise. */
#define PREVIEW_BYTES_DEFAULT 64u
#define PREVIEW_BYTES_MAX (1u << 20)
/* A snapshot bigger than this is refused rather than read into memory. */
#define SNAPSHOT_FILE_BYTES_MAX (16ull << 30)
#define ACL_TEXT_BYTES_MAX 4096u

struct acl_text {
    int64_t ref;
    char *text;
};

struct dump {
    size_t preview_bytes;
    struct acl_text *acls;
    size_t acl_count;
    size_t acl_capacity;
    size_t node_count;
    size_t ephemeral_count;
    size_t session_count;
};

static bool on_header(void *context, int32_t magic, int32_t version, int64_t dbid)
{
    (void)context;
    printf("header: magic 0x%08" PRIx32 " (ZKSN), version %" PRId32 ", dbid %" PRId64 "\n",
           (uint32_t)magic, version, dbid);
    return true;
}

static bool on_session(void *context, int64_t session_id, int32_t timeout_ms)
{
    struct dump *dump = context;
    if (dump->session_count++ == 0) {
        printf("Session Details (sid, timeout):\n");
    }
    printf("0x%" PRIx64 ", %" PRId32 "\n", (uint64_t)session_id, timeout_ms);
    return true;
}

/* ZooKeeper's perms letters (ZKUtil.getPermString): c d r w a */
static void perm_text(int32_t perms, char out[6])
{
    size_t at = 0;
    if (perms & 4) out[at++] = 'c';
    if (perms & 8) out[at++] = 'd';
    if (perms & 1) out[at++] = 'r';
    if (perms & 2) out[at++] = 'w';
    if (perms & 16) out[at++] = 'a';
    out[at] = '\0';
}

static bool on_acl(void *context, int64_t ref, const struct store_acl_list *list,
                   struct store_snapshot_error *error)
{
    struct dump *dump = context;
    char text[ACL_TEXT_BYTES_MAX];
    size_t used = 0;
    text[0] = '\0';
    for (int32_t i = 0; i < list->count && used < sizeof text; i++) {
        char perms[6];
        perm_text(list->entries[i].perms, perms);
        const struct store_acl *acl = &list->entries[i];
        int written = snprintf(text + used, sizeof text - used, "%s%.*s:%.*s:%s",
                               i ? ", " : "", acl->scheme.len > 0 ? acl->scheme.len : 0,
                               (const char *)acl->scheme.ptr, acl->id.len > 0 ? acl->id.len : 0,
                               (const char *)acl->id.ptr, perms);
        if (written < 0) {
            break;
        }
        used += (size_t)written;
    }
    if (dump->acl_count == dump->acl_capacity) {
        size_t capacity = dump->acl_capacity ? dump->acl_capacity * 2 : 16;
        struct acl_text *grown = realloc(dump->acls, capacity * sizeof *grown);
        if (!grown) {
            snprintf(error->message, sizeof error->message, "out of memory");
            return false;
        }
        dump->acls = grown;
        dump->acl_capacity = capacity;
    }
    dump->acls[dump->acl_count++] = (struct acl_text){ref, strdup(text)};
    if (dump->acl_count == 1) {
        printf("ACL cache:\n");
    }
    printf("  ref %" PRId64 ": [%s]\n", ref, text);
    return true;
}

static const char *acl_of(const struct dump *dump, int64_t ref)
{
    if (ref == -1) {
        return "world:anyone:cdrwa (OPEN_ACL_UNSAFE)";
    }
    for (size_t i = 0; i < dump->acl_count; i++) {
        if (dump->acls[i].ref == ref) {
            return dump->acls[i].text;
        }
    }
    return "(not in the ACL cache)";
}

static void print_time(const char *label, int64_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    char text[64] = "?";
    if (gmtime_r(&seconds, &tm)) {
        strftime(text, sizeof text, "%a %b %d %H:%M:%S UTC %Y", &tm);
    }
    printf("  %s = %s (%" PRId64 ")\n", label, text, ms);
}

static void print_preview(struct jute_bytes data, size_t preview_bytes)
{
    if (data.len < 0) {
        printf("  data = null\n");
        return;
    }
    size_t shown = (size_t)data.len < preview_bytes ? (size_t)data.len : preview_bytes;
    printf("  data = \"");
    for (size_t i = 0; i < shown; i++) {
        uint8_t c = data.ptr[i];
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c >= 0x20 && c < 0x7f) {
            putchar(c);
        } else {
            printf("\\x%02x", c);
        }
    }
    printf("\"%s\n", shown < (size_t)data.len ? "..." : "");
}

static bool on_node(void *context, size_t offset, struct jute_bytes path, struct jute_bytes data,
                    int64_t acl_ref, const struct jute_stat_persisted *stat,
                    struct store_snapshot_error *error)
{
    (void)error;
    struct dump *dump = context;
    if (dump->node_count++ == 0) {
        printf("ZNode Details:\n----\n");
    }
    /* the root is stored as "" and shown as "/", as SnapshotFormatter does */
    printf("%.*s\n", path.len ? path.len : 1, path.len ? (const char *)path.ptr : "/");
    printf("  offset = %zu\n", offset);
    printf("  cZxid = 0x%016" PRIx64 "\n", (uint64_t)stat->czxid);
    print_time("ctime", stat->ctime);
    printf("  mZxid = 0x%016" PRIx64 "\n", (uint64_t)stat->mzxid);
    print_time("mtime", stat->mtime);
    printf("  pZxid = 0x%016" PRIx64 "\n", (uint64_t)stat->pzxid);
    printf("  cversion = %" PRId32 "\n", stat->cversion);
    printf("  dataVersion = %" PRId32 "\n", stat->version);
    printf("  aclVersion = %" PRId32 "\n", stat->aversion);
    printf("  ephemeralOwner = 0x%016" PRIx64 "\n", (uint64_t)stat->ephemeral_owner);
    if (stat->ephemeral_owner != 0) {
        dump->ephemeral_count++;
    }
    printf("  dataLength = %" PRId32 "\n", data.len > 0 ? data.len : 0);
    print_preview(data, dump->preview_bytes);
    printf("  acl = %" PRId64 " [%s]\n", acl_ref, acl_of(dump, acl_ref));
    printf("----\n");
    return true;
}

static bool on_seal(void *context, size_t offset, uint32_t checksum)
{
    (void)context;
    printf("seal at offset %zu: Adler32 0x%08" PRIx32 " (good)\n", offset, checksum);
    return true;
}

static bool on_digest(void *context, int64_t zxid, int32_t digest_version, int64_t digest)
{
    (void)context;
    printf("digest: zxid 0x%" PRIx64 ", version %" PRId32 ", digest %" PRId64 "\n",
           (uint64_t)zxid, digest_version, digest);
    return true;
}

static uint8_t *read_file(const char *name, size_t *size_out)
{
    FILE *file = fopen(name, "rb");
    if (!file) {
        return NULL;
    }
    uint8_t *data = NULL;
    if (fseek(file, 0, SEEK_END) == 0) {
        long size = ftell(file);
        if (size >= 0 && (unsigned long long)size <= SNAPSHOT_FILE_BYTES_MAX &&
            fseek(file, 0, SEEK_SET) == 0) {
            data = malloc((size_t)size ? (size_t)size : 1);
            if (data && fread(data, 1, (size_t)size, file) != (size_t)size) {
                free(data);
                data = NULL;
            }
            *size_out = (size_t)size;
        }
    }
    int saved = errno;
    fclose(file);
    errno = saved;
    return data;
}

static int usage(void)
{
    fprintf(stderr, "usage: cheetah-snapdump [--data-bytes N] SNAPSHOT_FILE\n"
                    "       cheetah-snapdump --rewrite OUT_FILE SNAPSHOT_FILE\n");
    return 2;
}

/* The tree's settings do not change what a load keeps, except TTL nodes,
 * which are indexed only with extended types on: keep them all. */
static struct store_tree *rewrite_tree_new(void)
{
    struct store_config config = {
        .extended_types_enabled = true,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .config_node_text = "",
    };
    return store_tree_create(&config);
}

static int write_file(const char *name, const struct jute_writer *out)
{
    FILE *file = fopen(name, "wb");
    if (!file) {
        fprintf(stderr, "cheetah-snapdump: %s: %s\n", name, strerror(errno));
        return 2;
    }
    bool ok = fwrite(out->data, 1, out->size, file) == out->size;
    ok = fclose(file) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "cheetah-snapdump: %s: write failed: %s\n", name, strerror(errno));
        return 2;
    }
    return 0;
}

static int rewrite(const char *name, const uint8_t *data, size_t size, const char *out_name)
{
    struct store_tree *tree = rewrite_tree_new();
    if (!tree) {
        fprintf(stderr, "cheetah-snapdump: out of memory\n");
        return 2;
    }
    struct store_snapshot_session *sessions = NULL;
    size_t session_count = 0;
    struct store_snapshot_error error = {0};
    int status = 0;
    if (!store_snapshot_load(tree, data, size, &sessions, &session_count, &error)) {
        fprintf(stderr, "cheetah-snapdump: %s: corrupt at offset %zu: %s\n", name, error.offset,
                error.message);
        status = 1;
    } else {
        struct jute_writer out;
        /* the rewrite holds the same records, so twice the input bounds it */
        jute_writer_init(&out, size * 2 + 4096);
        if (!store_snapshot_write(tree, sessions, session_count, &out)) {
            fprintf(stderr, "cheetah-snapdump: %s: the snapshot does not fit in memory\n",
                    out_name);
            status = 2;
        } else {
            status = write_file(out_name, &out);
        }
        jute_writer_free(&out);
    }
    free(sessions);
    store_tree_destroy(tree);
    return status;
}

int main(int argc, char **argv)
{
    struct dump dump = {.preview_bytes = PREVIEW_BYTES_DEFAULT};
    const char *name = NULL;
    const char *rewrite_name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rewrite") == 0 && i + 1 < argc) {
            rewrite_name = argv[++i];
        } else if (strcmp(argv[i], "--data-bytes") == 0 && i + 1 < argc) {
            char *end;
            unsigned long value = strtoul(argv[++i], &end, 10);
            if (*end || value > PREVIEW_BYTES_MAX) {
                return usage();
            }
            dump.preview_bytes = value;
        } else if (argv[i][0] == '-' || name) {
            return usage();
        } else {
            name = argv[i];
        }
    }
    if (!name) {
        return usage();
    }
    size_t size = 0;
    uint8_t *data = read_file(name, &size);
    if (!data) {
        fprintf(stderr, "cheetah-snapdump: %s: %s\n", name, strerror(errno ? errno : EIO));
        return 2;
    }
    if (rewrite_name) {
        int status = rewrite(name, data, size, rewrite_name);
        free(data);
        return status;
    }
    printf("snapshot %s (%zu bytes)\n", name, size);
    struct store_snapshot_visitor visitor = {
        .context = &dump,
        .header = on_header,
        .session = on_session,
        .acl = on_acl,
        .node = on_node,
        .seal = on_seal,
        .digest = on_digest,
    };
    struct store_snapshot_error error = {0};
    bool ok = store_snapshot_parse(data, size, &visitor, &error);
    fflush(stdout);
    int status = 0;
    if (ok) {
        printf("nodes: %zu, ephemeral or special owners: %zu, sessions: %zu, ACL lists: %zu\n",
               dump.node_count, dump.ephemeral_count, dump.session_count, dump.acl_count);
    } else {
        fprintf(stderr, "cheetah-snapdump: %s: corrupt at offset %zu: %s\n", name, error.offset,
                error.message);
        status = 1;
    }
    for (size_t i = 0; i < dump.acl_count; i++) {
        free(dump.acls[i].text);
    }
    free(dump.acls);
    free(data);
    return status;
}
