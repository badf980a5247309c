/*
 * The subcommands of the quay-storage-operator binary. Each returns the
 * process exit status: 0 on success, 1 on failure, 2 on a usage error.
 */
#ifndef QSO_CMD_H
#define QSO_CMD_H

#include <stddef.h>
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

/*
 * One flag of `prog`'s command line at argv[*i], "--name value" or
 * "--name=value": its name into `name` and its value into *val. A flag in
 * `valued` takes a value (the next argument when there is no '=', *i
 * advanced); one in `switches` may stand alone (*val NULL) or carry "=value".
 * Returns 0, or 2 after telling stderr what is wrong (not a flag, unknown,
 * a value missing).
 */
int cmd_flag(const char *prog, int argc, char **argv, int *i, const char *const *valued,
             const char *const *switches, char *name, size_t cap, const char **val);

#endif
