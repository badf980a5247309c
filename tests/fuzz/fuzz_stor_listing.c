/*
 * libFuzzer target for the copy engine's parsers of untrusted server answers:
 * the S3 ListObjectsV2 XML page and S3 error/UploadId/ETag XML bodies
 * (storage/stor_s3.c), the Swift JSON listing page and its 412 "Maximum
 * limit" body (storage/stor_swift.c), and response headers of a HEAD
 * (stor_req_header, Content-Length, ETag, Last-Modified). Every answer goes
 * through the backend's public `finish` hook exactly as the engine calls it,
 * on backends opened without any network (S3 signs locally; Swift with a
 * pre-authenticated token and a fixed storage URL).
 *
 * Build (from the repository root; clang with compiler-rt, Debian 12:
 * `apt-get install clang`):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -Istorage -Ik8sclient tests/fuzz/fuzz_stor_listing.c storage/stor_*.c k8sclient/k8s_log.c \
 *     $(pkg-config --cflags --libs libcurl libcjson libcrypto) -lpthread \
 *     -o build-fuzz/fuzz_stor_listing
 * Run:
 *   mkdir -p build-fuzz/corpus-stor-listing
 *   build-fuzz/fuzz_stor_listing -max_total_time=120 build-fuzz/corpus-stor-listing
 *
 * Input: byte 0 picks the backend, the operation, the HTTP status and the
 * spec prefix (see `pick`); the rest is the response body (or, for HEAD, the
 * raw response header block). Besides "no crash, no leak, no UB", it checks
 * what the engine relies on: every listed key is non-empty, NUL-terminated
 * within STOR_KEY_MAX, relative to the prefix; every size is at most
 * STOR_SIZE_MAX; a page that is not the last names its successor; error
 * messages stay NUL-terminated inside their fixed buffers.
 */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stor_backend.h"
#include "stor_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* [0]: s3 with prefix, [1]: s3 without, [2]: swift with prefix, [3]: swift without. */
static struct stor_backend *g_backends[4];

static void check(int ok)
{
    if (!ok)
        abort();
}

static struct stor_backend *open_one(const char *text)
{
    struct stor_spec spec;
    struct stor_error err;
    struct stor_backend *b = NULL;
    if (stor_spec_parse(text, "QSO_FUZZ_", &spec, &err) || stor_backend_open(&spec, &b, &err)) {
        fprintf(stderr, "cannot open %s: %s\n", text, err.message);
        abort();
    }
    return b;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Made-up credentials: nothing is ever sent. */
    setenv("QSO_FUZZ_AWS_ACCESS_KEY_ID", "AKIDFUZZ", 1);
    setenv("QSO_FUZZ_AWS_SECRET_ACCESS_KEY", "fuzz-secret", 1);
    setenv("QSO_FUZZ_SWIFT_AUTH_TOKEN", "AUTH_tkfuzz", 1);
    g_backends[0] = open_one("s3://bucket/pre/fix?endpoint=http://127.0.0.1:9");
    g_backends[1] = open_one("s3://bucket?endpoint=http://127.0.0.1:9");
    g_backends[2] =
        open_one("swift://cont/pre/fix?storage_url=http://127.0.0.1:9/v1/AUTH_fuzz&page_size=4");
    g_backends[3] = open_one("swift://cont?storage_url=http://127.0.0.1:9/v1/AUTH_fuzz");
    return 0;
}

struct emitted {
    size_t n;
    const char *prefix;
};

static int on_entry(void *ctx, const struct stor_entry *e)
{
    struct emitted *em = ctx;
    size_t kl = strnlen(e->key, sizeof(e->key));
    check(kl > 0 && kl <= STOR_KEY_MAX);
    check(e->size <= STOR_SIZE_MAX);
    check(strnlen(e->etag, sizeof(e->etag)) < sizeof(e->etag));
    em->n++;
    /* A callback that stops the page early must be honoured too. */
    return em->n == 5000;
}

static const enum stor_op g_ops[] = {
    STOR_OP_LIST,      STOR_OP_LIST,       STOR_OP_LIST, STOR_OP_HEAD,
    STOR_OP_MPU_BEGIN, STOR_OP_MPU_COMMIT, STOR_OP_COPY, STOR_OP_COPY_PART,
    STOR_OP_MPU_PART,  STOR_OP_GET,        STOR_OP_PUT,  STOR_OP_DELETE,
    STOR_OP_MPU_ABORT, STOR_OP_LIST,       STOR_OP_HEAD, STOR_OP_LIST,
};
static const long g_status[] = {200, 200, 206, 204, 404, 412, 500, 403,
                                401, 503, 400, 301, 200, 201, 429, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* pick: bits 0-1 backend, byte 1: low nibble op, high nibble status. */
    struct stor_backend *b = g_backends[data[0] & 3];
    enum stor_op op = g_ops[data[1] & 15];
    long status = g_status[data[1] >> 4];
    data += 2;
    size -= 2;

    struct stor_req req;
    memset(&req, 0, sizeof(req));
    struct stor_upload up;
    memset(&up, 0, sizeof(up));
    char etags[2][STOR_ETAG_MAX];
    memset(etags, 0, sizeof(etags));
    up.etags = etags;
    up.nparts = 2;
    up.size = 10;
    up.part_size = 5;
    stor_strlcpy(up.upload_id, "upload-1", sizeof(up.upload_id));
    struct emitted em = {0, b->spec.prefix};
    req.op = op;
    req.key = "some/key";
    req.src = b;
    req.src_key = "some/key";
    req.upload = &up;
    req.part_number = 2;
    req.emit = on_entry;
    req.emit_ctx = &em;
    req.status = status;
    stor_buf_init(&req.resp_headers, STOR_RESP_HEADERS_MAX);
    stor_buf_init(&req.resp_body, STOR_RESP_BODY_MAX);
    if (op == STOR_OP_HEAD || op == STOR_OP_PUT || op == STOR_OP_MPU_PART)
        stor_buf_append(&req.resp_headers, data, size);
    else
        stor_buf_append(&req.resp_body, data, size);

    struct stor_error err;
    stor_error_clear(&err);
    int rc = b->ops->finish(b, NULL, &req, &err);
    check(rc <= 0);
    check(strnlen(err.message, sizeof(err.message)) < sizeof(err.message));
    check(strnlen(err.server_code, sizeof(err.server_code)) < sizeof(err.server_code));
    if (rc == 0 && op == STOR_OP_LIST) {
        check(strnlen(req.list_next, sizeof(req.list_next)) < sizeof(req.list_next));
        if (!req.list_done)
            check(req.list_next[0] != '\0');
    }
    if (rc == 0 && op == STOR_OP_HEAD)
        check(req.entry.size <= STOR_SIZE_MAX);
    for (int i = 0; i < 2; i++)
        check(strnlen(etags[i], STOR_ETAG_MAX) < STOR_ETAG_MAX);
    stor_req_release(b, &req);
    return 0;
}
