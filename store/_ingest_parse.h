/*
 * store._ingest's parser: which items are task runs it handles, and their fields as spans into
 * the items' bytes (see _ingest_parse.c for what it accepts).
 */
#ifndef ASSETLINE_INGEST_PARSE_H
#define ASSETLINE_INGEST_PARSE_H

#include "_ingest_msgpack.h"

typedef struct {
    Span id, ns; /* ns.p == NULL: none given */
} Ref;

typedef struct {
    Span id, ns, type, display, desc; /* .p == NULL: none given */
    Span entries;                     /* the metadata map's entries, as they came */
    Py_ssize_t meta_first, meta_count;
} Decl;

typedef struct {
    Span pair;  /* a metadata key and its value, as they came (the index-key cache's key) */
    Span name;
    Span value; /* a scalar */
} Meta;

typedef struct {
    PyObject *item; /* the bytes it was parsed from (a reference held while parsed) */
    Span raw, exec, flow_ns, taskrun, state;
    int64_t attempt;
    double end;
    Py_ssize_t in_first, in_count, out_first, out_count;
} Event;

typedef struct {
    Event *events;
    Py_ssize_t n_events, cap_events;
    Ref *refs;
    Py_ssize_t n_refs, cap_refs;
    Decl *decls;
    Py_ssize_t n_decls, cap_decls;
    Meta *metas;
    Py_ssize_t n_metas, cap_metas;
    int from_spare; /* its arrays are the spare ones (see parsed_take) */
} Parsed;

/* Fills the field-name table; call once before parsing. */
void parse_init(void);
/* A Parsed with the spare arrays of an earlier call when free (see _ingest_parse.c). */
void parsed_take(Parsed *ps);
void parsed_free(Parsed *ps);
/* 1: items[i] is a task run handled here (appended to ps), 0: declined, -1: no memory. */
int parse_event(Parsed *ps, PyObject *item, int64_t version);
/* Parses items[start:] while they are handled here, at most `limit`; -1 on no memory. */
int parse_run(Parsed *ps, PyObject *items, Py_ssize_t start, Py_ssize_t limit, int64_t version);

#endif /* ASSETLINE_INGEST_PARSE_H */
