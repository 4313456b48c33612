/* EAL, the port, its queues, pools and steering rings. See dpdk_port.h. */
#include "dataplane/dpdk_port.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/config.h"
#include "dataplane/log.h"

/* Timer slack of the shard threads (their idle sleeps start at 10 us). */
#define DPDK_SHARD_TIMER_SLACK_NS 1ul

/* EAL arguments after splitting cheetah.dpdk.eal_args (plus argv[0] and
 * the ones we add). */
#define DPDK_EAL_ARGUMENTS_MAX 64u
/* What EAL logged during rte_eal_init, kept for the error message. */
#define DPDK_EAL_LOG_EXCERPT_BYTES 600u
/* Per-lcore mempool cache (RTE_MEMPOOL_CACHE_MAX_SIZE is 512); smaller
 * pools get a smaller one (the cache may hold at most pool / 1.5). */
#define DPDK_MBUF_CACHE_SIZE 256u
/* Ethernet header + one VLAN tag: room above the MTU in a received frame. */
#define DPDK_FRAME_OVERHEAD_BYTES 18u
/* Ethernet + the longest IPv4 and TCP headers: what a TSO frame carries
 * besides its payload. The shortest IPv4 + TCP headers give the MSS. */
#define DPDK_HEADERS_BYTES_MAX (14u + 60u + 60u)
#define DPDK_IPV4_TCP_HEADERS_BYTES_MIN 40u
#define DPDK_NAME_BYTES 48u /* rte_ring and rte_mempool names stay under 29 */

static_assert(sizeof(struct netstack_counters) % sizeof(uint64_t) == 0,
              "netstack_counters is read as an array of uint64_t");
#define NETSTACK_COUNTER_WORDS (sizeof(struct netstack_counters) / sizeof(uint64_t))
static_assert(DPDK_COUNTER_COUNT + NETSTACK_COUNTER_WORDS + DPDK_QUEUES_MAX <= DPDK_METRICS_MAX,
              "DPDK_METRICS_MAX holds every line");

/* Counters one shard published (written by its thread, read by any). */
struct dpdk_published {
    _Atomic uint64_t transport[DPDK_COUNTER_COUNT];
    _Atomic uint64_t netstack[NETSTACK_COUNTER_WORDS];
};

struct dpdk_port {
    struct dpdk_port_settings settings;
    uint16_t port_id;
    uint32_t queue_count;
    uint32_t reta_entries;
    bool hardware_rss;
    bool rx_checksum_offload;
    uint32_t tx_offload_flags; /* enum netstack_tx_flags */
    uint32_t tso_bytes_max;
    uint32_t frame_bytes_max;
    uint8_t mac[NETSTACK_MAC_BYTES];
    bool started;
    bool configured;
    struct rte_mempool *pools[DPDK_QUEUES_MAX];
    /* steer_rings[to * queue_count + from]; NULL on the diagonal. */
    struct rte_ring **steer_rings;
    struct dpdk_published *published; /* queue_count entries */
    /* Each queue's transport, to end its idle sleep (dpdk_port_kick). */
    dpdk_port_kick_fn *kicks[DPDK_QUEUES_MAX];
    void *kick_contexts[DPDK_QUEUES_MAX];
};

/* EAL can be initialised once per process (and not again after cleanup). */
static atomic_bool eal_used;

/* dpdk_port_set_after_eal_hook's: set by a tool before the port is made. */
static dpdk_port_after_eal_fn *after_eal_hook;
static void *after_eal_context;

void dpdk_port_set_after_eal_hook(dpdk_port_after_eal_fn *hook, void *context)
{
    after_eal_hook = hook;
    after_eal_context = context;
}

/* Signals DPDK's drivers took while the port was made: net_tap has the
 * kernel signal the process (F_SETOWN, O_ASYNC: SIGIO, or a real-time
 * signal on newer kernels and DPDKs) for every frame it queues on the tap,
 * and a blocking call with a timeout in whatever thread takes the signal
 * fails with EINTR. The thread that made the port blocks them, and so
 * does every thread it starts after; shard threads unblock them
 * (dpdk_port_thread_start), where they only end an idle sleep early.
 * Written once by dpdk_port_create, before any shard thread exists. */
static sigset_t driver_signals;

struct signal_handlers {
    void (*handlers[NSIG])(int);
};

static void signal_handlers_read(struct signal_handlers *handlers)
{
    for (int signal_number = 1; signal_number < NSIG; signal_number++) {
        struct sigaction action;
        handlers->handlers[signal_number] =
            sigaction(signal_number, NULL, &action) == 0 ? action.sa_handler : SIG_DFL;
    }
}

/* Blocks, in the calling thread, SIGIO and every signal that got a
 * handler since `before`. */
