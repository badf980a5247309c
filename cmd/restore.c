/*
 * `quay-storage-operator restore`: the break-glass command (DESIGN.md). Puts
 * a target's original configuration back from the composer's state record,
 * without the operator running: QuayRegistry spec.configBundleSecret and
 * spec.components as they were; StandaloneQuay the backup's data and the
 * replicas a ScaleDown took. It refuses when the original's data changed
 * since it was recorded, unless --force. The record is marked restored (its
 * overlays kept for audit) so a running operator stops changing the target.
 *
 * Exit codes: 0 restored, 1 failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "k8s_client.h"
#include "k8s_config.h"
#include "quay_composer.h"
#include "quay_readonly_spec.h"

struct restore_flags {
    const char *target;
    const char *kind;
    const char *kubeconfig;
    const char *context;
    int force;
};

static void restore_usage(FILE *out)
{
    fprintf(
        out,
        "usage: quay-storage-operator restore --target NAMESPACE/NAME [flags]\n"
        "\n"
        "Puts the target's original configuration back, from the state record\n"
        "quay-storage-operator keeps for it. Works without the operator running.\n"
        "\n"
        "flags:\n"
        "  --target NS/NAME      the QuayRegistry, or the StandaloneQuay's config Secret\n"
        "  --kind KIND           QuayRegistry (default) or StandaloneQuay\n"
        "  --force               restore even if the original's data changed since it\n"
        "                        was recorded (it is restored as it is now)\n"
        "  --kubeconfig PATH     kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
        "  --context NAME        kubeconfig context\n"
        "\n"
        "exit: 0 restored, 1 failed, 2 usage\n");
}

/* 0, 1 for --help, 2 for a usage error (reported). */
static int parse_flags(int argc, char **argv, struct restore_flags *f)
{
    static const char *const valued[] = {"--target", "--kind", "--kubeconfig", "--context", NULL};
    static const char *const switches[] = {"--force", NULL};
    for (int i = 1; i < argc; i++) {
        const char *val;
        char name[32];
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
        if (cmd_flag("restore", argc, argv, &i, valued, switches, name, sizeof(name), &val))
            return 2;
        if (strcmp(name, "--force") == 0) {
            if (val) {
                fprintf(stderr, "restore: --force takes no value\n");
                return 2;
            }
            f->force = 1;
            continue;
        }
        if (strcmp(name, "--target") == 0)
            f->target = val;
        else if (strcmp(name, "--kind") == 0)
            f->kind = val;
        else if (strcmp(name, "--kubeconfig") == 0)
            f->kubeconfig = val;
        else
            f->context = val;
    }
    if (!f->target) {
        fprintf(stderr, "restore: --target NAMESPACE/NAME is required\n");
        return 2;
    }
    return 0;
}

static const char *readonly_back(const char *previous)
{
    return !strcmp(previous, "true")    ? "put back to true, as before the windows"
           : !strcmp(previous, "false") ? "put back to false, as before the windows"
                                        : "removed, as before the windows";
}

static void print_report(const struct quay_target_ref *t, const struct quay_restore_report *r)
{
    char sname[QUAY_NAME_MAX + 1];
    if (quay_state_name(t->kind, t->name, sname, sizeof(sname), NULL) != 0)
        snprintf(sname, sizeof(sname), "(the state record)");
    if (r->no_record) {
        /* Only spec.readOnly was ours (Quay Operator 3.19 windows). */
        printf("released spec.readOnly of QuayRegistry %s/%s (held by windows %s): %s\n", t->ns,
               t->name, r->readonly_released, readonly_back(r->readonly_previous));
        printf("Windows leave spec.readOnly alone until annotation %s is removed from the "
               "QuayRegistry.\n",
               QUAY_ANN_RO_RESTORED);
        return;
    }
    printf("restored %s %s/%s to its original configuration\n", quay_target_kind_name(t->kind),
           t->ns, t->name);
    if (r->readonly_released[0])
        printf("  spec.readOnly: released (held by windows %s): %s; windows leave it alone until "
               "annotation %s is removed\n",
               r->readonly_released, readonly_back(r->readonly_previous), QUAY_ANN_RO_RESTORED);
    if (t->kind == QUAY_TARGET_QUAYREGISTRY) {
        printf("  spec.configBundleSecret: %s -> %s\n",
               r->previous_name[0] ? r->previous_name : "(unset)", r->original_name);
        printf("  spec.components: %s\n", !r->components_restored ? "already as originally"
                                          : r->components_absent ? "removed (the original had none)"
                                                                 : "put back verbatim");
    } else {
        printf("  config Secret data: %s\n", r->data_restored ? "replaced by the original (from "
                                                                "the backup)"
                                                              : "already the original");
        printf("  Deployments given their replicas back: %zu (all restarted)\n",
               r->deployments_scaled);
        if (r->deployments_missing[0])
            printf("  Deployments no longer there, skipped: %s\n", r->deployments_missing);
    }
    printf("  original data sha256: %s%s\n", r->original_sha,
           r->forced ? " (recorded; the data had changed since: restored as it is now, --force)"
                     : " (unchanged since recorded)");
    printf("  overlays kept in the state record for audit, no longer applied: %zu\n",
           r->overlays_kept);
    printf("The operator leaves this target alone until Secret %s/%s is deleted.\n", t->ns, sname);
}

