/*
 * Mapping of related events (controller/ctl_mapper.c): an owned Job maps to
 * its owner's key only when group and kind match (and, if asked, only the
 * controller reference), a change of ownership reaches the old and the new
 * owner, cluster-scoped owners get keys without a namespace; the reference
 * index maps a Secret or a QuayRegistry to exactly the CRs that reference it
 * now (set_refs replaces, forget clears, the two directions stay inverse),
 * refuses invalid references without changing anything, and survives
 * concurrent writers and readers; the ready-made informer handlers enqueue
 * into a work queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_mapper.h"
#include "k8s_error.h"

/* Collects keys as "a,b,c". */
struct keys {
    char s[2048];
    size_t n;
};

static void collect(const char *key, void *user)
{
    struct keys *k = user;
    k->n += (size_t)snprintf(k->s + strlen(k->s), sizeof(k->s) - strlen(k->s), "%s%s",
                             *k->s ? "," : "", key) > 0;
}

static const char *owners(const char *json, const struct ctl_owner_spec *spec, struct keys *k)
{
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    memset(k, 0, sizeof(*k));
    size_t n = ctl_owner_keys(obj, spec, collect, k);
    assert_int_equal(n, k->n);
    cJSON_Delete(obj);
    return k->s;
}

#define JOB                                                                                        \
    "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"copy-1\","             \
    "\"namespace\":\"quay\",\"ownerReferences\":["                                                 \
    "{\"apiVersion\":\"quaystorage.io/v1alpha1\",\"kind\":\"StorageMigration\",\"name\":\"m1\","   \
    "\"uid\":\"u1\",\"controller\":true},"                                                         \
    "{\"apiVersion\":\"other.io/v1\",\"kind\":\"StorageMigration\",\"name\":\"m-other\","          \
    "\"uid\":\"u2\"},"                                                                             \
    "{\"apiVersion\":\"quaystorage.io/v1alpha1\",\"kind\":\"StorageMigration\",\"name\":\"m2\","   \
    "\"uid\":\"u3\"},"                                                                             \
    "{\"apiVersion\":\"quaystorage.io/v1alpha1\",\"kind\":\"StorageMigration\",\"name\":\"m1\","   \
    "\"uid\":\"u1\"},"                                                                             \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"cm\",\"uid\":\"u4\"}]}}"

static void owner_references_map_to_owner_keys(void **state)
{
    (void)state;
    struct keys k;
    struct ctl_owner_spec sm = {.group = "quaystorage.io", .kind = "StorageMigration"};
    /* Group and kind must both match; the duplicate m1 comes once. */
    assert_string_equal(owners(JOB, &sm, &k), "StorageMigration/quay/m1,StorageMigration/quay/m2");
    sm.controller_only = 1;
    assert_string_equal(owners(JOB, &sm, &k), "StorageMigration/quay/m1");
    struct ctl_owner_spec any = {.kind = "StorageMigration", .key_kind = "sm"};
    assert_string_equal(owners(JOB, &any, &k), "sm/quay/m1,sm/quay/m-other,sm/quay/m2");
    struct ctl_owner_spec core = {.group = "", .kind = "ConfigMap"};
    assert_string_equal(owners(JOB, &core, &k), "ConfigMap/quay/cm");
    struct ctl_owner_spec cluster = {.group = "", .kind = "ConfigMap", .cluster_scoped = 1};
    assert_string_equal(owners(JOB, &cluster, &k), "ConfigMap//cm");
    struct ctl_owner_spec none = {.group = "quaystorage.io", .kind = "ReadOnlyWindow"};
    assert_string_equal(owners(JOB, &none, &k), "");
    assert_string_equal(owners("{\"metadata\":{\"name\":\"x\"}}", &sm, &k), "");
    /* A name with a '/' cannot be a key: skipped. */
    assert_string_equal(
        owners("{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\",\"ownerReferences\":[{"
               "\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"a/b\"}]}}",
               &core, &k),
        "");
}

static void drain(struct ctl_workqueue *q, struct keys *k)
{
    memset(k, 0, sizeof(*k));
    while (ctl_wq_len(q) > 0) {
        char *key = ctl_wq_get(q);
        collect(key, k);
        ctl_wq_done(q, key);
        free(key);
    }
}