static void block_driver_signals(const struct signal_handlers *before)
{
    struct signal_handlers after;
    signal_handlers_read(&after);
    sigemptyset(&driver_signals);
    sigaddset(&driver_signals, SIGIO);
    for (int signal_number = 1; signal_number < NSIG; signal_number++) {
        void (*handler)(int) = after.handlers[signal_number];
        if (handler != before->handlers[signal_number] && handler != SIG_DFL &&
            handler != SIG_IGN) {
            sigaddset(&driver_signals, signal_number);
            log_info("dpdk: a driver handles signal %d (%s): only shard threads take it",
                     signal_number, strsignal(signal_number));
        }
    }
    pthread_sigmask(SIG_BLOCK, &driver_signals, NULL);
}

static const char *const TRANSPORT_COUNTER_NAMES[DPDK_COUNTER_COUNT] = {
    [DPDK_COUNTER_RX_BURSTS] = "rx_bursts",
    [DPDK_COUNTER_RX_FRAMES] = "rx_frames",
    [DPDK_COUNTER_RX_MULTI_SEGMENT] = "rx_multi_segment_dropped",
    [DPDK_COUNTER_TX_BURSTS] = "tx_bursts",
    [DPDK_COUNTER_TX_FRAMES] = "tx_frames",
    [DPDK_COUNTER_TX_REFUSED] = "tx_refused",
    [DPDK_COUNTER_TX_NO_MBUF] = "tx_no_mbuf",
    [DPDK_COUNTER_STEERED_OUT] = "steered_out",
    [DPDK_COUNTER_STEERED_IN] = "steered_in",
    [DPDK_COUNTER_STEER_RING_FULL] = "steer_ring_full",
    [DPDK_COUNTER_BROADCAST_COPIES] = "broadcast_copies",
    [DPDK_COUNTER_BROADCAST_COPY_FAILED] = "broadcast_copy_failed",
    [DPDK_COUNTER_IDLE_SLEEPS] = "idle_sleeps",
    [DPDK_COUNTER_BUSY_CYCLES] = "busy_cycles",
};

struct netstack_counter_name {
    const char *name;
    size_t offset;
};
#define NETSTACK_COUNTER(field) {#field, offsetof(struct netstack_counters, field)},
static const struct netstack_counter_name NETSTACK_COUNTER_NAMES[] = {
    NETSTACK_COUNTERS(NETSTACK_COUNTER)
};
#define NETSTACK_COUNTER_NAME_COUNT (sizeof NETSTACK_COUNTER_NAMES / sizeof NETSTACK_COUNTER_NAMES[0])

/* ---- EAL ---- */

struct eal_arguments {
    char text[CONFIG_DPDK_EAL_ARGS_BYTES_MAX];
    char *argv[DPDK_EAL_ARGUMENTS_MAX + 1];
    int argc;
};

static bool eal_has_argument(const struct eal_arguments *arguments, const char *prefix)
{
    for (int index = 1; index < arguments->argc; index++) {
        if (strncmp(arguments->argv[index], prefix, strlen(prefix)) == 0) {
            return true;
        }
    }
    return false;
}

static bool eal_add(struct eal_arguments *arguments, char *argument)
{
    if ((size_t)arguments->argc >= DPDK_EAL_ARGUMENTS_MAX) {
        return false;
    }
    arguments->argv[arguments->argc++] = argument;
    arguments->argv[arguments->argc] = NULL;
    return true;
}

/* argv from the space-separated string: "cheetah-server" first; then,
 * unless the string says otherwise, what keeps parallel servers apart (no
 * shared files in /var/run/dpdk, whose lock a second primary process would
 * find taken): --in-memory, or with --no-huge (which EAL runs in legacy
 * memory mode, which --in-memory refuses) --no-shconf; and --no-telemetry
 * (mntr is where Cheetah's counters are). */
static bool eal_split(const char *eal_args, struct eal_arguments *arguments, char *error,
                      size_t error_bytes)
{
    static char program[] = "cheetah-server";
    static char in_memory[] = "--in-memory";
    static char no_shared_config[] = "--no-shconf";
    static char no_telemetry[] = "--no-telemetry";
    memset(arguments, 0, sizeof *arguments);
    if (strlen(eal_args) >= sizeof arguments->text) {
        snprintf(error, error_bytes, "cheetah.dpdk.eal_args is too long");
        return false;
    }
    strcpy(arguments->text, eal_args);
    eal_add(arguments, program);
    char *cursor = arguments->text;
    for (;;) {
        while (*cursor == ' ' || *cursor == '\t') {
            *cursor++ = '\0';
        }
        if (*cursor == '\0') {
            break;
        }
        if (!eal_add(arguments, cursor)) {
            snprintf(error, error_bytes,
                     "cheetah.dpdk.eal_args has more than %u arguments: expected fewer",
                     DPDK_EAL_ARGUMENTS_MAX - 3u);
            return false;
        }
        while (*cursor != '\0' && *cursor != ' ' && *cursor != '\t') {
            cursor++;
        }
    }
    bool shared_files = eal_has_argument(arguments, "--file-prefix") ||
                        eal_has_argument(arguments, "--proc-type");
    bool private_files = eal_has_argument(arguments, "--in-memory") ||
                         eal_has_argument(arguments, "--no-shconf");
    char *keep_apart = eal_has_argument(arguments, "--no-huge") ? no_shared_config : in_memory;
    if ((!private_files && !shared_files && !eal_add(arguments, keep_apart)) ||
        (!eal_has_argument(arguments, "--no-telemetry") &&
         !eal_has_argument(arguments, "--telemetry") && !eal_add(arguments, no_telemetry))) {
        snprintf(error, error_bytes, "cheetah.dpdk.eal_args has too many arguments");
        return false;
    }
    return true;
}

