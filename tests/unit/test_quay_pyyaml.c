/*
 * The PyYAML oracle: Quay loads config.yaml with PyYAML, so what PyYAML
 * (Debian's python3-yaml, run as /usr/bin/python3) makes of our output is the
 * truth. This test shells out to it to prove that:
 *   - quay_yaml_resolve_plain types every plain scalar exactly as PyYAML's
 *     resolver does (a few thousand generated texts plus the classics);
 *   - strings we create load as those strings (on, no, 0123, 12:30, 1e3,
 *     2024-01-01, ...) and ints/bools we create load as ints/bools;
 *   - every realistic fixture loads with the same values and the same
 *     Python types after parse -> emit, and after a storage cutover plus each
 *     overlay, apart from the keys those edits own (whose new values and
 *     types are checked too).
 * Skips (visibly) only when python3-yaml is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "k8s_buf.h"
#include "k8s_error.h"
#include "quay_bundle.h"
#include "quay_overlay.h"
#include "quay_yaml.h"

#define PYTHON "/usr/bin/python3"

static const char checker_py[] =
    "import datetime, json, sys, yaml\n"
    "def desc(v):\n"
    "    if v is None: return ['null', None]\n"
    "    if isinstance(v, bool): return ['bool', v]\n"
    "    if isinstance(v, int): return ['int', v]\n"
    "    if isinstance(v, float): return ['float', repr(v)]\n"
    "    if isinstance(v, str): return ['str', v]\n"
    "    if isinstance(v, (datetime.date, datetime.datetime)): return [type(v).__name__, "
    "v.isoformat()]\n"
    "    if isinstance(v, list): return ['list', [desc(x) for x in v]]\n"
    "    if isinstance(v, dict): return ['map', [[desc(k), desc(x)] for k, x in v.items()]]\n"
    "    return [type(v).__name__, repr(v)]\n"
    "def load(p):\n"
    "    with open(p, 'rb') as f: return yaml.safe_load(f)\n"
    "mode = sys.argv[1]\n"
    "if mode == 'resolve':\n"
    "    r = yaml.resolver.Resolver()\n"
    "    texts = json.load(open(sys.argv[2]))\n"
    "    print(json.dumps([r.resolve(yaml.ScalarNode, t, (True, False)) for t in texts]))\n"
    "elif mode == 'expect':\n"
    "    doc = load(sys.argv[2]); want = json.load(open(sys.argv[3])); bad = []\n"
    "    for k, w in want.items():\n"
    "        got = desc(doc.get(k, '<missing>')) if isinstance(doc, dict) else None\n"
    "        if got != w: bad.append('%s: got %r want %r' % (k, got, w))\n"
    "    print('\\n'.join(bad) if bad else 'OK')\n"
    "elif mode == 'compare':\n"
    "    a = load(sys.argv[2]); b = load(sys.argv[3]); skip = set(sys.argv[4:]); bad = []\n"
    "    for k in a:\n"
    "        if k in skip: continue\n"
    "        if k not in b: bad.append('%s: missing' % k)\n"
    "        elif desc(a[k]) != desc(b[k]): bad.append('%s: %r != %r' % (k, desc(a[k]), "
    "desc(b[k])))\n"
    "    for k in b:\n"
    "        if k not in a and k not in skip: bad.append('%s: added' % k)\n"
    "    print('\\n'.join(bad) if bad else 'OK')\n";

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/qso-pyyaml-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "%s/check.py", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(checker_py, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const files[] = {"check.py", "in.json", "out.txt",  "err.txt",
                                        "a.yaml",   "b.yaml",  "want.json"};
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

static void skip_without_pyyaml(void)
{
    if (system(PYTHON " -c 'import yaml' >/dev/null 2>&1") != 0) {
        print_message("SKIPPED: " PYTHON " cannot import yaml (install python3-yaml)\n");
        skip();
    }
}

static void write_file(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Runs the checker with `args` (file names inside tmpdir are prefixed) and
 * returns its stdout, which the caller frees. */
