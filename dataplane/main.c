/* cheetah-server [zoo.cfg]: a ZooKeeper-compatible server.
 *
 * With no argument it serves 127.0.0.1:2181 with its data in ./data. With a
 * zoo.cfg it reads ZooKeeper's keys unchanged; unknown keys are logged and a
 * bad value stops startup with a message that names the key. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/config.h"
#include "dataplane/log.h"
#include "dataplane/server.h"

#define MAIN_ERROR_BYTES 1024

static struct server *running_server;

static void on_stop_signal(int signal_number)
{
    (void)signal_number;
    if (running_server) {
        server_request_stop(running_server);
    }
}

static void warn_config(void *context, const char *message)
{
    (void)context;
    log_warn("%s", message);
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: cheetah-server [zoo.cfg]\n"
            "  Serves ZooKeeper clients. Without a file: 127.0.0.1:2181, data in ./data.\n"
            "  With a file: ZooKeeper's zoo.cfg keys (tickTime, dataDir, clientPort, ...).\n");
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        print_usage(argc > 2 ? stderr : stdout);
        return argc > 2 ? 2 : 0;
    }
    char error[MAIN_ERROR_BYTES] = "";
    struct cheetah_config config;
    config_defaults(&config);
    if (argc == 2 &&
        config_load_file(&config, argv[1], error, sizeof(error), warn_config, NULL) != 0) {
        log_error("invalid configuration: %s", error);
        return 1;
    }
    if (config_finish(&config, error, sizeof(error)) != 0) {
        log_error("invalid configuration: %s", error);
        return 1;
    }
    struct server *server = server_create(&config, error, sizeof(error));
    if (!server) {
        log_error("cannot start: %s", error);
        return 1;
    }
    running_server = server;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    int status = server_run(server);
    running_server = NULL;
    server_destroy(server);
    return status;
}