/* Writes EAL's log text into `excerpt` (its last lines if long) and into
 * our log, one line each. */
static void eal_log_relay(const char *text, size_t size, char *excerpt, size_t excerpt_bytes)
{
    const char *line = text;
    const char *end = text + size;
    while (line < end) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        size_t length = newline ? (size_t)(newline - line) : (size_t)(end - line);
        if (length > 0) {
            log_info("dpdk: %.*s", (int)length, line);
        }
        line += length + 1;
    }
    size_t keep = size < excerpt_bytes - 1 ? size : excerpt_bytes - 1;
    memcpy(excerpt, end - keep, keep);
    excerpt[keep] = '\0';
    for (char *cursor = excerpt; *cursor != '\0'; cursor++) {
        if (*cursor == '\n') {
            *cursor = *(cursor + 1) == '\0' ? '\0' : ' ';
        }
    }
}

static const char *eal_hint(const char *log_text)
{
    if (geteuid() != 0) {
        return "DPDK needs root (it opens /dev/net/tun, hugepages and devices): run as root";
    }
    if (strstr(log_text, "hugepage") != NULL || strstr(log_text, "Hugepage") != NULL) {
        return "no usable hugepages: add --no-huge -m 256 to cheetah.dpdk.eal_args, or reserve "
               "hugepages (echo 512 > /proc/sys/vm/nr_hugepages)";
    }
    if (strstr(log_text, "Invalid 'command line' arguments") != NULL) {
        return "EAL refused an argument (its usage text went to standard output; its reason "
               "is above)";
    }
    return "check cheetah.dpdk.eal_args (for a tap on this machine: --no-huge --no-pci -m 256 "
           "--vdev=net_tap0,iface=<name> -l 0)";
}

static bool eal_init(const char *eal_args, char *error, size_t error_bytes)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&eal_used, &expected, true)) {
        snprintf(error, error_bytes,
                 "DPDK's EAL was already initialised in this process: one DPDK port per process");
        return false;
    }
    struct eal_arguments *arguments = malloc(sizeof *arguments);
    if (!arguments) {
        snprintf(error, error_bytes, "out of memory for the EAL arguments");
        return false;
    }
    if (!eal_split(eal_args, arguments, error, error_bytes)) {
        free(arguments);
        return false;
    }
    /* rte_eal_init pins the calling thread to the main lcore, and threads
     * started later inherit that: give the main thread its CPUs back. */
    cpu_set_t cpus;
    bool have_cpus = pthread_getaffinity_np(pthread_self(), sizeof cpus, &cpus) == 0;
    /* EAL's own lines go to a buffer, so a failure can say what EAL said. */
    char *log_text = NULL;
    size_t log_size = 0;
    FILE *log_stream = open_memstream(&log_text, &log_size);
    if (log_stream) {
        rte_openlog_stream(log_stream);
    }
    int argc = arguments->argc;
    int parsed = rte_eal_init(argc, arguments->argv);
    int eal_error = rte_errno;
    rte_openlog_stream(stderr);
    char excerpt[DPDK_EAL_LOG_EXCERPT_BYTES] = "";
    if (log_stream) {
        fclose(log_stream);
        eal_log_relay(log_text ? log_text : "", log_text ? log_size : 0, excerpt,
                      sizeof excerpt);
    }
    if (have_cpus) {
        pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
    }
    bool ok = parsed >= 0;
    if (!ok) {
        snprintf(error, error_bytes,
                 "DPDK's EAL did not start (cheetah.dpdk.eal_args = '%s'): %s; EAL said: "
                 "'%s'; %s",
                 eal_args, rte_strerror(eal_error), excerpt[0] ? excerpt : "nothing",
                 eal_hint(log_text ? log_text : ""));
    } else if (parsed + 1 < argc) {
        /* EAL stops at "--": what follows is the application's, and
         * Cheetah takes no arguments there. */
        snprintf(error, error_bytes,
                 "cheetah.dpdk.eal_args has arguments EAL did not take ('%s' and after): "
                 "expected EAL options only",
                 arguments->argv[parsed + 1]);
        rte_eal_cleanup();
        ok = false;
    } else {
        log_info("dpdk: EAL started with '%s' (Cheetah adds --in-memory, or --no-shconf with "
                 "--no-huge, and --no-telemetry, unless given)",
                 eal_args);
    }
    free(log_text);
    free(arguments);
    return ok;
}