static char *run_checker(const char *args)
{
    char cmd[1024], path[128];
    snprintf(cmd, sizeof(cmd), "cd %s && " PYTHON " check.py %s > out.txt 2> err.txt", tmpdir,
             args);
    int rc = system(cmd);
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rc == 0 ? "out.txt" : "err.txt");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *out = calloc(1, 1 << 20);
    assert_non_null(out);
    size_t n = fread(out, 1, (1 << 20) - 1, f);
    fclose(f);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    if (rc != 0)
        fail_msg("python failed: %s", out);
    return out;
}

static void expect_ok(const char *args)
{
    char *out = run_checker(args);
    if (strcmp(out, "OK") != 0)
        fail_msg("PyYAML disagrees:\n%s", out);
    free(out);
}

/* ---- resolver ------------------------------------------------------------------ */

static const char *tag_of(enum quay_yaml_type t)
{
    switch (t) {
    case QUAY_YAML_T_NULL:
        return "tag:yaml.org,2002:null";
    case QUAY_YAML_T_BOOL:
        return "tag:yaml.org,2002:bool";
    case QUAY_YAML_T_INT:
        return "tag:yaml.org,2002:int";
    case QUAY_YAML_T_FLOAT:
        return "tag:yaml.org,2002:float";
    case QUAY_YAML_T_TIMESTAMP:
        return "tag:yaml.org,2002:timestamp";
    case QUAY_YAML_T_MERGE:
        return "tag:yaml.org,2002:merge";
    case QUAY_YAML_T_VALUE:
        return "tag:yaml.org,2002:value";
    default:
        return "tag:yaml.org,2002:str";
    }
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static const char *const classics[] = {"",
                                       "~",
                                       "null",
                                       "Null",
                                       "NULL",
                                       "nULL",
                                       "y",
                                       "Y",
                                       "n",
                                       "N",
                                       "yes",
                                       "No",
                                       "ON",
                                       "oFF",
                                       "true",
                                       "False",
                                       "0",
                                       "-0",
                                       "+12",
                                       "0123",
                                       "0128",
                                       "0o17",
                                       "0x1F",
                                       "0xg",
                                       "0b101",
                                       "0b2",
                                       "1_000",
                                       "_1",
                                       "1__",
                                       "12:30",
                                       "12:60",
                                       "1:2:3",
                                       "-1:30",
                                       "0:30",
                                       "1.5",
                                       "1.",
                                       ".5",
                                       "-.5",
                                       "+1.5e+3",
                                       "1e3",
                                       "1.0e3",
                                       "1.0E-3",
                                       ".inf",
                                       "-.INF",
                                       "+.Inf",
                                       ".nan",
                                       ".NaN",
                                       "+.nan",
                                       "190:20:30.15",
                                       "1:2.5",
                                       "2024-01-01",
                                       "2024-1-1",
                                       "2001-12-14t21:59:43.10-05:00",
                                       "2001-12-14 21:59:43.10 -5",
                                       "2001-12-15T02:59:43.1Z",
                                       "2001-12-15 2:59:43",
                                       "2002-12-14",
                                       "2024-01-01 ",
                                       "<<",
                                       "=",
                                       "==",
                                       "443",
                                       "s3.example.com",
                                       "/datastorage/registry",
                                       "1e+3",
                                       "6379",
                                       "10.19.0.1",
                                       "100G",
                                       "2w",
                                       "60m"};

static void test_resolver_matches_pyyaml(void **state)
{
    (void)state;
    skip_without_pyyaml();
    enum { N_GEN = 6000 };
    static const char alphabet[] = "0123456789.:+-_eExobnNyYtT~ Z";
    size_t total = sizeof(classics) / sizeof(classics[0]) + N_GEN;
    char **texts = calloc(total, sizeof(*texts));
    assert_non_null(texts);
    cJSON *arr = cJSON_CreateArray();
    size_t k = 0;
    for (size_t i = 0; i < sizeof(classics) / sizeof(classics[0]); i++)
        texts[k++] = strdup(classics[i]);
    uint32_t seed = 12345;
    for (size_t i = 0; i < N_GEN; i++) {
        char buf[32];
        size_t len = 1 + next_rand(&seed) % 10;
        /* Half of them shaped like dates and times, where the grammar is hard. */
        if (i % 2 == 0) {
            static const char *const shapes[] = {
                "dddd-dd-dd", "dddd-d-dTdd:dd:dd",     "d:dd:dd.dd", "dd:dd",
                "d.dde+dd",   "dddd-dd-dd dd:dd:dd Z", "0xdd",       "0bdd",
                "d_dd.d_"};
            const char *shape = shapes[next_rand(&seed) % (sizeof(shapes) / sizeof(shapes[0]))];
            len = strlen(shape);
            for (size_t c = 0; c < len; c++)
                buf[c] = shape[c] == 'd' ? (char)('0' + next_rand(&seed) % 10)
                         : (next_rand(&seed) % 8 == 0)
                             ? alphabet[next_rand(&seed) % (sizeof(alphabet) - 1)]
                             : shape[c];
        } else {
            for (size_t c = 0; c < len; c++)
                buf[c] = alphabet[next_rand(&seed) % (sizeof(alphabet) - 1)];
        }
        buf[len] = '\0';
        texts[k++] = strdup(buf);
    }
    for (size_t i = 0; i < total; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(texts[i]));
    char *json = cJSON_PrintUnformatted(arr);
    write_file("in.json", json, strlen(json));
    char *out = run_checker("resolve in.json");
    cJSON *tags = cJSON_Parse(out);
    assert_non_null(tags);
    assert_int_equal(cJSON_GetArraySize(tags), (int)total);
    size_t mismatches = 0;
    for (size_t i = 0; i < total; i++) {
        const char *want = cJSON_GetStringValue(cJSON_GetArrayItem(tags, (int)i));
        const char *got = tag_of(quay_yaml_resolve_plain(texts[i], strlen(texts[i])));
        if (strcmp(want, got) != 0 && mismatches++ < 10)
            print_error("\"%s\": PyYAML %s, ours %s\n", texts[i], want, got);
    }
    assert_int_equal(mismatches, 0);
    cJSON_Delete(tags);
    free(out);
    free(json);
    cJSON_Delete(arr);
    for (size_t i = 0; i < total; i++)
        free(texts[i]);
    free(texts);
}

/* ---- what we write ---------------------------------------------------------------- */

static void emit_to(const struct quay_yaml_doc *doc, const char *name)
{
    struct k8s_buf b;
    struct k8s_error err;
    k8s_buf_init(&b, 1 << 22);
    if (quay_yaml_emit(doc, &b, &err))
        fail_msg("emit: %s", err.message);
    write_file(name, b.data ? b.data : "", b.len);
    k8s_buf_free(&b);
}

static void test_created_values_load_with_intended_types(void **state)
{
    (void)state;
    skip_without_pyyaml();
    static const char *const strings[] = {
        "on",         "off",           "yes",        "no",          "y",
        "n",          "true",          "null",       "~",           "0123",
        "0x1F",       "1_000",         "2024-01-01", "1e3",         ".inf",
        "12:30",      "443",           "",           "-.5",         "=",
        "<<",         "a: b",          "#x",         "line\nbreak", "caf\xc3\xa9",
        "  spaced  ", "'q'",           "\"dq\"",     "tab\there",   "- item",
        "[x]",        "{y}",           "@at",        "%pct",        "!bang",
        "&amp",       "*star",         "|pipe",      ">gt",         "conf/stack/quay-readonly.kid",
        "readonly",   "s3.example.com"};
    struct quay_yaml_doc doc = {.root = quay_yaml_map_new()};
    cJSON *want = cJSON_CreateObject();
    char key[16];
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        snprintf(key, sizeof(key), "s%zu", i);
        assert_int_equal(quay_yaml_map_set_take(doc.root, key, quay_yaml_str_new(strings[i])), 0);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString("str"));
        cJSON_AddItemToArray(pair, cJSON_CreateString(strings[i]));
        cJSON_AddItemToObject(want, key, pair);
    }
    static const long long ints[] = {0, 443, -1, 65535, 9223372036854775807LL};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        snprintf(key, sizeof(key), "i%zu", i);
        assert_int_equal(quay_yaml_map_set_take(doc.root, key, quay_yaml_int_new(ints[i])), 0);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString("int"));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)ints[i]));
        cJSON_AddItemToObject(want, key, pair);
    }
    /* 2^63-1 is not exact as a double: compare that one as Python sees it. */
    cJSON_ReplaceItemInObject(want, "i4", cJSON_CreateRaw("[\"int\", 9223372036854775807]"));
    for (int v = 0; v < 2; v++) {
        snprintf(key, sizeof(key), "b%d", v);
        assert_int_equal(quay_yaml_map_set_take(doc.root, key, quay_yaml_bool_new(v)), 0);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString("bool"));
        cJSON_AddItemToArray(pair, cJSON_CreateBool(v));
        cJSON_AddItemToObject(want, key, pair);
    }
    emit_to(&doc, "a.yaml");
    char *json = cJSON_PrintUnformatted(want);
    write_file("want.json", json, strlen(json));
    expect_ok("expect a.yaml want.json");
    free(json);
    cJSON_Delete(want);
    quay_yaml_node_free(doc.root);
}

