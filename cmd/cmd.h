/*
 * The subcommands of the quay-storage-operator binary. Each returns the
 * process exit status: 0 on success, 1 on failure, 2 on a usage error.
 */
#ifndef QSO_CMD_H
#define QSO_CMD_H

#include <stdio.h>

struct cmd_entry {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
};

int cmd_version(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_restore(int argc, char **argv);

#endif