/* ---- the port ---- */

static bool create_pools(struct dpdk_port *port, int socket_id, char *error, size_t error_bytes)
{
    uint32_t data_room = port->frame_bytes_max;
    uint32_t cache_size = DPDK_MBUF_CACHE_SIZE;
    while (cache_size > 1 && (uint64_t)cache_size * 3u > (uint64_t)port->settings.mbuf_pool_size * 2u) {
        cache_size /= 2;
    }
    for (uint32_t queue = 0; queue < port->queue_count; queue++) {
        char name[DPDK_NAME_BYTES];
        snprintf(name, sizeof name, "chmbufs_%u", queue);
        port->pools[queue] = rte_pktmbuf_pool_create(
            name, port->settings.mbuf_pool_size, cache_size, 0,
            (uint16_t)(RTE_PKTMBUF_HEADROOM + data_room), socket_id);
        if (!port->pools[queue]) {
            snprintf(error, error_bytes,
                     "cannot make shard %u's pool of %u mbufs (cheetah.dpdk.mbuf_pool_size): "
                     "%s: give EAL more memory (-m <MB> in cheetah.dpdk.eal_args) or lower "
                     "cheetah.dpdk.mbuf_pool_size",
                     queue, port->settings.mbuf_pool_size, rte_strerror(rte_errno));
            return false;
        }
    }
    return true;
}

static bool create_steer_rings(struct dpdk_port *port, int socket_id, char *error,
                               size_t error_bytes)
{
    uint32_t count = port->queue_count;
    port->steer_rings = calloc((size_t)count * count, sizeof *port->steer_rings);
    if (!port->steer_rings) {
        snprintf(error, error_bytes, "out of memory for the steering rings");
        return false;
    }
    for (uint32_t to = 0; to < count; to++) {
        for (uint32_t from = 0; from < count; from++) {
            if (to == from) {
                continue;
            }
            char name[DPDK_NAME_BYTES];
            snprintf(name, sizeof name, "chsteer_%u_%u", from, to);
            struct rte_ring *ring = rte_ring_create(name, DPDK_STEER_RING_FRAMES, socket_id,
                                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (!ring) {
                snprintf(error, error_bytes, "cannot make the steering ring %s: %s", name,
                         rte_strerror(rte_errno));
                return false;
            }
            port->steer_rings[to * count + from] = ring;
        }
    }
    return true;
}

/* Fills the port's redirection table with i % queues: the table
 * netstack_steer assumes. */
static bool program_reta(struct dpdk_port *port, uint16_t reta_size)
{
    size_t groups = (reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
    struct rte_eth_rss_reta_entry64 *table = calloc(groups, sizeof *table);
    if (!table) {
        return false;
    }
    for (uint32_t entry = 0; entry < reta_size; entry++) {
        struct rte_eth_rss_reta_entry64 *group = &table[entry / RTE_ETH_RETA_GROUP_SIZE];
        group->mask |= 1ull << (entry % RTE_ETH_RETA_GROUP_SIZE);
        group->reta[entry % RTE_ETH_RETA_GROUP_SIZE] = (uint16_t)(entry % port->queue_count);
    }
    int status = rte_eth_dev_rss_reta_update(port->port_id, table, reta_size);
    free(table);
    if (status != 0) {
        log_warn("dpdk: port %u: cannot program its RSS redirection table (%s): steering in "
                 "software only",
                 port->port_id, rte_strerror(-status));
        return false;
    }
    return true;
}

static int configure_port(struct dpdk_port *port, const struct rte_eth_dev_info *info,
                          uint64_t rx_offloads, uint64_t tx_offloads, bool with_rss,
                          uint8_t *rss_key)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    conf.rxmode.mtu = port->settings.mtu;
    conf.rxmode.offloads = rx_offloads;
    conf.txmode.offloads = tx_offloads;
    if (with_rss) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = rss_key;
        conf.rx_adv_conf.rss_conf.rss_key_len = info->hash_key_size;
        conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_NONFRAG_IPV4_TCP;
    }
    return rte_eth_dev_configure(port->port_id, (uint16_t)port->queue_count,
                                 (uint16_t)port->queue_count, &conf);
}