/* ---- fixtures through edits -------------------------------------------------------- */

static const char *const fixtures[] = {
    "config-noobaa_rhocs.yaml",  "config-s3_aws.yaml",     "config-swift.yaml",
    "config-radosgw_multi.yaml", "config-georep_gcs.yaml", "config-hard.yaml",
};

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/quay/%s", QSO_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

static void write_config(const struct quay_bundle *b, const char *name)
{
    size_t len;
    const unsigned char *d = quay_bundle_get(b, "config.yaml", &len);
    assert_non_null(d);
    write_file(name, d, len);
}

static void test_fixtures_load_identically_after_emit(void **state)
{
    (void)state;
    skip_without_pyyaml();
    for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
        size_t len;
        char *text = read_fixture(fixtures[f], &len);
        struct quay_yaml_doc *doc = NULL;
        struct k8s_error err;
        assert_int_equal(quay_yaml_parse(text, len, fixtures[f], &doc, &err), 0);
        write_file("a.yaml", text, len);
        emit_to(doc, "b.yaml");
        expect_ok("compare a.yaml b.yaml");
        quay_yaml_doc_free(doc);
        free(text);
    }
}

static void test_fixtures_keep_types_through_cutover_and_overlays(void **state)
{
    (void)state;
    skip_without_pyyaml();
    static const char pem[] = "-----BEGIN PRIVATE KEY-----\nFAKE\n-----END PRIVATE KEY-----\n";
    for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
        size_t len;
        struct k8s_error err;
        char *text = read_fixture(fixtures[f], &len);
        struct quay_bundle *base = quay_bundle_new(QUAY_BUNDLE_OPERATOR, NULL);
        assert_int_equal(quay_bundle_put(base, "config.yaml", text, len, &err), 0);
        write_file("a.yaml", text, len);

        /* A cutover of the first location to S3 (new values a YAML 1.1 loader
         * could misread on purpose: "on" as a bucket, "0123" as a key). */
        char **names = NULL;
        assert_int_equal(quay_bundle_list_locations(base, &names, NULL, &err), 0);
        struct quay_yaml_node *p = quay_yaml_map_new();
        quay_yaml_map_set_take(p, "host", quay_yaml_str_new("s3.new.example.com"));
        quay_yaml_map_set_take(p, "port", quay_yaml_int_new(443));
        quay_yaml_map_set_take(p, "s3_bucket", quay_yaml_str_new("on"));
        quay_yaml_map_set_take(p, "s3_access_key", quay_yaml_str_new("0123"));
        quay_yaml_map_set_take(p, "s3_secret_key", quay_yaml_str_new("12:30"));
        if (quay_bundle_set_location(base, names[0], "S3Storage", p, 0, &err))
            fail_msg("%s: %s", fixtures[f], err.message);
        write_config(base, "b.yaml");
        expect_ok("compare a.yaml b.yaml DISTRIBUTED_STORAGE_CONFIG");

        /* Each overlay on top of the cut-over base. */
        struct quay_overlay *ov[] = {quay_overlay_disable_pushes_new("w1", 1, &err),
                                     quay_overlay_read_only_new("w2", 2, "quay-readonly", "kid0123",
                                                                pem, sizeof(pem) - 1, &err)};
        for (size_t i = 0; i < 2; i++) {
            struct quay_render r;
            if (quay_compose(base, (const struct quay_overlay *const *)&ov[i], 1, &r, &err))
                fail_msg("%s: %s", fixtures[f], err.message);
            write_config(r.bundle, "b.yaml");
            if (i == 0) {
                expect_ok("compare a.yaml b.yaml DISTRIBUTED_STORAGE_CONFIG DISABLE_PUSHES");
                const char *w = "{\"DISABLE_PUSHES\": [\"bool\", true]}";
                write_file("want.json", w, strlen(w));
            } else {
                expect_ok("compare a.yaml b.yaml DISTRIBUTED_STORAGE_CONFIG REGISTRY_STATE "
                          "INSTANCE_SERVICE_KEY_KID_LOCATION INSTANCE_SERVICE_KEY_LOCATION");
                const char *w = "{\"REGISTRY_STATE\": [\"str\", \"readonly\"], "
                                "\"INSTANCE_SERVICE_KEY_KID_LOCATION\": [\"str\", "
                                "\"conf/stack/quay-readonly.kid\"], "
                                "\"INSTANCE_SERVICE_KEY_LOCATION\": [\"str\", "
                                "\"conf/stack/quay-readonly.pem\"]}";
                write_file("want.json", w, strlen(w));
            }
            expect_ok("expect b.yaml want.json");
            quay_render_clear(&r);
            quay_overlay_free(ov[i]);
        }
        /* The new location's tricky values stay strings in the model too. */
        struct quay_location *loc = NULL;
        assert_int_equal(quay_bundle_get_location(base, names[0], &loc, &err), 0);
        assert_int_equal(quay_yaml_scalar_type(quay_yaml_map_get(loc->params, "s3_bucket")),
                         QUAY_YAML_T_STR);
        quay_location_free(loc);

        quay_yaml_node_free(p);
        quay_strv_free(names);
        quay_bundle_free(base);
        free(text);
    }
}

