/* zoo.cfg.dynamic.<version>: the ensemble's membership on disk, as ZooKeeper
 * 3.8 keeps it for dynamic reconfiguration.
 *
 * Whenever a configuration becomes active (the first leader gives zoo.cfg's
 * servers a version; every committed reconfig), ZooKeeper writes it to disk
 * (QuorumPeer.setQuorumVerifier(qv, writeToDisk=true)) so that a restart of
 * the whole ensemble comes back with the last configuration:
 *
 *   zoo.cfg.dynamic.100000000   the server lines, sorted, no version line,
 *                               no trailing newline
 *   zoo.cfg.bak                 zoo.cfg as it was before the first rewrite
 *   zoo.cfg                     without server.N lines, ending with
 *                               dynamicConfigFile=<absolute path>
 *
 * config_load_file reads zoo.cfg's dynamicConfigFile= back (config.h).
 * Old dynamic files are never deleted (ZooKeeper does not either).
 */
#ifndef CHEETAH_DYNAMIC_CONFIG_H
#define CHEETAH_DYNAMIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Server lines in one configuration text (as CONFIG_SERVERS_MAX). */
#define DYNAMIC_CONFIG_LINES_MAX 255u

/* Persists the configuration `config_text` (QuorumMaj text: "server.N=<spec>\n"
 * lines and "version=<hex>", consensus/quorum_config.h) with version
 * `version`, next to the zoo.cfg at `static_config_path`:
 *   1. writes <static_config_path>.dynamic.<lowercase hex version>: the
 *      server lines sorted by bytes, joined by '\n', no version line, no
 *      trailing newline;
 *   2. the first time (zoo.cfg has no dynamicConfigFile line yet) copies
 *      zoo.cfg to <static_config_path>.bak, unless that file exists;
 *   3. rewrites zoo.cfg without its server.*, group*, weight*,
 *      dynamicConfigFile*, peerType* lines (and clientPort, clientPortAddress
 *      when `erase_client_address`: this server's own line in the new
 *      configuration has a client address), then appends
 *      dynamicConfigFile=<absolute path of the dynamic file>.
 * Every file is written atomically (<name>.tmp, fsync, rename, fsync of the
 * directory), the dynamic file first, so zoo.cfg never names a missing file.
 * Returns 0, or -1 with a message in `error` naming the file, what failed
 * (errno text) and what to do. */
int dynamic_config_persist(const char *static_config_path, const char *config_text,
                           int64_t version, bool erase_client_address, char *error,
                           size_t error_bytes);

#endif