static bool set_up_port(struct dpdk_port *port, char *error, size_t error_bytes)
{
    const struct dpdk_port_settings *settings = &port->settings;
    uint16_t available = rte_eth_dev_count_avail();
    if (available == 0) {
        snprintf(error, error_bytes,
                 "DPDK found no Ethernet port: add a virtual one to cheetah.dpdk.eal_args "
                 "(--vdev=net_tap0,iface=<name> makes a tap) or bind a NIC to vfio-pci");
        return false;
    }
    uint16_t port_id = RTE_MAX_ETHPORTS;
    uint16_t seen = 0;
    uint16_t candidate;
    RTE_ETH_FOREACH_DEV(candidate)
    {
        if (seen++ == settings->port_index) {
            port_id = candidate;
            break;
        }
    }
    if (port_id == RTE_MAX_ETHPORTS) {
        snprintf(error, error_bytes,
                 "cheetah.dpdk.port = %u but DPDK found %u port(s): expected 0 to %u",
                 settings->port_index, available, available - 1u);
        return false;
    }
    port->port_id = port_id;
    struct rte_eth_dev_info info;
    int status = rte_eth_dev_info_get(port_id, &info);
    if (status != 0) {
        snprintf(error, error_bytes, "cannot read port %u's capabilities: %s", port_id,
                 rte_strerror(-status));
        return false;
    }
    if (port->queue_count > info.max_rx_queues || port->queue_count > info.max_tx_queues) {
        snprintf(error, error_bytes,
                 "port %u (%s) has %u RX and %u TX queues but cheetah.shards = %u needs one "
                 "pair per shard: lower cheetah.shards",
                 port_id, info.driver_name, info.max_rx_queues, info.max_tx_queues,
                 port->queue_count);
        return false;
    }
    /* The largest MTU: the port's, and what its largest frame leaves
     * after the overhead ethdev counts (as rte_eth_dev_configure does). */
    uint32_t overhead = info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu
                            ? info.max_rx_pktlen - info.max_mtu
                            : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
    uint32_t mtu_max = info.max_rx_pktlen > overhead ? info.max_rx_pktlen - overhead : 0;
    if (mtu_max > info.max_mtu) {
        mtu_max = info.max_mtu;
    }
    if (settings->mtu > mtu_max || settings->mtu < info.min_mtu) {
        snprintf(error, error_bytes,
                 "cheetah.dpdk.mtu = %u is outside port %u's (%s) range: expected %u to %u",
                 settings->mtu, port_id, info.driver_name, info.min_mtu, mtu_max);
        return false;
    }
    /* One single-segment mbuf holds a whole frame (no scatter). */
    uint32_t frame_room = settings->mtu + DPDK_FRAME_OVERHEAD_BYTES;
    port->frame_bytes_max = RTE_MBUF_DEFAULT_DATAROOM > frame_room ? RTE_MBUF_DEFAULT_DATAROOM
                                                                   : frame_room;
    /* Checksums both ways where the port has them; TSO only when one mbuf
     * can hold more than a segment (the pools are single-segment). */
    uint64_t rx_wanted = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
    uint64_t rx_offloads = info.rx_offload_capa & rx_wanted;
    port->rx_checksum_offload = rx_offloads == rx_wanted;
    if (!port->rx_checksum_offload) {
        rx_offloads = 0;
    }
    uint64_t tx_offloads = 0;
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
        tx_offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
        port->tx_offload_flags |= NETSTACK_TX_IPV4_CHECKSUM;
    }
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
        tx_offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
        port->tx_offload_flags |= NETSTACK_TX_TCP_CHECKSUM;
    }
    uint32_t segment_bytes = (uint32_t)settings->mtu - DPDK_IPV4_TCP_HEADERS_BYTES_MIN;
    uint32_t both_checksums = NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM;
    /* net_tap's TSO is software segmentation in the PMD that counts the
     * Ethernet header against the MTU: it refuses MSS-sized segments
     * (seen here: every TSO frame came back from tx_burst). */
    bool tso_trusted = strcmp(info.driver_name, "net_tap") != 0;
    if (tso_trusted && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO) &&
        (port->tx_offload_flags & both_checksums) == both_checksums &&
        port->frame_bytes_max >= DPDK_HEADERS_BYTES_MAX + 2u * segment_bytes) {
        tx_offloads |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
        port->tx_offload_flags |= NETSTACK_TX_TCP_SEGMENT;
        port->tso_bytes_max = port->frame_bytes_max - DPDK_HEADERS_BYTES_MAX;
    }
    /* RSS on the TCP/IPv4 4-tuple with our key and table, where the port
     * has it; the key is padded with zeros to the port's length (the
     * 4-tuple's hash uses only its first 16 bytes). */
    bool want_rss = port->queue_count > 1 &&
                    (info.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0 &&
                    info.reta_size > 0 && (info.reta_size & (info.reta_size - 1u)) == 0 &&
                    info.hash_key_size >= NETSTACK_RSS_KEY_BYTES;
    uint8_t *rss_key = NULL;
    if (want_rss) {
        rss_key = calloc(1, info.hash_key_size);
        if (!rss_key) {
            snprintf(error, error_bytes, "out of memory for the RSS key");
            return false;
        }
        memcpy(rss_key, NETSTACK_RSS_KEY, NETSTACK_RSS_KEY_BYTES);
    }
    status = configure_port(port, &info, rx_offloads, tx_offloads, want_rss, rss_key);
    if (status != 0 && want_rss) {
        log_warn("dpdk: port %u (%s) refused RSS (%s): steering in software", port_id,
                 info.driver_name, rte_strerror(-status));
        want_rss = false;
        status = configure_port(port, &info, rx_offloads, tx_offloads, false, NULL);
    }
    free(rss_key);
    if (status != 0) {
        snprintf(error, error_bytes, "cannot configure port %u (%s) with %u queue pair(s): %s",
                 port_id, info.driver_name, port->queue_count, rte_strerror(-status));
        return false;
    }
    port->configured = true;
    uint16_t rx_descriptors = settings->rx_descriptors;
    uint16_t tx_descriptors = settings->tx_descriptors;
    status = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_descriptors, &tx_descriptors);
    if (status != 0) {
        snprintf(error, error_bytes, "port %u: cannot use %u RX / %u TX descriptors: %s",
                 port_id, settings->rx_descriptors, settings->tx_descriptors,
                 rte_strerror(-status));
        return false;
    }
    int socket_id = rte_eth_dev_socket_id(port_id);
    if (socket_id < 0) {
        socket_id = (int)SOCKET_ID_ANY;
    }
    if (!create_pools(port, socket_id, error, error_bytes) ||
        (port->queue_count > 1 && !create_steer_rings(port, socket_id, error, error_bytes))) {
        return false;
    }
    for (uint32_t queue = 0; queue < port->queue_count; queue++) {
        struct rte_eth_rxconf rx_conf = info.default_rxconf;
        rx_conf.offloads = rx_offloads;
        struct rte_eth_txconf tx_conf = info.default_txconf;
        tx_conf.offloads = tx_offloads;
        status = rte_eth_rx_queue_setup(port_id, (uint16_t)queue, rx_descriptors, (unsigned)socket_id,
                                        &rx_conf, port->pools[queue]);
        if (status == 0) {
            status = rte_eth_tx_queue_setup(port_id, (uint16_t)queue, tx_descriptors,
                                            (unsigned)socket_id, &tx_conf);
        }
        if (status != 0) {
            snprintf(error, error_bytes, "port %u: cannot set up queue pair %u: %s", port_id,
                     queue, rte_strerror(-status));
            return false;
        }
    }
    status = rte_eth_dev_set_mtu(port_id, settings->mtu);
    if (status != 0 && !(status == -ENOTSUP && settings->mtu == RTE_ETHER_MTU)) {
        snprintf(error, error_bytes, "port %u: cannot set the MTU to %u (cheetah.dpdk.mtu): %s",
                 port_id, settings->mtu, rte_strerror(-status));
        return false;
    }
    status = rte_eth_dev_start(port_id);
    if (status != 0) {
        snprintf(error, error_bytes, "cannot start port %u (%s): %s", port_id, info.driver_name,
                 rte_strerror(-status));
        return false;
    }
    port->started = true;
    port->hardware_rss = want_rss && program_reta(port, info.reta_size);
    port->reta_entries = port->hardware_rss ? info.reta_size : DPDK_SOFTWARE_RETA_ENTRIES;
    struct rte_ether_addr mac;
    status = rte_eth_macaddr_get(port_id, &mac);
    if (status != 0) {
        snprintf(error, error_bytes, "cannot read port %u's MAC address: %s", port_id,
                 rte_strerror(-status));
        return false;
    }
    if (rte_is_zero_ether_addr(&mac)) {
        /* A port with no address of its own (net_ring: in-memory rings, no
         * filter): the netstack needs a unicast one, so make a locally
         * administered address; the port is told where it can be. */
        rte_eth_random_addr(mac.addr_bytes);
        status = rte_eth_dev_default_mac_addr_set(port_id, &mac);
        log_info("dpdk: port %u (%s) has no MAC address: using a random local one%s",
                 port_id, info.driver_name, status == 0 ? "" : " (the port cannot store it)");
    }
    memcpy(port->mac, mac.addr_bytes, NETSTACK_MAC_BYTES);
    status = rte_eth_dev_set_link_up(port_id);
    if (status != 0 && status != -ENOTSUP) {
        log_warn("dpdk: port %u: cannot set the link up: %s", port_id, rte_strerror(-status));
    }
    log_info("dpdk: port %u (%s) MAC %02x:%02x:%02x:%02x:%02x:%02x, %u RX/TX queue pair(s) "
             "(one per shard), %u/%u descriptors, %u mbufs of %u bytes per shard, MTU %u; "
             "offloads offered rx 0x%" PRIx64 " tx 0x%" PRIx64 ", used rx 0x%" PRIx64
             " tx 0x%" PRIx64 "; steering: %s",
             port_id, info.driver_name, mac.addr_bytes[0], mac.addr_bytes[1], mac.addr_bytes[2],
             mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5], port->queue_count,
             rx_descriptors, tx_descriptors, settings->mbuf_pool_size, port->frame_bytes_max,
             settings->mtu, info.rx_offload_capa, info.tx_offload_capa, rx_offloads,
             tx_offloads,
             port->queue_count == 1 ? "one shard, none needed"
             : port->hardware_rss   ? "RSS in the port (our key and table) and in software"
                                    : "in software (the port has no usable RSS)");
    return true;
}

