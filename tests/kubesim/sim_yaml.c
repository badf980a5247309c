/*
 * YAML documents to cJSON trees with libyaml's event parser (see sim_yaml.h).
 * A stack holds the collections being filled; a mapping alternates between
 * expecting a key and a value.
 */
#include "sim_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 128

struct frame {
    cJSON *node;
    char *key; /* pending key of a mapping, NULL when a key is expected */
};

static cJSON *scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    char *end;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return cJSON_CreateString(v);
    if (n == 0 || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0)
        return cJSON_CreateNull();
    if (strcasecmp(v, "true") == 0)
        return cJSON_CreateTrue();
    if (strcasecmp(v, "false") == 0)
        return cJSON_CreateFalse();
    {
        long long iv;
        errno = 0;
        iv = strtoll(v, &end, 10);
        if (*end == '\0' && errno == 0 && (v[0] != '0' || n == 1))
            return cJSON_CreateNumber((double)iv);
    }
    {
        double dv;
        int digit = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i] >= '0' && v[i] <= '9')
                digit = 1;
        errno = 0;
        dv = strtod(v, &end);
        if (digit && *end == '\0' && errno == 0 && isfinite(dv) && v[0] != '0' &&
            strchr("+-.0123456789", v[0]))
            return cJSON_CreateNumber(dv);
        if (digit && *end == '\0' && errno == 0 && v[0] == '0' && n > 1 && v[1] == '.')
            return cJSON_CreateNumber(dv);
    }
    return cJSON_CreateString(v);
}

/* Attaches `node` (taken) to the collection on top of the stack, or makes it
 * the document root. */
static int attach(struct frame *st, int depth, cJSON **root, cJSON *node)
{
    struct frame *top;
    if (!node)
        return -1;
    if (depth == 0) {
        *root = node;
        return 0;
    }
    top = &st[depth - 1];
    if (cJSON_IsArray(top->node)) {
        cJSON_AddItemToArray(top->node, node);
        return 0;
    }
    if (!top->key) {
        /* A key: must be a scalar. */
        char *k;
        if (cJSON_IsString(node))
            k = strdup(node->valuestring);
        else {
            char *t = cJSON_PrintUnformatted(node);
            k = t;
        }
        cJSON_Delete(node);
        if (!k)
            return -1;
        top->key = k;
        return 0;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(top->node, top->key);
    cJSON_AddItemToObject(top->node, top->key, node);
    free(top->key);
    top->key = NULL;
    return 0;
}

cJSON *sim_yaml_parse_all(const char *text, size_t len, char *err, size_t cap)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct frame st[MAX_DEPTH];
    int depth = 0, done = 0, ok = 1;
    cJSON *docs = cJSON_CreateArray(), *root = NULL;
    if (!docs)
        return NULL;
    memset(st, 0, sizeof(st));
    if (!yaml_parser_initialize(&parser)) {
        cJSON_Delete(docs);
        snprintf(err, cap, "cannot initialize the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            snprintf(err, cap, "error converting YAML to JSON: yaml: line %lu: %s",
                     (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "syntax error");
            ok = 0;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            root = NULL;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (root && !cJSON_IsNull(root))
                cJSON_AddItemToArray(docs, root);
            else
                cJSON_Delete(root);
            root = NULL;
            break;
        case YAML_ALIAS_EVENT:
            snprintf(err, cap, "YAML aliases are not supported");
            ok = 0;
            done = 1;
            break;
        case YAML_SCALAR_EVENT:
            if (attach(st, depth, &root, scalar(&ev)) != 0) {
                snprintf(err, cap, "out of memory");
                ok = 0;
                done = 1;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= MAX_DEPTH) {
                snprintf(err, cap, "YAML nested too deeply");
                ok = 0;
                done = 1;
                break;
            }
            st[depth].node =
                ev.type == YAML_SEQUENCE_START_EVENT ? cJSON_CreateArray() : cJSON_CreateObject();
            st[depth].key = NULL;
            if (!st[depth].node) {
                ok = 0;
                done = 1;
                break;
            }
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            cJSON *node;
            depth--;
            node = st[depth].node;
            free(st[depth].key);
            st[depth].key = NULL;
            st[depth].node = NULL;
            if (attach(st, depth, &root, node) != 0) {
                ok = 0;
                done = 1;
            }
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    while (depth > 0) {
        depth--;
        free(st[depth].key);
        cJSON_Delete(st[depth].node);
    }
    yaml_parser_delete(&parser);
    if (!ok) {
        cJSON_Delete(root);
        cJSON_Delete(docs);
        return NULL;
    }
    cJSON_Delete(root);
    return docs;
}

cJSON *sim_yaml_parse(const char *text, size_t len, char *err, size_t cap)
{
    cJSON *docs = sim_yaml_parse_all(text, len, err, cap);
    cJSON *one;
    if (!docs)
        return NULL;
    if (cJSON_GetArraySize(docs) != 1) {
        snprintf(err, cap, "expected one YAML document, found %d", cJSON_GetArraySize(docs));
        cJSON_Delete(docs);
        return NULL;
    }
    one = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    return one;
}