int cmd_restore(int argc, char **argv)
{
    struct restore_flags f = {0};
    struct quay_target_ref t;
    struct quay_restore_report rep;
    struct k8s_config_options co = {0};
    struct k8s_config *cfg = NULL;
    struct k8s_client *c = NULL;
    struct k8s_error err;
    char ns[QUAY_NS_MAX + 2];
    int rc = parse_flags(argc, argv, &f);
    if (rc == 1) {
        restore_usage(stdout);
        return 0;
    }
    if (rc) {
        restore_usage(stderr);
        return 2;
    }
    enum quay_target_kind kind = f.kind ? quay_target_kind_parse(f.kind) : QUAY_TARGET_QUAYREGISTRY;
    if (!kind) {
        fprintf(stderr, "restore: --kind takes QuayRegistry or StandaloneQuay\n");
        return 2;
    }
    const char *slash = strchr(f.target, '/');
    if (!slash || (size_t)(slash - f.target) >= sizeof(ns)) {
        fprintf(stderr, "restore: --target takes NAMESPACE/NAME\n");
        return 2;
    }
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - f.target), f.target);
    k8s_error_clear(&err);
    if (quay_target_ref_init(&t, kind, ns, slash + 1, &err) != 0) {
        fprintf(stderr, "restore: --target: %s\n", err.message);
        return 2;
    }

    co.kubeconfig = f.kubeconfig;
    co.context = f.context;
    if (k8s_config_load(&co, &cfg, &err) != 0) {
        fprintf(stderr, "restore: cannot load the client configuration: %s\n", err.message);
        return 1;
    }
    rc = k8s_client_new(cfg, &c, &err);
    k8s_config_free(cfg);
    if (rc) {
        fprintf(stderr, "restore: %s\n", err.message);
        return 1;
    }
    rc = quay_composer_restore(c, &t, f.force, "quay-storage-operator restore", &rep, &err);
    k8s_client_free(c);
    if (rc) {
        /* Say what was done before what failed. */
        if (rep.readonly_released[0])
            printf("released spec.readOnly of QuayRegistry %s/%s (held by windows %s): %s\n", t.ns,
                   t.name, rep.readonly_released, readonly_back(rep.readonly_previous));
        fprintf(stderr, "restore: %s %s/%s: %s\n", quay_target_kind_name(kind), t.ns, t.name,
                err.message);
        if (rep.readonly_rc && strstr(err.message, rep.readonly_error) == NULL)
            fprintf(stderr, "restore: and spec.readOnly could not be released: %s\n",
                    rep.readonly_error);
        if (rep.record_marked) {
            char sname[QUAY_NAME_MAX + 1];
            if (quay_state_name(t.kind, t.name, sname, sizeof(sname), NULL) != 0)
                snprintf(sname, sizeof(sname), "(the state record)");
            fprintf(stderr,
                    "restore: the state record Secret %s/%s is marked restored, so a running "
                    "operator leaves this target alone; fix the cause and run restore again (or "
                    "delete that Secret to hand the target back to the operator)\n",
                    t.ns, sname);
        }
        return 1;
    }
    print_report(&t, &rep);
    return 0;
}
