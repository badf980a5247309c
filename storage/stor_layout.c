/*
 * Key classification for Quay's and the integrated registry's layouts. Pure
 * string checks, no allocation: called once per listed key.
 */
#include "stor_layout.h"

#include <string.h>

#include "stor_backend.h"

#define QUAY_ROOT     "sha256/"
#define REGISTRY_V2   "docker/registry/v2/"
#define REGISTRY_ROOT "docker/registry/v2/blobs/sha256/"

int stor_layout_parse(const char *name, enum stor_layout *out)
{
    static const char *const names[] = {"auto", "quay", "registry", "plain"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum stor_layout)i;
            return 0;
        }
    }
    return STOR_EARG;
}

const char *stor_layout_name(enum stor_layout l)
{
    switch (l) {
    case STOR_LAYOUT_QUAY:
        return "quay";
    case STOR_LAYOUT_REGISTRY:
        return "registry";
    case STOR_LAYOUT_PLAIN:
        return "plain";
    default:
        return "auto";
    }
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

static int hexval2(const char *s)
{
    int v = 0;
    for (int i = 0; i < 2; i++)
        v = v * 16 + (s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
    return v;
}

/* "<xx>/<64 hex><tail>" where the digest begins with xx. */
static int fanout_digest(const char *p, const char *tail, char *digest, int *xx)
{
    if (!is_lower_hex(p, 2) || p[2] != '/' || strlen(p + 3) != 64 + strlen(tail) ||
        !is_lower_hex(p + 3, 64) || strcmp(p + 3 + 64, tail) != 0 || memcmp(p, p + 3, 2) != 0)
        return 0;
    if (digest) {
        memcpy(digest, p + 3, 64);
        digest[64] = '\0';
    }
    if (xx)
        *xx = hexval2(p);
    return 1;
}

enum stor_key_class stor_layout_classify(enum stor_layout l, const char *key, char *digest, int *xx)
{
    if (l == STOR_LAYOUT_PLAIN)
        return STOR_KEY_MUTABLE;
    if (l != STOR_LAYOUT_REGISTRY) {
        if (strncmp(key, "uploads/", 8) == 0)
            return STOR_KEY_SKIP;
        if (strncmp(key, QUAY_ROOT, strlen(QUAY_ROOT)) == 0 &&
            fanout_digest(key + strlen(QUAY_ROOT), "", digest, xx))
            return STOR_KEY_BLOB;
    }
    if (l != STOR_LAYOUT_QUAY && strncmp(key, REGISTRY_V2, strlen(REGISTRY_V2)) == 0) {
        if (strncmp(key, REGISTRY_ROOT, strlen(REGISTRY_ROOT)) == 0 &&
            fanout_digest(key + strlen(REGISTRY_ROOT), "/data", digest, xx))
            return STOR_KEY_BLOB;
        /* Upload sessions live under repositories/<name>/_uploads/. */
        if (strstr(key, "/_uploads/"))
            return STOR_KEY_SKIP;
    }
    return STOR_KEY_MUTABLE;
}

const char *stor_layout_blob_root(enum stor_layout l)
{
    switch (l) {
    case STOR_LAYOUT_QUAY:
    case STOR_LAYOUT_AUTO:
        return QUAY_ROOT;
    case STOR_LAYOUT_REGISTRY:
        return REGISTRY_ROOT;
    default:
        return NULL;
    }
}