struct dpdk_port *dpdk_port_create(const struct dpdk_port_settings *settings, char *error,
                                   size_t error_bytes)
{
    if (settings->queue_count == 0 || settings->queue_count > DPDK_QUEUES_MAX) {
        snprintf(error, error_bytes,
                 "cheetah.shards = %u: the DPDK transport serves 1 to %u shards per port",
                 settings->queue_count, DPDK_QUEUES_MAX);
        return NULL;
    }
    struct dpdk_port *port = calloc(1, sizeof *port);
    if (!port) {
        snprintf(error, error_bytes, "out of memory");
        return NULL;
    }
    port->settings = *settings;
    port->settings.eal_args = NULL; /* not kept: the caller's string */
    port->queue_count = settings->queue_count;
    port->published = calloc(port->queue_count, sizeof *port->published);
    if (!port->published) {
        free(port);
        snprintf(error, error_bytes, "out of memory");
        return NULL;
    }
    struct signal_handlers *handlers_before = malloc(sizeof *handlers_before);
    if (!handlers_before) {
        free(port->published);
        free(port);
        snprintf(error, error_bytes, "out of memory");
        return NULL;
    }
    signal_handlers_read(handlers_before);
    if (!eal_init(settings->eal_args, error, error_bytes)) {
        free(handlers_before);
        free(port->published);
        free(port);
        return NULL;
    }
    bool ok = (after_eal_hook == NULL ||
               after_eal_hook(after_eal_context, port, error, error_bytes) == 0) &&
              set_up_port(port, error, error_bytes);
    block_driver_signals(handlers_before);
    free(handlers_before);
    if (!ok) {
        dpdk_port_destroy(port);
        return NULL;
    }
    return port;
}

