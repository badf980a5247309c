/*
 * Raw HTTP calls to the API simulator for its tests (see kubesim_http.h).
 */
#include "kubesim_http.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

size_t kubesim_resp_on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct kubesim_resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct kubesim_resp *r = ud;
    size_t len = sz * n;
    if (r->hlen + len < sizeof(r->headers)) {
        memcpy(r->headers + r->hlen, p, len);
        r->hlen += len;
        r->headers[r->hlen] = '\0';
    }
    return len;
}

void kubesim_resp_free(struct kubesim_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* token NULL: the admin token; "": none. httpver: CURL_HTTP_VERSION_*.
 * allow_err: a transport error (a cut watch) is recorded, not fatal. */
long kubesim_call_x(struct kubesim *sim, const char *token, const char *method, const char *path,
                    const char *ctype, const char *body, long httpver, int allow_err,
                    struct kubesim_resp *r)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[4096], auth[1024], ct[256];
    CURLcode cc;
    memset(r, 0, sizeof(*r));
    assert_non_null(h);
    snprintf(url, sizeof(url), "%s%s", kubesim_url(sim), path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, kubesim_ca_file(sim));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kubesim_resp_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, httpver);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (!token)
        token = kubesim_admin_token(sim);
    if (*token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (ctype) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, ct);
    }
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(h);
    r->curl_code = (int)cc;
    if (!allow_err)
        assert_int_equal(cc, CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->code);
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &r->version);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return r->code;
}

long kubesim_call_v(struct kubesim *sim, const char *token, const char *method, const char *path,
                    const char *ctype, const char *body, long httpver, struct kubesim_resp *r)
{
    return kubesim_call_x(sim, token, method, path, ctype, body, httpver, 0, r);
}

long kubesim_call(struct kubesim *sim, const char *method, const char *path, const char *ctype,
                  const char *body, struct kubesim_resp *r)
{
    return kubesim_call_v(sim, NULL, method, path, ctype, body, CURL_HTTP_VERSION_2TLS, r);
}

cJSON *kubesim_resp_json(const struct kubesim_resp *r)
{
    cJSON *j = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
    assert_non_null(j);
    return j;
}

const char *kubesim_jstr(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* Asserts a Status with code, reason and exact message. */
void kubesim_assert_status(const struct kubesim_resp *r, long code, const char *reason,
                           const char *message)
{
    cJSON *j = kubesim_resp_json(r);
    assert_int_equal(r->code, code);
    assert_string_equal(kubesim_jstr(j, "kind", NULL), "Status");
    assert_string_equal(kubesim_jstr(j, "reason", NULL), reason);
    if (message)
        assert_string_equal(kubesim_jstr(j, "message", NULL), message);
    assert_int_equal(cJSON_GetObjectItem(j, "code")->valueint, code);
    cJSON_Delete(j);
}
