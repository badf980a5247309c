/*
 * Command-line flags shared by the subcommands that take named flags (run,
 * restore): "--name value" and "--name=value", as Go's flag package reads
 * them, with the same usage errors.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static int listed(const char *const *names, const char *name)
{
    for (size_t k = 0; names && names[k]; k++)
        if (strcmp(names[k], name) == 0)
            return 1;
    return 0;
}

int cmd_flag(const char *prog, int argc, char **argv, int *i, const char *const *valued,
             const char *const *switches, char *name, size_t cap, const char **val)
{
    const char *a = argv[*i], *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    *val = NULL;
    if (n >= cap || strncmp(a, "--", 2) != 0) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, a);
        return 2;
    }
    memcpy(name, a, n);
    name[n] = '\0';
    if (listed(switches, name)) {
        *val = eq ? eq + 1 : NULL;
        return 0;
    }
    if (!listed(valued, name)) {
        fprintf(stderr, "%s: unknown flag \"%s\"\n", prog, name);
        return 2;
    }
    if (eq) {
        *val = eq + 1;
    } else if (*i + 1 < argc) {
        *val = argv[++*i];
    } else {
        fprintf(stderr, "%s: %s needs a value\n", prog, name);
        return 2;
    }
    return 0;
}
