/*
 * How stored objects are shown to a client: in the requested version (the
 * kind's conversion hook, apiVersion/kind set), as PartialObjectMetadata
 * (Accept: ...;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1), or as a
 * meta.k8s.io/v1 Table for server-side printing (Accept: ...;as=Table), with
 * Name/Age for built-ins and a CRD's additionalPrinterColumns evaluated with
 * the JSONPath subset kubectl's printer columns use.
 */
#ifndef QSO_SIM_RENDER_H
#define QSO_SIM_RENDER_H

#include <cjson/cJSON.h>

#include "sim_watch.h"

struct sim_kind;

/* What the Accept header asks for. */
enum sim_as sim_accept_as(const char *accept, int list);

/* A new tree: `stored` in k's version with apiVersion and kind set. */
cJSON *sim_render(const struct sim_kind *k, const cJSON *stored);
/* The PartialObjectMetadata of a served object. */
cJSON *sim_render_meta(const cJSON *served);

/* A Table with the kind's columnDefinitions (when `with_columns`) and no rows. */
cJSON *sim_table_new(const struct sim_kind *k, int with_columns);
/* Appends a row for `served`; include: "None", "Metadata" (default) or "Object". */
int sim_table_add_row(cJSON *table, const struct sim_kind *k, const cJSON *served,
                      const char *include);

/* Evaluates a printer-column JSONPath (".spec.x", ".status.conditions[?(@.type==
 * \"Ready\")].status", ".items[0].name") against obj: the first match or NULL. */
const cJSON *sim_jsonpath_first(const cJSON *obj, const char *path);

#endif
