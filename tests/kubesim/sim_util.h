/*
 * Small helpers shared by the simulator's modules: time stamps in the API's
 * RFC 3339 form, a per-server pseudo-random generator (fault fractions, uids;
 * no process-global state), secure random tokens, base64, and cJSON path
 * accessors that keep the verb code short.
 */
#ifndef QSO_SIM_UTIL_H
#define QSO_SIM_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock seconds, and a monotonic clock in milliseconds for deadlines. */
int64_t sim_now_unix(void);
int64_t sim_mono_ms(void);

/* "2024-05-01T12:00:00Z" for `t` (seconds since the epoch). */
void sim_rfc3339(int64_t t, char buf[32]);
/* Parses the form above (and fractional seconds); -1 when malformed. */
int64_t sim_parse_rfc3339(const char *s);
/* A kubectl-like age: "5s", "3m12s", "4h", "2d". */
void sim_age(int64_t seconds, char *buf, size_t cap);

/* xorshift64* generator; each server owns one. */
struct sim_rng {
    uint64_t s;
};
void sim_rng_seed(struct sim_rng *r);
uint64_t sim_rng_next(struct sim_rng *r);
double sim_rng_double(struct sim_rng *r); /* [0, 1) */

/* RFC 4122 version 4 text form (36 chars + NUL). */
void sim_uuid(struct sim_rng *r, char out[37]);
/* `n` random lowercase alphanumerics from the kernel's CSPRNG (for secrets). */
int sim_random_alnum(char *out, size_t n);
/* `n` random lowercase consonant/digit characters as generateName uses. */
void sim_random_suffix(struct sim_rng *r, char *out, size_t n);

/* Standard base64 (with padding); return malloc'd NUL-terminated strings. */
char *sim_b64_encode(const void *data, size_t len);
/* NULL when the input is not valid base64; *out_len gets the decoded size. */
unsigned char *sim_b64_decode(const char *s, size_t *out_len);
/* URL-safe base64 without padding (JWT segments). */
char *sim_b64url_encode(const void *data, size_t len);

/* cJSON navigation: sim_jget(obj, "metadata", "name", NULL). NULL when absent. */
cJSON *sim_jget(const cJSON *obj, ...) __attribute__((sentinel));
/* The string at a path, or NULL when absent or not a string. */
const char *sim_jstr(const cJSON *obj, ...) __attribute__((sentinel));
/* The number at a path (truncated to long), or `def` when absent or not a number. */
long sim_jnum(const cJSON *obj, long def, ...) __attribute__((sentinel));
/* The condition of `type` in a status.conditions array, or NULL. */
cJSON *sim_cond_find(const cJSON *conds, const char *type);
/* Returns the object member `key` of `obj`, creating an empty object there
 * (replacing a non-object) when needed. NULL on allocation failure. */
cJSON *sim_jobj(cJSON *obj, const char *key);
/* Replaces (or adds) member `key` with a string / a value (taken). */
int sim_jset_str(cJSON *obj, const char *key, const char *val);
int sim_jset(cJSON *obj, const char *key, cJSON *val);

/* Writes a whole file (mode applies when it is created) atomically via a
 * temporary name and rename. 0 or -1 with errno. */
int sim_write_file(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on error. */
char *sim_read_file(const char *path, size_t *len);

/* Copies with truncation, always NUL-terminating (cap > 0). */
void sim_strlcpy(char *dst, const char *src, size_t cap);

#endif