static void owner_handler_reaches_old_and_new_owners(void **state)
{
    (void)state;
    struct ctl_clock *clock = ctl_clock_new_fake(0);
    struct ctl_workqueue *q = ctl_wq_new(clock, NULL);
    struct ctl_owner_map om = {.spec = {.group = "quaystorage.io", .kind = "StorageMigration"},
                               .q = q};
    struct keys k;
    cJSON *old = cJSON_Parse(
        "{\"metadata\":{\"name\":\"j\",\"namespace\":\"ns\",\"ownerReferences\":[{\"apiVersion\":"
        "\"quaystorage.io/v1alpha1\",\"kind\":\"StorageMigration\",\"name\":\"a\"}]}}");
    cJSON *now = cJSON_Parse(
        "{\"metadata\":{\"name\":\"j\",\"namespace\":\"ns\",\"ownerReferences\":[{\"apiVersion\":"
        "\"quaystorage.io/v1alpha1\",\"kind\":\"StorageMigration\",\"name\":\"b\"}]}}");
    ctl_owner_handler(CTL_EV_UPDATE, old, now, &om);
    drain(q, &k);
    assert_string_equal(k.s, "StorageMigration/ns/b,StorageMigration/ns/a");
    ctl_owner_handler(CTL_EV_DELETE, NULL, now, &om);
    drain(q, &k);
    assert_string_equal(k.s, "StorageMigration/ns/b");
    ctl_owner_handler(CTL_EV_UPDATE, now, now, &om); /* a resync */
    drain(q, &k);
    assert_string_equal(k.s, "StorageMigration/ns/b");
    cJSON_Delete(old);
    cJSON_Delete(now);
    ctl_wq_shutdown(q);
    ctl_wq_free(q);
    ctl_clock_free(clock);
}

static const char *referrers(struct ctl_mapper *m, const char *kind, const char *ns,
                             const char *name, struct keys *k)
{
    memset(k, 0, sizeof(*k));
    size_t n = ctl_mapper_referrers(m, kind, ns, name, collect, k);
    assert_int_equal(n, k->n);
    return k->s;
}

static void reference_index_follows_set_refs(void **state)
{
    (void)state;
    struct ctl_mapper *m = ctl_mapper_new();
    struct keys k;
    size_t nr, nt;
    const struct ctl_ref a_refs[] = {
        {"Secret", "quay", "s3-creds"},
        {"QuayRegistry", "quay", "registry"},
        {"Secret", "quay", "s3-creds"}, /* duplicate */
    };
    const struct ctl_ref b_refs[] = {{"Secret", "quay", "s3-creds"}};
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/a", a_refs, 3), 0);
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/b", b_refs, 1), 0);
    assert_string_equal(referrers(m, "Secret", "quay", "s3-creds", &k),
                        "StorageMigration/quay/a,StorageMigration/quay/b");
    assert_string_equal(referrers(m, "QuayRegistry", "quay", "registry", &k),
                        "StorageMigration/quay/a");
    assert_string_equal(referrers(m, "Secret", "other", "s3-creds", &k), "");
    assert_string_equal(referrers(m, "QuayRegistry", "quay", "s3-creds", &k), "");
    ctl_mapper_size(m, &nr, &nt);
    assert_int_equal(nr, 2);
    assert_int_equal(nt, 2);

    /* a now references another Secret only: the old links go. */
    const struct ctl_ref a2[] = {{"Secret", "quay", "swift-creds"}};
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/a", a2, 1), 0);
    assert_string_equal(referrers(m, "Secret", "quay", "s3-creds", &k), "StorageMigration/quay/b");
    assert_string_equal(referrers(m, "QuayRegistry", "quay", "registry", &k), "");
    assert_string_equal(referrers(m, "Secret", "quay", "swift-creds", &k),
                        "StorageMigration/quay/a");
    ctl_mapper_size(m, &nr, &nt);
    assert_int_equal(nr, 2);
    assert_int_equal(nt, 2);

    /* An invalid reference changes nothing. */
    const struct ctl_ref bad[] = {{"Secret", "quay", "ok"}, {"Secret", "quay", "a/b"}};
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/b", bad, 2), K8S_EARG);
    const struct ctl_ref bad2[] = {{NULL, "quay", "x"}};
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/b", bad2, 1), K8S_EARG);
    assert_int_equal(ctl_mapper_set_refs(m, "", b_refs, 1), K8S_EARG);
    assert_string_equal(referrers(m, "Secret", "quay", "s3-creds", &k), "StorageMigration/quay/b");
    assert_string_equal(referrers(m, "Secret", "quay", "ok", &k), "");

    /* Cluster-scoped targets. */
    const struct ctl_ref c[] = {{"ClusterThing", NULL, "t"}};
    assert_int_equal(ctl_mapper_set_refs(m, "ReadOnlyWindow/quay/w", c, 1), 0);
    assert_string_equal(referrers(m, "ClusterThing", "", "t", &k), "ReadOnlyWindow/quay/w");

    /* forget and an empty set both clear. */
    ctl_mapper_forget(m, "StorageMigration/quay/b");
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/a", NULL, 0), 0);
    ctl_mapper_forget(m, "ReadOnlyWindow/quay/w");
    ctl_mapper_forget(m, "never/seen/x");
    assert_string_equal(referrers(m, "Secret", "quay", "s3-creds", &k), "");
    assert_string_equal(referrers(m, "Secret", "quay", "swift-creds", &k), "");
    ctl_mapper_size(m, &nr, &nt);
    assert_int_equal(nr, 0);
    assert_int_equal(nt, 0);
    ctl_mapper_free(m);
}