static void drain_ring(struct rte_ring *ring)
{
    void *frames[32];
    unsigned got;
    /* Bounded: the ring holds at most DPDK_STEER_RING_FRAMES and nobody adds now. */
    for (uint32_t round = 0; round <= DPDK_STEER_RING_FRAMES / 32u &&
                             (got = rte_ring_dequeue_burst(ring, frames, 32, NULL)) > 0;
         round++) {
        rte_pktmbuf_free_bulk((struct rte_mbuf **)frames, got);
    }
}

void dpdk_port_destroy(struct dpdk_port *port)
{
    if (!port) {
        return;
    }
    if (port->started) {
        int status = rte_eth_dev_stop(port->port_id);
        if (status != 0) {
            log_warn("dpdk: port %u did not stop: %s", port->port_id, rte_strerror(-status));
        }
    }
    if (port->configured) {
        rte_eth_dev_close(port->port_id);
    }
    if (port->steer_rings) {
        for (size_t index = 0; index < (size_t)port->queue_count * port->queue_count; index++) {
            if (port->steer_rings[index]) {
                drain_ring(port->steer_rings[index]);
                rte_ring_free(port->steer_rings[index]);
            }
        }
        free(port->steer_rings);
    }
    for (uint32_t queue = 0; queue < port->queue_count; queue++) {
        rte_mempool_free(port->pools[queue]);
    }
    int status = rte_eal_cleanup();
    if (status != 0) {
        log_warn("dpdk: EAL cleanup failed: %s", rte_strerror(-status));
    }
    free(port->published);
    free(port);
}

/* ---- accessors ---- */

uint16_t dpdk_port_id(const struct dpdk_port *port)
{
    return port->port_id;
}

uint32_t dpdk_port_queue_count(const struct dpdk_port *port)
{
    return port->queue_count;
}

uint32_t dpdk_port_reta_entries(const struct dpdk_port *port)
{
    return port->reta_entries;
}

struct rte_mempool *dpdk_port_pool(const struct dpdk_port *port, uint32_t queue)
{
    assert(queue < port->queue_count);
    return port->pools[queue];
}

struct rte_ring *dpdk_port_steer_ring(const struct dpdk_port *port, uint32_t from, uint32_t to)
{
    assert(from < port->queue_count && to < port->queue_count && from != to);
    return port->steer_rings[to * port->queue_count + from];
}

uint32_t dpdk_port_frame_bytes_max(const struct dpdk_port *port)
{
    return port->frame_bytes_max;
}

bool dpdk_port_rx_checksum_offload(const struct dpdk_port *port)
{
    return port->rx_checksum_offload;
}