/* The new location as PyYAML loads it, spelled out for one fixture. */
static void test_cutover_values_load_as_strings_and_int(void **state)
{
    (void)state;
    skip_without_pyyaml();
    struct k8s_error err;
    struct quay_bundle *b = quay_bundle_new(QUAY_BUNDLE_STANDALONE, NULL);
    const char *cfg = "DISTRIBUTED_STORAGE_CONFIG:\n  default: [LocalStorage, {storage_path: "
                      "/datastorage/registry}]\n";
    assert_int_equal(quay_bundle_put(b, "config.yaml", cfg, strlen(cfg), &err), 0);
    struct quay_yaml_node *p = quay_yaml_map_new();
    quay_yaml_map_set_take(p, "s3_bucket", quay_yaml_str_new("no"));
    quay_yaml_map_set_take(p, "port", quay_yaml_int_new(8443));
    quay_yaml_map_set_take(p, "host", quay_yaml_str_new("2024-01-01"));
    quay_yaml_map_set_take(p, "s3_secret_key", quay_yaml_str_new("1e3"));
    assert_int_equal(quay_bundle_set_location(b, "default", "S3Storage", p, 0, &err), 0);
    write_config(b, "b.yaml");
    const char *w =
        "{\"DISTRIBUTED_STORAGE_CONFIG\": [\"map\", [[[\"str\", \"default\"], [\"list\", "
        "[[\"str\", \"S3Storage\"], [\"map\", [[[\"str\", \"s3_bucket\"], [\"str\", \"no\"]], "
        "[[\"str\", \"port\"], [\"int\", 8443]], [[\"str\", \"host\"], [\"str\", \"2024-01-01\"]], "
        "[[\"str\", \"s3_secret_key\"], [\"str\", \"1e3\"]], [[\"str\", \"storage_path\"], "
        "[\"str\", \"/datastorage/registry\"]]]]]]]]]}";
    write_file("want.json", w, strlen(w));
    expect_ok("expect b.yaml want.json");
    quay_yaml_node_free(p);
    quay_bundle_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolver_matches_pyyaml),
        cmocka_unit_test(test_created_values_load_with_intended_types),
        cmocka_unit_test(test_fixtures_load_identically_after_emit),
        cmocka_unit_test(test_fixtures_keep_types_through_cutover_and_overlays),
        cmocka_unit_test(test_cutover_values_load_as_strings_and_int),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
