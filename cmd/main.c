/*
 * main() of quay-storage-operator: the one binary, with subcommands.
 *
 * Each subcommand lives in its own cmd/<name>.c and is listed in the table
 * below; main() only initialises process-wide libraries (curl's global state is
 * the one process-global thing we allow) and dispatches.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct cmd_entry commands[] = {
    {"run", "run the operator (controllers, leader election, probes, metrics)", cmd_run},
    {"version", "print the version and the libraries in use", cmd_version},
    {"copy", "copy a registry's storage to another store (a copy Job's work)", cmd_copy},
    {"verify", "compare two stores: listings, and a sha256 sample of blobs", cmd_verify},
    {"restore", "put a registry's original configuration back (break-glass)", cmd_restore},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: quay-storage-operator <command> [flags]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "quay-storage-operator: curl_global_init failed\n");
            return 1;
        }
        int rc = commands[i].run(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "quay-storage-operator: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