static void ref_handler_enqueues_referrers(void **state)
{
    (void)state;
    struct ctl_clock *clock = ctl_clock_new_fake(0);
    struct ctl_workqueue *q = ctl_wq_new(clock, NULL);
    struct ctl_mapper *m = ctl_mapper_new();
    struct ctl_ref_map rm = {.m = m, .kind = "Secret", .q = q};
    struct keys k;
    const struct ctl_ref r[] = {{"Secret", "quay", "creds"}};
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/a", r, 1), 0);
    assert_int_equal(ctl_mapper_set_refs(m, "StorageMigration/quay/b", r, 1), 0);
    cJSON *secret = cJSON_Parse("{\"kind\":\"PartialObjectMetadata\",\"metadata\":{\"name\":"
                                "\"creds\",\"namespace\":\"quay\"}}");
    cJSON *other = cJSON_Parse("{\"metadata\":{\"name\":\"creds\",\"namespace\":\"elsewhere\"}}");
    ctl_ref_handler(CTL_EV_UPDATE, secret, secret, &rm);
    ctl_ref_handler(CTL_EV_ADD, NULL, other, &rm);
    drain(q, &k);
    assert_string_equal(k.s, "StorageMigration/quay/a,StorageMigration/quay/b");
    ctl_ref_handler(CTL_EV_DELETE, NULL, secret, &rm);
    drain(q, &k);
    assert_int_equal(k.n, 2);
    cJSON_Delete(secret);
    cJSON_Delete(other);
    ctl_mapper_free(m);
    ctl_wq_shutdown(q);
    ctl_wq_free(q);
    ctl_clock_free(clock);
}

/* ---- concurrency ------------------------------------------------------------------ */

struct worker {
    struct ctl_mapper *m;
    int id;
};

static void count_key(const char *key, void *user)
{
    (void)key;
    (*(size_t *)user)++;
}

static void *writer(void *p)
{
    struct worker *w = p;
    char referrer[64], name[4][16];
    for (int i = 0; i < 2000; i++) {
        struct ctl_ref refs[4];
        int n = 1 + (i + w->id) % 4;
        for (int j = 0; j < n; j++) {
            snprintf(name[j], sizeof(name[j]), "s%d", (i * 7 + j * 3 + w->id) % 10);
            refs[j].kind = "Secret";
            refs[j].ns = "ns";
            refs[j].name = name[j];
        }
        snprintf(referrer, sizeof(referrer), "SM/ns/r%d-%d", w->id, i % 5);
        if (i % 97 == 0)
            ctl_mapper_forget(w->m, referrer);
        else
            assert_int_equal(ctl_mapper_set_refs(w->m, referrer, refs, (size_t)n), 0);
        size_t seen = 0;
        ctl_mapper_referrers(w->m, "Secret", "ns", name[0], count_key, &seen);
    }
    return NULL;
}

static void concurrent_writers_keep_the_index_inverse(void **state)
{
    (void)state;
    struct ctl_mapper *m = ctl_mapper_new();
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i].m = m;
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    /* Each worker's referrers are its own, so the final index is known:
     * the last write of each referrer slot. Count its links from the
     * target side and compare. */
    size_t want_links = 0, links = 0, nr, nt, want_referrers = 0;
    for (int id = 0; id < 4; id++) {
        for (int slot = 0; slot < 5; slot++) {
            int i = 1995 + slot, n = 1 + (i + id) % 4, distinct = 0;
            int seen[10] = {0};
            if (i % 97 == 0)
                continue;
            for (int j = 0; j < n; j++) {
                int sidx = (i * 7 + j * 3 + id) % 10;
                if (!seen[sidx]++)
                    distinct++;
            }
            want_links += (size_t)distinct;
            want_referrers++;
        }
    }
    char name[16];
    for (int sidx = 0; sidx < 10; sidx++) {
        snprintf(name, sizeof(name), "s%d", sidx);
        ctl_mapper_referrers(m, "Secret", "ns", name, count_key, &links);
    }
    assert_int_equal(links, want_links);
    ctl_mapper_size(m, &nr, &nt);
    assert_int_equal(nr, want_referrers);
    /* Clearing every referrer empties the target side too. */
    for (int id = 0; id < 4; id++) {
        for (int i = 0; i < 5; i++) {
            char referrer[64];
            snprintf(referrer, sizeof(referrer), "SM/ns/r%d-%d", id, i);
            ctl_mapper_forget(m, referrer);
        }
    }
    ctl_mapper_size(m, &nr, &nt);
    assert_int_equal(nr, 0);
    assert_int_equal(nt, 0);
    ctl_mapper_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(owner_references_map_to_owner_keys),
        cmocka_unit_test(owner_handler_reaches_old_and_new_owners),
        cmocka_unit_test(reference_index_follows_set_refs),
        cmocka_unit_test(ref_handler_enqueues_referrers),
        cmocka_unit_test(concurrent_writers_keep_the_index_inverse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
