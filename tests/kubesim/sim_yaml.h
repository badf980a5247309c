/*
 * YAML to cJSON, for request bodies sent as application/yaml and for fixture
 * files (several documents per file). Plain scalars are typed as
 * sigs.k8s.io/yaml types them (null, booleans, integers, floats, else
 * strings); quoted scalars are strings. Anchors and aliases are refused.
 */
#ifndef QSO_SIM_YAML_H
#define QSO_SIM_YAML_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses every document of `text` into a JSON array (documents that are empty
 * are skipped). NULL on a syntax error, with a message in err. */
cJSON *sim_yaml_parse_all(const char *text, size_t len, char *err, size_t cap);

/* The single document of `text`; NULL on error or when it holds several. */
cJSON *sim_yaml_parse(const char *text, size_t len, char *err, size_t cap);

#endif