void dpdk_port_netstack_config(const struct dpdk_port *port, struct netstack_config *config)
{
    netstack_config_defaults(config);
    memcpy(config->mac, port->mac, NETSTACK_MAC_BYTES);
    config->ipv4_address = port->settings.ipv4_address;
    config->ipv4_netmask = port->settings.ipv4_netmask;
    config->ipv4_gateway = port->settings.ipv4_gateway;
    config->mtu = port->settings.mtu;
    config->tx_offload_flags = port->tx_offload_flags;
    config->tso_bytes_max = port->tso_bytes_max;
    if (port->settings.syn_backlog > 0) {
        config->syn_backlog_max = port->settings.syn_backlog;
    }
    if (port->settings.keepalive_idle_ms >= 0) {
        config->keepalive_idle_ms = (uint32_t)port->settings.keepalive_idle_ms;
    }
}

void dpdk_port_set_kick(struct dpdk_port *port, uint32_t queue, dpdk_port_kick_fn *kick,
                        void *context)
{
    assert(queue < port->queue_count);
    port->kicks[queue] = kick;
    port->kick_contexts[queue] = context;
}

void dpdk_port_kick(const struct dpdk_port *port, uint32_t queue)
{
    assert(queue < port->queue_count);
    if (port->kicks[queue]) {
        port->kicks[queue](port->kick_contexts[queue]);
    }
}

int dpdk_port_thread_start(void)
{
    if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0) {
        return rte_errno > 0 ? -rte_errno : -EINVAL;
    }
    /* The idle sleeps are 10 us steps: Linux's default 50 us timer slack
     * would stretch each to 60-80 us (a ring port or a NIC cannot end them
     * early), which the in-memory benchmark showed as a third less
     * throughput at 16x8. */
    if (prctl(PR_SET_TIMERSLACK, DPDK_SHARD_TIMER_SLACK_NS, 0, 0, 0) != 0) {
        return -errno;
    }
    int status = pthread_sigmask(SIG_UNBLOCK, &driver_signals, NULL);
    return status == 0 ? 0 : -status;
}

/* ---- counters ---- */

void dpdk_port_publish_counters(struct dpdk_port *port, uint32_t queue,
                                const uint64_t transport[DPDK_COUNTER_COUNT],
                                const struct netstack_counters *netstack)
{
    assert(queue < port->queue_count);
    struct dpdk_published *published = &port->published[queue];
    for (size_t index = 0; index < DPDK_COUNTER_COUNT; index++) {
        atomic_store_explicit(&published->transport[index], transport[index],
                              memory_order_relaxed);
    }
    uint64_t words[NETSTACK_COUNTER_WORDS];
    memcpy(words, netstack, sizeof words);
    for (size_t index = 0; index < NETSTACK_COUNTER_WORDS; index++) {
        atomic_store_explicit(&published->netstack[index], words[index], memory_order_relaxed);
    }
}

static uint64_t netstack_word(const struct dpdk_published *published, size_t offset)
{
    return atomic_load_explicit(&published->netstack[offset / sizeof(uint64_t)],
                                memory_order_relaxed);
}

size_t dpdk_port_metrics(const struct dpdk_port *port, struct dpdk_metric *metrics,
                         size_t metrics_max)
{
    size_t count = 0;
    for (size_t index = 0; index < DPDK_COUNTER_COUNT && count < metrics_max; index++) {
        uint64_t sum = 0;
        for (uint32_t queue = 0; queue < port->queue_count; queue++) {
            sum += atomic_load_explicit(&port->published[queue].transport[index],
                                        memory_order_relaxed);
        }
        snprintf(metrics[count].name, sizeof metrics[count].name, "dpdk_%s",
                 TRANSPORT_COUNTER_NAMES[index]);
        metrics[count++].value = (int64_t)sum;
    }
    for (size_t index = 0; index < NETSTACK_COUNTER_NAME_COUNT && count < metrics_max; index++) {
        uint64_t sum = 0;
        for (uint32_t queue = 0; queue < port->queue_count; queue++) {
            sum += netstack_word(&port->published[queue], NETSTACK_COUNTER_NAMES[index].offset);
        }
        snprintf(metrics[count].name, sizeof metrics[count].name, "dpdk_%s",
                 NETSTACK_COUNTER_NAMES[index].name);
        metrics[count++].value = (int64_t)sum;
    }
    /* Per shard: which shards the connections went to (steering at work). */
    for (uint32_t queue = 0; queue < port->queue_count && count < metrics_max; queue++) {
        snprintf(metrics[count].name, sizeof metrics[count].name,
                 "dpdk_shard%u_tcp_connections_opened", queue);
        metrics[count++].value = (int64_t)netstack_word(
            &port->published[queue], offsetof(struct netstack_counters, tcp_connections_opened));
    }
    return count;
}
