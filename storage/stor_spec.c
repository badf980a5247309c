/*
 * Storage specs: where a store is (`<scheme>://<bucket>[/<prefix>]?opts`, or
 * an absolute path), its non-secret options (spec query, then the
 * QSO_<SIDE>_<NAME> environment, then a file in a mounted ConfigMap), and its
 * secrets, which come only from the environment or from files in a mounted
 * Secret: never from the spec text, which ends up on command lines and in
 * Job arguments. Declared in stor_backend.h beside the backend interface
 * that embeds a copy of the spec.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor_backend.h"
#include "stor_internal.h"

/* Option names that smell of secrets are refused in the spec text: whatever
 * is in a spec ends up on a command line or in a Job's args. */
static int secret_like(const char *name)
{
    static const char *const words[] = {"secret", "password",   "passwd",  "token",
                                        "key",    "credential", "auth_key"};
    char lower[64];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof(lower); n++)
        lower[n] = (char)tolower((unsigned char)name[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(lower, words[i]))
            return 1;
    return 0;
}

int stor_spec_parse(const char *text, const char *env_prefix, struct stor_spec *out,
                    struct stor_error *err)
{
    int rc = 0;
    char *copy = NULL;
    memset(out, 0, sizeof(*out));
    if (!text || !*text)
        return stor_error_set(err, STOR_EARG, "empty storage spec");
    stor_strlcpy(out->env_prefix, env_prefix ? env_prefix : "", sizeof(out->env_prefix));
    copy = strdup(text);
    if (!copy)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");

    char *query = strchr(copy, '?');
    if (query)
        *query++ = '\0';
    const char *rest = copy;
    const char *sep = strstr(copy, "://");
    if (sep) {
        size_t sl = (size_t)(sep - copy);
        if (sl == 0 || sl >= sizeof(out->scheme)) {
            rc = stor_error_set(err, STOR_EARG, "bad scheme in storage spec");
            goto out;
        }
        memcpy(out->scheme, copy, sl);
        out->scheme[sl] = '\0';
        for (char *p = out->scheme; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        rest = sep + 3;
    } else if (copy[0] == '/') {
        stor_strlcpy(out->scheme, "file", sizeof(out->scheme));
    } else {
        rc = stor_error_set(err, STOR_EARG,
                            "storage spec \"%.200s\" is neither <scheme>://... nor an absolute "
                            "path",
                            copy);
        goto out;
    }

    if (strcmp(out->scheme, "file") == 0 || strcmp(out->scheme, "local") == 0) {
        stor_strlcpy(out->scheme, "file", sizeof(out->scheme));
        if (rest[0] != '/') {
            rc = stor_error_set(err, STOR_EARG, "a file spec needs an absolute path");
            goto out;
        }
        if (strlen(rest) >= sizeof(out->path)) {
            rc = stor_error_set(err, STOR_EARG, "path too long");
            goto out;
        }
        stor_strlcpy(out->path, rest, sizeof(out->path));
        size_t pl = strlen(out->path);
        while (pl > 1 && out->path[pl - 1] == '/')
            out->path[--pl] = '\0';
        snprintf(out->display, sizeof(out->display), "file://%.1100s", out->path);
    } else {
        size_t bl = strcspn(rest, "/");
        if (bl == 0 || bl >= sizeof(out->bucket)) {
            rc = stor_error_set(err, STOR_EARG, "storage spec \"%s://...\" has no bucket",
                                out->scheme);
            goto out;
        }
        memcpy(out->bucket, rest, bl);
        out->bucket[bl] = '\0';
        const char *pfx = rest + bl;
        while (*pfx == '/')
            pfx++;
        size_t pl = strlen(pfx);
        if (pl + 2 > sizeof(out->prefix)) {
            rc = stor_error_set(err, STOR_EARG, "prefix too long");
            goto out;
        }
        memcpy(out->prefix, pfx, pl);
        out->prefix[pl] = '\0';
        while (pl > 0 && out->prefix[pl - 1] == '/')
            out->prefix[--pl] = '\0';
        if (pl) {
            out->prefix[pl] = '/';
            out->prefix[pl + 1] = '\0';
        }
        snprintf(out->display, sizeof(out->display), "%s://%.200s/%.900s", out->scheme, out->bucket,
                 out->prefix);
    }

    for (char *kv = query; kv && *kv;) {
        char *next = strchr(kv, '&');
        if (next)
            *next++ = '\0';
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        if (*kv) {
            if (out->nopts >= STOR_SPEC_OPTS) {
                rc = stor_error_set(err, STOR_EARG, "too many options in storage spec");
                goto out;
            }
            if (secret_like(kv)) {
                rc = stor_error_set(err, STOR_EARG,
                                    "option \"%.60s\" looks like a secret: secrets come only from "
                                    "the environment (%s<NAME>) or %sCREDENTIALS_DIR files",
                                    kv, out->env_prefix, out->env_prefix);
                goto out;
            }
            struct stor_kv *o = &out->opts[out->nopts++];
            stor_strlcpy(o->name, kv, sizeof(o->name));
            stor_strlcpy(o->value, eq ? eq : "", sizeof(o->value));
            if (stor_uri_decode(o->value)) {
                rc = stor_error_set(err, STOR_EARG, "bad escape in option \"%s\"", o->name);
                goto out;
            }
        }
        kv = next;
    }
out:
    free(copy);
    return rc;
}

static void env_name(const struct stor_spec *spec, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(spec->env_prefix);
    stor_strlcpy(buf, spec->env_prefix, cap);
    for (size_t i = 0; name[i] && n + 1 < cap; i++, n++)
        buf[n] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    if (n < cap)
        buf[n] = '\0';
}

/* Reads a small file (a mounted Secret/ConfigMap key): 1 found, 0 absent. */
static int read_small_file(const char *dir, const char *name, char *buf, size_t cap,
                           struct stor_error *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return stor_error_set(err, STOR_ECONFIG, "cannot read %s: %s", path, strerror(errno));
    }
    size_t n = fread(buf, 1, cap - 1, f);
    int full = n == cap - 1 && fgetc(f) != EOF;
    fclose(f);
    if (full)
        return stor_error_set(err, STOR_ECONFIG, "%s is larger than %zu bytes", path, cap - 1);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 1;
}

int stor_spec_opt(const struct stor_spec *spec, const char *name, char *buf, size_t cap,
                  struct stor_error *err)
{
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < spec->nopts; i++) {
        if (strcmp(spec->opts[i].name, name) == 0) {
            stor_strlcpy(buf, spec->opts[i].value, cap);
            return 1;
        }
    }
    char var[128];
    env_name(spec, name, var, sizeof(var));
    const char *v = getenv(var);
    if (v) {
        stor_strlcpy(buf, v, cap);
        return 1;
    }
    env_name(spec, "CONFIG_DIR", var, sizeof(var));
    const char *dir = getenv(var);
    if (dir && *dir)
        return read_small_file(dir, name, buf, cap, err);
    return 0;
}

int stor_spec_secret(const struct stor_spec *spec, const char *name, char *buf, size_t cap,
                     struct stor_error *err)
{
    char var[128];
    env_name(spec, name, var, sizeof(var));
    const char *v = getenv(var);
    if (v) {
        if (strlen(v) >= cap)
            return stor_error_set(err, STOR_ECONFIG, "%s is too long", var);
        stor_strlcpy(buf, v, cap);
        return 1;
    }
    env_name(spec, "CREDENTIALS_DIR", var, sizeof(var));
    const char *dir = getenv(var);
    if (dir && *dir)
        return read_small_file(dir, name, buf, cap, err);
    return 0;
}
