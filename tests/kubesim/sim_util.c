/*
 * Helpers shared by the simulator's modules (see sim_util.h). Nothing here
 * keeps state between calls except through the caller's own structs.
 */
#include "sim_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t sim_now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t sim_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sim_rfc3339(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int64_t sim_parse_rfc3339(const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20)
        return -1;
    if (parse_digits(s, 4, &y) || s[4] != '-' || parse_digits(s + 5, 2, &mo) || s[7] != '-' ||
        parse_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        parse_digits(s + 11, 2, &h) || s[13] != ':' || parse_digits(s + 14, 2, &mi) ||
        s[16] != ':' || parse_digits(s + 17, 2, &se))
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (int64_t)timegm(&tm);
}

void sim_age(int64_t seconds, char *buf, size_t cap)
{
    /* The shape of k8s.io/apimachinery's duration.HumanDuration, simplified. */
    if (seconds < 0)
        seconds = 0;
    if (seconds < 120)
        snprintf(buf, cap, "%llds", (long long)seconds);
    else if (seconds < 600)
        snprintf(buf, cap, "%lldm%llds", (long long)(seconds / 60), (long long)(seconds % 60));
    else if (seconds < 3 * 3600)
        snprintf(buf, cap, "%lldm", (long long)(seconds / 60));
    else if (seconds < 8 * 3600)
        snprintf(buf, cap, "%lldh%lldm", (long long)(seconds / 3600),
                 (long long)((seconds % 3600) / 60));
    else if (seconds < 48 * 3600)
        snprintf(buf, cap, "%lldh", (long long)(seconds / 3600));
    else
        snprintf(buf, cap, "%lldd", (long long)(seconds / 86400));
}

void sim_rng_seed(struct sim_rng *r)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s) || s == 0)
        s = (uint64_t)sim_mono_ms() * 2654435761u + 1;
    r->s = s;
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 2685821657736338717ull;
}

double sim_rng_double(struct sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) / 9007199254740992.0;
}

void sim_uuid(struct sim_rng *r, char out[37])
{
    unsigned char b[16];
    uint64_t a = sim_rng_next(r), c = sim_rng_next(r);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

int sim_random_alnum(char *out, size_t n)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[256];
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > sizeof(raw) ? sizeof(raw) : n - done;
        ssize_t got = getrandom(raw, want, 0);
        if (got <= 0)
            return -1;
        for (ssize_t i = 0; i < got; i++)
            out[done++] = alphabet[raw[i] % 36];
    }
    out[n] = '\0';
    return 0;
}

void sim_random_suffix(struct sim_rng *r, char *out, size_t n)
{
    /* The alphabet of k8s.io/apimachinery/pkg/util/rand.String (no vowels
     * and no confusable characters). */
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[sim_rng_next(r) % (sizeof(alphabet) - 1)];
    out[n] = '\0';
}

char *sim_b64_encode(const void *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

unsigned char *sim_b64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    unsigned char *out;
    int got;
    size_t pad = 0;
    if (n % 4 != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || (c == '=' && i >= n - 2)))
            return NULL;
    }
    out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    got = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
    if (got < 0) {
        free(out);
        return NULL;
    }
    if (n >= 1 && s[n - 1] == '=')
        pad++;
    if (n >= 2 && s[n - 2] == '=')
        pad++;
    *out_len = (size_t)got - pad;
    out[*out_len] = '\0';
    return out;
}

char *sim_b64url_encode(const void *data, size_t len)
{
    char *s = sim_b64_encode(data, len);
    size_t n;
    if (!s)
        return NULL;
    for (n = 0; s[n]; n++) {
        if (s[n] == '+')
            s[n] = '-';
        else if (s[n] == '/')
            s[n] = '_';
    }
    while (n > 0 && s[n - 1] == '=')
        s[--n] = '\0';
    return s;
}

cJSON *sim_jget(const cJSON *obj, ...)
{
    va_list ap;
    const char *key;
    const cJSON *cur = obj;
    va_start(ap, obj);
    while (cur && (key = va_arg(ap, const char *)) != NULL)
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
    va_end(ap);
    return (cJSON *)cur;
}

const char *sim_jstr(const cJSON *obj, ...)
{
    va_list ap;
    const char *key;
    const cJSON *cur = obj;
    va_start(ap, obj);
    while (cur && (key = va_arg(ap, const char *)) != NULL)
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
    va_end(ap);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

long sim_jnum(const cJSON *obj, long def, ...)
{
    va_list ap;
    const char *key;
    const cJSON *cur = obj;
    va_start(ap, def);
    while (cur && (key = va_arg(ap, const char *)) != NULL)
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
    va_end(ap);
    return cJSON_IsNumber(cur) ? (long)cur->valuedouble : def;
}

cJSON *sim_cond_find(const cJSON *conds, const char *type)
{
    cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = sim_jstr(c, "type", NULL);
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

cJSON *sim_jobj(cJSON *obj, const char *key)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsObject(m))
        return m;
    m = cJSON_CreateObject();
    if (!m)
        return NULL;
    if (sim_jset(obj, key, m) != 0)
        return NULL;
    return m;
}

int sim_jset(cJSON *obj, const char *key, cJSON *val)
{
    if (!val)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val)) {
            cJSON_Delete(val);
            return -1;
        }
        return 0;
    }
    if (!cJSON_AddItemToObject(obj, key, val)) {
        cJSON_Delete(val);
        return -1;
    }
    return 0;
}

int sim_jset_str(cJSON *obj, const char *key, const char *val)
{
    return sim_jset(obj, key, cJSON_CreateString(val));
}

int sim_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    int fd;
    const char *p = data;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

char *sim_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        size_t got;
        if (cap - n < 4096) {
            char *nb;
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void sim_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
