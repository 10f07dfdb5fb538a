/*
 * store._ingest: the store writer's compiled hot path for runs of plain task-run events.
 *
 * A fan-out sends the writer thousands of TaskRunEvents whose outputs are new assets. For a
 * run of such events this module parses the msgpack itself (no decoded structs), applies the
 * events in order and builds every LMDB record they make: assets, index entries, usages,
 * lineage edges, idempotency keys and event-log entries, byte for byte what `store.apply`
 * writes for the same events (tests/integration/test_store_native.py checks that on whole
 * stores). `store.native` calls it and puts the records; everything else, and every event this
 * module declines, goes through `store.apply`, which stays the reference for the semantics.
 *
 * What it accepts is a strict subset of what `codec.TaskRunEvent` decodes: exact field types,
 * no unknown or repeated fields, valid UTF-8, metadata of scalar values, ids of at most 200
 * bytes. Anything else (including anything invalid) is left to the Python path, which accepts
 * or rejects it with its own messages. It never touches LMDB. Across calls it keeps only two
 * bounded caches of index keys computed by Python (`configure`) and, for speed, the memory
 * of earlier batches (a few buffers, reused).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAX_ID 200          /* longest asset id (bytes) handled here: every key stays short */
#define MAX_KEY 511         /* LMDB's key limit */
#define MAX_DEPTH 32        /* nesting of free-form values (properties, result) */
#define MAX_ASSETS 1000     /* inputs + outputs of one event (usage positions are u16) */
#define MAX_META 64         /* metadata keys of one output */
#define CACHE_MAX 100000    /* index-key cache entries before a cache is cleared */

/* ---- module state (set once by configure()) ------------------------------------------------ */

static PyObject *kind_key_fn = NULL;  /* keys.kind_key(type: str, namespace: str) -> bytes */
static PyObject *meta_key_fn = NULL;  /* keys.meta_key(name: str, value) -> bytes */
static PyObject *kind_cache = NULL;   /* (type bytes, namespace bytes) -> kind key */
static PyObject *external_type = NULL; /* b"External" */

/* ---- reading msgpack ----------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} Span;

typedef struct {
    const uint8_t *p, *end;
} Reader;

static int
utf8_valid(const uint8_t *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (!(word & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c < 0xC2) {
            return 0;
        } else if (c < 0xE0) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c < 0xF0) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0))
                return 0;
            i += 3;
        } else if (c < 0xF5) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static inline uint64_t
be(const uint8_t *p, int size)
{
    uint64_t v = 0;
    for (int i = 0; i < size; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Takes `size` bytes; 0 if there are not that many. */
static inline int
take(Reader *r, Py_ssize_t size, const uint8_t **out)
{
    if (r->end - r->p < size)
        return 0;
    *out = r->p;
    r->p += size;
    return 1;
}

static inline int
peek(Reader *r, uint8_t *tag)
{
    if (r->p >= r->end)
        return 0;
    *tag = *r->p;
    return 1;
}

/* The length of a str/bin/ext/array/map whose header at r->p has a `size`-byte count. */
static inline int
count(Reader *r, int size, uint64_t *n)
{
    const uint8_t *at;
    if (!take(r, 1 + size, &at))
        return 0;
    *n = be(at + 1, size);
    return 1;
}

static int
read_str(Reader *r, Span *out)
{
    uint8_t tag;
    uint64_t n;
    if (!peek(r, &tag))
        return 0;
    if ((tag & 0xE0) == 0xA0) {
        r->p++;
        n = tag & 0x1F;
    } else if (tag == 0xD9) {
        if (!count(r, 1, &n))
            return 0;
    } else if (tag == 0xDA) {
        if (!count(r, 2, &n))
            return 0;
    } else if (tag == 0xDB) {
        if (!count(r, 4, &n))
            return 0;
    } else {
        return 0;
    }
    if (!take(r, (Py_ssize_t)n, &out->p))
        return 0;
    out->n = (Py_ssize_t)n;
    return utf8_valid(out->p, out->n);
}

/* A str, or nil (out->p = NULL). */
static int
read_opt_str(Reader *r, Span *out)
{
    uint8_t tag;
    if (!peek(r, &tag))
        return 0;
    if (tag == 0xC0) {
        r->p++;
        out->p = NULL;
        out->n = 0;
        return 1;
    }
    return read_str(r, out);
}

static int
read_int(Reader *r, int64_t *out)
{
    uint8_t tag;
    const uint8_t *at;
    if (!peek(r, &tag))
        return 0;
    if (tag <= 0x7F || tag >= 0xE0) {
        r->p++;
        *out = (int8_t)tag;
        return 1;
    }
    int size, is_signed;
    switch (tag) {
    case 0xCC: size = 1; is_signed = 0; break;
    case 0xCD: size = 2; is_signed = 0; break;
    case 0xCE: size = 4; is_signed = 0; break;
    case 0xCF: size = 8; is_signed = 0; break;
    case 0xD0: size = 1; is_signed = 1; break;
    case 0xD1: size = 2; is_signed = 1; break;
    case 0xD2: size = 4; is_signed = 1; break;
    case 0xD3: size = 8; is_signed = 1; break;
    default: return 0;
    }
    if (!take(r, 1 + size, &at))
        return 0;
    uint64_t v = be(at + 1, size);
    if (!is_signed) {
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)v;
    } else if (size == 1) {
        *out = (int8_t)v;
    } else if (size == 2) {
        *out = (int16_t)v;
    } else if (size == 4) {
        *out = (int32_t)v;
    } else {
        *out = (int64_t)v;
    }
    return 1;
}

static int
read_float(Reader *r, double *out)
{
    uint8_t tag;
    const uint8_t *at;
    if (!peek(r, &tag))
        return 0;
    if (tag == 0xCB) {
        if (!take(r, 9, &at))
            return 0;
        uint64_t bits = be(at + 1, 8);
        memcpy(out, &bits, 8);
        return 1;
    }
    if (tag == 0xCA) {
        if (!take(r, 5, &at))
            return 0;
        uint32_t bits = (uint32_t)be(at + 1, 4);
        float f;
        memcpy(&f, &bits, 4);
        *out = f;
        return 1;
    }
    return 0;
}

static int
read_header(Reader *r, uint8_t fix, uint8_t fixmask, uint8_t tag16, uint64_t *n)
{
    uint8_t tag;
    if (!peek(r, &tag))
        return 0;
    if ((tag & fixmask) == fix) {
        r->p++;
        *n = tag & (uint8_t)~fixmask;
        return 1;
    }
    if (tag == tag16)
        return count(r, 2, n);
    if (tag == tag16 + 1)
        return count(r, 4, n);
    return 0;
}

static inline int
read_map(Reader *r, uint64_t *n)
{
    return read_header(r, 0x80, 0xF0, 0xDE, n);
}

static inline int
read_array(Reader *r, uint64_t *n)
{
    return read_header(r, 0x90, 0xF0, 0xDC, n);
}

/* Skips one free-form value (what a `dict[str, Any]` holds). Declines extension types and map
 * keys other than str and int, which the Python path handles. */
static int
skip_any(Reader *r, int depth)
{
    uint8_t tag;
    uint64_t n;
    const uint8_t *at;
    Span text;
    int64_t integer;
    double number;
    if (depth > MAX_DEPTH || !peek(r, &tag))
        return 0;
    if (tag <= 0x7F || tag >= 0xE0 || (tag >= 0xCC && tag <= 0xD3))
        return read_int(r, &integer);
    if ((tag & 0xE0) == 0xA0 || (tag >= 0xD9 && tag <= 0xDB))
        return read_str(r, &text);
    if (tag == 0xC0 || tag == 0xC2 || tag == 0xC3) {
        r->p++;
        return 1;
    }
    if (tag == 0xCA || tag == 0xCB)
        return read_float(r, &number);
    if (tag >= 0xC4 && tag <= 0xC6) {
        if (!count(r, 1 << (tag - 0xC4), &n))
            return 0;
        return take(r, (Py_ssize_t)n, &at);
    }
    if ((tag & 0xF0) == 0x90 || tag == 0xDC || tag == 0xDD) {
        if (!read_array(r, &n))
            return 0;
        for (uint64_t i = 0; i < n; i++)
            if (!skip_any(r, depth + 1))
                return 0;
        return 1;
    }
    if ((tag & 0xF0) == 0x80 || tag == 0xDE || tag == 0xDF) {
        if (!read_map(r, &n))
            return 0;
        for (uint64_t i = 0; i < n; i++) {
            if (!peek(r, &tag))
                return 0;
            if ((tag & 0xE0) == 0xA0 || (tag >= 0xD9 && tag <= 0xDB)) {
                if (!read_str(r, &text))
                    return 0;
            } else if (!read_int(r, &integer)) {
                return 0;
            }
            if (!skip_any(r, depth + 1))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* A map of str keys to free-form values (`dict[str, Any]`). */
static int
skip_str_map(Reader *r)
{
    uint64_t n;
    Span key;
    if (!read_map(r, &n))
        return 0;
    for (uint64_t i = 0; i < n; i++)
        if (!read_str(r, &key) || !skip_any(r, 1))
            return 0;
    return 1;
}

static inline int
span_is(Span s, const char *text, Py_ssize_t n)
{
    return s.n == n && memcmp(s.p, text, (size_t)n) == 0;
}
#define SPAN_IS(s, literal) span_is((s), (literal), (Py_ssize_t)(sizeof(literal) - 1))

/* ---- parsed events ------------------------------------------------------------------------- */

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

#define GROW(arr, n, cap)                                                                    \
    do {                                                                                     \
        if ((n) >= (cap)) {                                                                  \
            Py_ssize_t grown = (cap) ? (cap) * 2 : 64;                                       \
            void *moved = PyMem_Realloc((arr), (size_t)grown * sizeof(*(arr)));              \
            if (moved == NULL)                                                               \
                return -1;                                                                   \
            (arr) = moved;                                                                   \
            (cap) = grown;                                                                   \
        }                                                                                    \
    } while (0)

/* The arrays of the last Parsed, kept for the next call (see the pool of Records buffers);
 * `spare_taken` while a call uses them (a call on another thread then takes its own). */
static Parsed spare;
static int spare_taken = 0;

static void
parsed_take(Parsed *ps)
{
    memset(ps, 0, sizeof(*ps));
    if (!spare_taken) {
        spare_taken = 1;
        *ps = spare;
        ps->n_events = ps->n_refs = ps->n_decls = ps->n_metas = 0;
        ps->from_spare = 1;
    }
}

static void
parsed_free(Parsed *ps)
{
    for (Py_ssize_t e = 0; e < ps->n_events; e++)
        Py_XDECREF(ps->events[e].item);
    if (ps->from_spare) {
        spare = *ps;
        spare_taken = 0;
        return;
    }
    PyMem_Free(ps->events);
    PyMem_Free(ps->refs);
    PyMem_Free(ps->decls);
    PyMem_Free(ps->metas);
}

/* 1 parsed, 0 declined, -1 out of memory. */
static int
parse_ref(Parsed *ps, Reader *r)
{
    uint64_t n;
    Span key, ignored;
    int seen = 0;
    GROW(ps->refs, ps->n_refs, ps->cap_refs);
    Ref *ref = &ps->refs[ps->n_refs];
    ref->ns.p = NULL;
    ref->ns.n = 0;
    if (!read_map(r, &n))
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!read_str(r, &key))
            return 0;
        int field;
        if (SPAN_IS(key, "id"))
            field = 1;
        else if (SPAN_IS(key, "namespace"))
            field = 2;
        else if (SPAN_IS(key, "type"))
            field = 4;
        else
            return 0;
        if (seen & field)
            return 0;
        seen |= field;
        if (field == 1) {
            if (!read_str(r, &ref->id))
                return 0;
        } else if (!read_opt_str(r, field == 2 ? &ref->ns : &ignored)) {
            return 0;
        }
    }
    if (!(seen & 1) || ref->id.n < 1 || ref->id.n > MAX_ID)
        return 0;
    ps->n_refs++;
    return 1;
}

static int
is_scalar(Reader *r)
{
    uint8_t tag;
    Span text;
    int64_t integer;
    double number;
    if (!peek(r, &tag))
        return 0;
    if (tag == 0xC2 || tag == 0xC3) {
        r->p++;
        return 1;
    }
    if (tag == 0xCA || tag == 0xCB)
        return read_float(r, &number);
    if ((tag & 0xE0) == 0xA0 || (tag >= 0xD9 && tag <= 0xDB))
        return read_str(r, &text);
    return read_int(r, &integer); /* nil (a deletion) and containers are declined */
}

static int
parse_decl(Parsed *ps, Reader *r)
{
    uint64_t n, entries;
    Span key;
    int seen = 0;
    GROW(ps->decls, ps->n_decls, ps->cap_decls);
    Decl *decl = &ps->decls[ps->n_decls];
    memset(decl, 0, sizeof(*decl));
    decl->meta_first = ps->n_metas;
    if (!read_map(r, &n))
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!read_str(r, &key))
            return 0;
        Span *into;
        int field;
        if (SPAN_IS(key, "id")) {
            field = 1, into = &decl->id;
        } else if (SPAN_IS(key, "namespace")) {
            field = 2, into = &decl->ns;
        } else if (SPAN_IS(key, "type")) {
            field = 4, into = &decl->type;
        } else if (SPAN_IS(key, "displayName")) {
            field = 8, into = &decl->display;
        } else if (SPAN_IS(key, "description")) {
            field = 16, into = &decl->desc;
        } else if (SPAN_IS(key, "metadata")) {
            field = 32, into = NULL;
        } else {
            return 0;
        }
        if (seen & field)
            return 0;
        seen |= field;
        if (field == 1) {
            if (!read_str(r, into))
                return 0;
        } else if (into != NULL) {
            if (!read_opt_str(r, into))
                return 0;
        } else {
            uint8_t tag;
            if (!peek(r, &tag))
                return 0;
            if (tag == 0xC0) {
                r->p++;
                continue;
            }
            if (!read_map(r, &entries) || entries > MAX_META)
                return 0;
            decl->entries.p = r->p;
            for (uint64_t m = 0; m < entries; m++) {
                GROW(ps->metas, ps->n_metas, ps->cap_metas);
                Meta *meta = &ps->metas[ps->n_metas];
                meta->pair.p = r->p;
                if (!read_str(r, &meta->name))
                    return 0;
                meta->value.p = r->p;
                if (!is_scalar(r))
                    return 0;
                meta->value.n = r->p - meta->value.p;
                meta->pair.n = r->p - meta->pair.p;
                /* A repeated key would leave two index entries where the decoded dict has one. */
                for (Py_ssize_t o = decl->meta_first; o < ps->n_metas; o++)
                    if (ps->metas[o].name.n == meta->name.n &&
                        memcmp(ps->metas[o].name.p, meta->name.p, (size_t)meta->name.n) == 0)
                        return 0;
                ps->n_metas++;
            }
            decl->entries.n = r->p - decl->entries.p;
            decl->meta_count = (Py_ssize_t)entries;
        }
    }
    if (!(seen & 1) || decl->id.n < 1 || decl->id.n > MAX_ID)
        return 0;
    ps->n_decls++;
    return 1;
}

enum {
    F_K, F_EXECUTION_ID, F_FLOW_NAMESPACE, F_FLOW_ID, F_TASK_ID, F_TASKRUN_ID, F_ATTEMPT,
    F_STATE, F_START, F_END, F_INPUTS, F_OUTPUTS, F_TASK_TYPE, F_VALUE, F_ITERATION,
    F_PARENT_TASKRUN_ID, F_PROPERTIES, F_RESULT, F_LOGS, F_ERROR, F_NODE, F_V, F_COUNT
};
static const char *const FIELD_NAMES[F_COUNT] = {
    "k", "execution_id", "flow_namespace", "flow_id", "task_id", "taskrun_id", "attempt",
    "state", "start", "end", "inputs", "outputs", "task_type", "value", "iteration",
    "parent_taskrun_id", "properties", "result", "logs", "error", "node", "v",
};
#define REQUIRED                                                                             \
    ((1u << F_K) | (1u << F_EXECUTION_ID) | (1u << F_FLOW_NAMESPACE) | (1u << F_FLOW_ID) |  \
     (1u << F_TASK_ID) | (1u << F_TASKRUN_ID) | (1u << F_ATTEMPT) | (1u << F_STATE) |        \
     (1u << F_START) | (1u << F_END))

static Py_ssize_t field_lengths[F_COUNT];

static int
field_of(Span key)
{
    for (int f = 0; f < F_COUNT; f++)
        if (key.n == field_lengths[f] && memcmp(key.p, FIELD_NAMES[f], (size_t)key.n) == 0)
            return f;
    return -1;
}

/* Parses one item as a TaskRunEvent this module handles: 1 yes, 0 declined, -1 no memory.
 * On 0 or -1 the arrays may hold partial entries past their counts; the caller rolls back. */
static int
parse_event(Parsed *ps, PyObject *item, int64_t version)
{
    if (!PyBytes_CheckExact(item))
        return 0;
    GROW(ps->events, ps->n_events, ps->cap_events);
    Event *ev = &ps->events[ps->n_events];
    memset(ev, 0, sizeof(*ev));
    ev->raw.p = (const uint8_t *)PyBytes_AS_STRING(item);
    ev->raw.n = PyBytes_GET_SIZE(item);
    Reader r = {ev->raw.p, ev->raw.p + ev->raw.n};
    uint64_t n, items;
    uint32_t seen = 0;
    Span key, text;
    int64_t integer, v = 1;
    double number;
    int status, hint = 0;
    if (!read_map(&r, &n))
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!read_str(&r, &key))
            return 0;
        /* msgspec writes the fields in declaration order: try the next one first. */
        int f = hint < F_COUNT && key.n == field_lengths[hint] &&
                        memcmp(key.p, FIELD_NAMES[hint], (size_t)key.n) == 0
                    ? hint
                    : field_of(key);
        hint = f + 1;
        if (f < 0 || (seen & (1u << f)))
            return 0;
        seen |= 1u << f;
        switch (f) {
        case F_K:
            if (!read_str(&r, &text) || !SPAN_IS(text, "taskrun"))
                return 0;
            break;
        case F_EXECUTION_ID:
            if (!read_str(&r, &ev->exec))
                return 0;
            break;
        case F_FLOW_NAMESPACE:
            if (!read_str(&r, &ev->flow_ns))
                return 0;
            break;
        case F_TASKRUN_ID:
            if (!read_str(&r, &ev->taskrun))
                return 0;
            break;
        case F_STATE:
            if (!read_str(&r, &ev->state))
                return 0;
            break;
        case F_FLOW_ID:
        case F_TASK_ID:
        case F_TASK_TYPE:
            if (!read_str(&r, &text))
                return 0;
            break;
        case F_VALUE:
        case F_PARENT_TASKRUN_ID:
        case F_ERROR:
        case F_NODE:
            if (!read_opt_str(&r, &text))
                return 0;
            break;
        case F_ATTEMPT:
            if (!read_int(&r, &ev->attempt))
                return 0;
            break;
        case F_ITERATION: {
            uint8_t tag;
            if (!peek(&r, &tag))
                return 0;
            if (tag == 0xC0)
                r.p++;
            else if (!read_int(&r, &integer))
                return 0;
            break;
        }
        case F_V:
            if (!read_int(&r, &v))
                return 0;
            break;
        case F_START:
            if (!read_float(&r, &number))
                return 0;
            break;
        case F_END:
            if (!read_float(&r, &ev->end))
                return 0;
            break;
        case F_INPUTS:
            if (!read_array(&r, &items) || items > MAX_ASSETS)
                return 0;
            ev->in_first = ps->n_refs;
            ev->in_count = (Py_ssize_t)items;
            for (uint64_t j = 0; j < items; j++)
                if ((status = parse_ref(ps, &r)) != 1)
                    return status;
            break;
        case F_OUTPUTS:
            if (!read_array(&r, &items) || items > MAX_ASSETS)
                return 0;
            ev->out_first = ps->n_decls;
            ev->out_count = (Py_ssize_t)items;
            for (uint64_t j = 0; j < items; j++)
                if ((status = parse_decl(ps, &r)) != 1)
                    return status;
            break;
        case F_PROPERTIES:
        case F_RESULT:
            if (!skip_str_map(&r))
                return 0;
            break;
        case F_LOGS:
            if (!read_array(&r, &items))
                return 0;
            for (uint64_t j = 0; j < items; j++) {
                uint64_t fields;
                if (!read_array(&r, &fields) || fields != 3 || !read_float(&r, &number) ||
                    !read_str(&r, &text) || !read_str(&r, &text))
                    return 0;
            }
            break;
        }
    }
    if ((seen & REQUIRED) != REQUIRED || r.p != r.end || v > version)
        return 0;
    if (ev->in_count + ev->out_count > MAX_ASSETS)
        return 0;
    /* The idempotency key: execution id, NUL, task run id, "/", attempt. */
    if (ev->exec.n + 1 + ev->taskrun.n + 1 + 20 > MAX_KEY)
        return 0;
    ps->n_events++;
    return 1;
}

/* Parses items[start:] while they are task runs handled here (at most `limit` of them). */
static int
parse_run(Parsed *ps, PyObject *items, Py_ssize_t start, Py_ssize_t limit, int64_t version)
{
    Py_ssize_t size = PyList_GET_SIZE(items);
    for (Py_ssize_t i = start; i < size && ps->n_events < limit; i++) {
        Py_ssize_t refs = ps->n_refs, decls = ps->n_decls, metas = ps->n_metas;
        int status = parse_event(ps, PyList_GET_ITEM(items, i), version);
        if (status < 0)
            return -1;
        if (status == 0) {
            ps->n_refs = refs;
            ps->n_decls = decls;
            ps->n_metas = metas;
            break;
        }
        ps->events[ps->n_events - 1].item = Py_NewRef(PyList_GET_ITEM(items, i));
    }
    return 0;
}

/* ---- writing records ------------------------------------------------------------------------ */

typedef struct {
    char *data;
    Py_ssize_t size, cap;
} Buf;

static int
reserve(Buf *b, Py_ssize_t more)
{
    if (b->size + more <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 512;
    while (cap < b->size + more)
        cap *= 2;
    char *moved = PyMem_Realloc(b->data, (size_t)cap);
    if (moved == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = moved;
    b->cap = cap;
    return 0;
}

static inline void
put_be(Buf *b, uint64_t v, int size)
{
    for (int i = size - 1; i >= 0; i--)
        b->data[b->size++] = (char)((v >> (8 * i)) & 0xFF);
}

static int
w_raw(Buf *b, const void *p, Py_ssize_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->size, p, (size_t)n);
    b->size += n;
    return 0;
}

/* msgpack headers in their shortest form, as msgspec writes them. */
static int
w_head(Buf *b, uint64_t n, uint8_t fix, uint64_t fix_max, uint8_t tag8, uint8_t tag16)
{
    if (reserve(b, 5) < 0)
        return -1;
    if (n <= fix_max) {
        b->data[b->size++] = (char)(fix | n);
    } else if (tag8 && n <= 0xFF) {
        b->data[b->size++] = (char)tag8;
        put_be(b, n, 1);
    } else if (n <= 0xFFFF) {
        b->data[b->size++] = (char)tag16;
        put_be(b, n, 2);
    } else {
        b->data[b->size++] = (char)(tag16 + 1);
        put_be(b, n, 4);
    }
    return 0;
}

static int
w_str(Buf *b, const uint8_t *p, Py_ssize_t n)
{
    if (w_head(b, (uint64_t)n, 0xA0, 31, 0xD9, 0xDA) < 0)
        return -1;
    return w_raw(b, p, n);
}
#define W_LITERAL(b, literal) w_str((b), (const uint8_t *)(literal), (Py_ssize_t)(sizeof(literal) - 1))

static int
w_opt_str(Buf *b, Span s)
{
    if (s.p == NULL) {
        if (reserve(b, 1) < 0)
            return -1;
        b->data[b->size++] = (char)0xC0;
        return 0;
    }
    return w_str(b, s.p, s.n);
}

static int
w_uint(Buf *b, uint64_t v)
{
    if (reserve(b, 9) < 0)
        return -1;
    if (v < 0x80) {
        b->data[b->size++] = (char)v;
    } else if (v <= 0xFF) {
        b->data[b->size++] = (char)0xCC;
        put_be(b, v, 1);
    } else if (v <= 0xFFFF) {
        b->data[b->size++] = (char)0xCD;
        put_be(b, v, 2);
    } else if (v <= 0xFFFFFFFFULL) {
        b->data[b->size++] = (char)0xCE;
        put_be(b, v, 4);
    } else {
        b->data[b->size++] = (char)0xCF;
        put_be(b, v, 8);
    }
    return 0;
}

static int
w_float(Buf *b, double d)
{
    uint64_t bits;
    if (reserve(b, 9) < 0)
        return -1;
    memcpy(&bits, &d, 8);
    b->data[b->size++] = (char)0xCB;
    put_be(b, bits, 8);
    return 0;
}

static PyObject *
bytes_span(Span s)
{
    return PyBytes_FromStringAndSize((const char *)s.p, s.n);
}

static inline Span
span_of(PyObject *b)
{
    Span s = {(const uint8_t *)PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)};
    return s;
}

static int
same_bytes(PyObject *b, Span s)
{
    return b != NULL && PyBytes_GET_SIZE(b) == s.n &&
           memcmp(PyBytes_AS_STRING(b), s.p, (size_t)s.n) == 0;
}

static int
w_be(Buf *b, uint64_t v, int size)
{
    if (reserve(b, size) < 0)
        return -1;
    put_be(b, v, size);
    return 0;
}

static inline int
w_bytes(Buf *b, PyObject *bytes)
{
    return w_raw(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* ---- record batches: what ingest() returns, one per database -------------------------------- */

/* The records of one database, back to back in one buffer (u32 key size, key, u32 value size,
 * value, in native byte order), handed to py-lmdb's putmulti by an iterator that makes no
 * Python object per record: it yields one (key, value) pair of `Slice`s, buffers into this
 * one, and moves them on to the next record when nobody else holds them (as CPython's zip()
 * reuses its tuple); anyone who keeps a pair gets a fresh one next time. */
typedef struct {
    PyObject_HEAD
    Buf buf;
    uint32_t *offsets; /* record starts, in put order */
    uint32_t *groups;  /* each record's group (0: none); records_finish() orders by it */
    Py_ssize_t count, cap;
    Py_ssize_t pending; /* where the size of the key or value being written goes */
    uint32_t n_groups;
} Records;

typedef struct {
    PyObject_HEAD
    Records *owner;
    const char *data;
    Py_ssize_t size;
} Slice;

typedef struct {
    PyObject_HEAD
    Records *records;
    Py_ssize_t next;
    PyObject *pair;
} RecordsIter;

static PyTypeObject RecordsType, SliceType, RecordsIterType;

/* Buffers of freed batches, kept for the next ones: a fan-out writes batch after batch of
 * about the same size, and fresh memory for each (a few MiB) would cost page faults and
 * growing copies every time. At most POOL_SIZE buffers, none over POOL_MAX bytes. */
#define POOL_SIZE 16
#define POOL_MAX ((Py_ssize_t)64 << 20)
static struct {
    char *data;
    Py_ssize_t cap;
    uint32_t *offsets, *groups;
    Py_ssize_t offsets_cap;
} pool[POOL_SIZE];
static int pooled = 0;

static Records *
records_new(void)
{
    Records *r = PyObject_New(Records, &RecordsType);
    if (r == NULL)
        return NULL;
    memset(&r->buf, 0, sizeof(*r) - offsetof(Records, buf));
    if (pooled > 0) {
        pooled--;
        r->buf.data = pool[pooled].data;
        r->buf.cap = pool[pooled].cap;
        r->offsets = pool[pooled].offsets;
        r->groups = pool[pooled].groups;
        r->cap = pool[pooled].offsets_cap;
    }
    return r;
}

static void
records_dealloc(Records *r)
{
    if (pooled < POOL_SIZE && r->buf.cap <= POOL_MAX && r->groups != NULL) {
        pool[pooled].data = r->buf.data;
        pool[pooled].cap = r->buf.cap;
        pool[pooled].offsets = r->offsets;
        pool[pooled].groups = r->groups;
        pool[pooled].offsets_cap = r->cap;
        pooled++;
    } else {
        PyMem_Free(r->buf.data);
        PyMem_Free(r->offsets);
        PyMem_Free(r->groups);
    }
    PyObject_Free(r);
}

static Py_ssize_t
records_len(Records *r)
{
    return r->count;
}

/* Starts a record in `group` (0: none); its key follows. */
static int
rec_begin(Records *r, uint32_t group)
{
    if (r->buf.size > (Py_ssize_t)UINT32_MAX - 8) {
        PyErr_SetString(PyExc_OverflowError, "a batch's records exceed 4 GiB");
        return -1;
    }
    if (r->count >= r->cap) {
        Py_ssize_t cap = r->cap ? r->cap * 2 : 256;
        uint32_t *offsets = PyMem_Realloc(r->offsets, (size_t)cap * sizeof(uint32_t));
        if (offsets == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->offsets = offsets;
        uint32_t *groups = PyMem_Realloc(r->groups, (size_t)cap * sizeof(uint32_t));
        if (groups == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->groups = groups;
        r->cap = cap;
    }
    r->offsets[r->count] = (uint32_t)r->buf.size;
    r->groups[r->count] = group;
    r->count++;
    if (reserve(&r->buf, 4) < 0)
        return -1;
    r->pending = r->buf.size;
    r->buf.size += 4;
    return 0;
}

static void
rec_close_part(Records *r)
{
    uint32_t size = (uint32_t)(r->buf.size - r->pending - 4);
    memcpy(r->buf.data + r->pending, &size, 4);
}

/* Ends the key of the record being written; its value follows. */
static int
rec_value(Records *r)
{
    rec_close_part(r);
    if (reserve(&r->buf, 4) < 0)
        return -1;
    r->pending = r->buf.size;
    r->buf.size += 4;
    return 0;
}

static inline void
rec_end(Records *r)
{
    rec_close_part(r);
}

/* Orders the records by group, keeping their order within a group (a counting sort). */
static int
records_finish(Records *r)
{
    if (r->n_groups == 0 || r->count < 2)
        return 0;
    Py_ssize_t *starts = PyMem_Calloc((size_t)r->n_groups + 2, sizeof(Py_ssize_t));
    if (starts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < r->count; i++)
        starts[r->groups[i] + 1]++;
    for (uint32_t g = 1; g <= r->n_groups + 1; g++)
        starts[g] += starts[g - 1];
    uint32_t *ordered = PyMem_Malloc((size_t)r->count * sizeof(uint32_t));
    if (ordered == NULL) {
        PyMem_Free(starts);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < r->count; i++)
        ordered[starts[r->groups[i]]++] = r->offsets[i];
    memcpy(r->offsets, ordered, (size_t)r->count * sizeof(uint32_t));
    PyMem_Free(ordered);
    PyMem_Free(starts);
    return 0;
}

static PyObject *
records_iter(Records *r)
{
    RecordsIter *it = PyObject_New(RecordsIter, &RecordsIterType);
    if (it == NULL)
        return NULL;
    it->records = (Records *)Py_NewRef(r);
    it->next = 0;
    it->pair = NULL;
    return (PyObject *)it;
}

static void
records_iter_dealloc(RecordsIter *it)
{
    Py_DECREF(it->records);
    Py_XDECREF(it->pair);
    PyObject_Free(it);
}

static Slice *
slice_new(Records *owner)
{
    Slice *slice = PyObject_New(Slice, &SliceType);
    if (slice == NULL)
        return NULL;
    slice->owner = (Records *)Py_NewRef(owner);
    slice->data = NULL;
    slice->size = 0;
    return slice;
}

static void
slice_dealloc(Slice *slice)
{
    Py_DECREF(slice->owner);
    PyObject_Free(slice);
}

static int
slice_getbuffer(Slice *slice, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)slice, (void *)slice->data, slice->size, 1, flags);
}

static PyObject *
records_iter_next(RecordsIter *it)
{
    Records *r = it->records;
    if (it->next >= r->count)
        return NULL;
    const char *at = r->buf.data + r->offsets[it->next++];
    uint32_t key_size, value_size;
    memcpy(&key_size, at, 4);
    memcpy(&value_size, at + 4 + key_size, 4);
    PyObject *pair = it->pair;
    if (pair == NULL || Py_REFCNT(pair) != 1 || Py_REFCNT(PyTuple_GET_ITEM(pair, 0)) != 1 ||
        Py_REFCNT(PyTuple_GET_ITEM(pair, 1)) != 1) {
        Slice *key = slice_new(r), *value = slice_new(r);
        PyObject *fresh = key != NULL && value != NULL ? PyTuple_New(2) : NULL;
        if (fresh == NULL) {
            Py_XDECREF(key);
            Py_XDECREF(value);
            return NULL;
        }
        PyTuple_SET_ITEM(fresh, 0, (PyObject *)key);
        PyTuple_SET_ITEM(fresh, 1, (PyObject *)value);
        Py_XSETREF(it->pair, fresh);
        pair = fresh;
    }
    Slice *key = (Slice *)PyTuple_GET_ITEM(pair, 0), *value = (Slice *)PyTuple_GET_ITEM(pair, 1);
    key->data = at + 4;
    key->size = key_size;
    value->data = at + 8 + key_size;
    value->size = value_size;
    return Py_NewRef(pair);
}

static PySequenceMethods records_as_sequence = {
    .sq_length = (lenfunc)records_len,
};

static PyBufferProcs slice_as_buffer = {
    .bf_getbuffer = (getbufferproc)slice_getbuffer,
};

static PyTypeObject RecordsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "store._ingest.Records",
    .tp_doc = "The records ingest() made for one database: iterate for (key, value) buffers.",
    .tp_basicsize = sizeof(Records),
    .tp_dealloc = (destructor)records_dealloc,
    .tp_as_sequence = &records_as_sequence,
    .tp_iter = (getiterfunc)records_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyTypeObject SliceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "store._ingest.Slice",
    .tp_doc = "A key or value of a Records batch (a read-only buffer; bytes(slice) copies it).",
    .tp_basicsize = sizeof(Slice),
    .tp_dealloc = (destructor)slice_dealloc,
    .tp_as_buffer = &slice_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyTypeObject RecordsIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "store._ingest.RecordsIterator",
    .tp_basicsize = sizeof(RecordsIter),
    .tp_dealloc = (destructor)records_iter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)records_iter_next,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

/* ---- index keys, computed by Python (keys.kind_key / keys.meta_key) and cached here ------- */

static PyObject *
cache_put(PyObject *cache, PyObject *slot, PyObject *found)
{
    if (found == NULL)
        return NULL;
    if (PyDict_GET_SIZE(cache) >= CACHE_MAX)
        PyDict_Clear(cache);
    if (PyDict_SetItem(cache, slot, found) < 0) {
        Py_DECREF(found);
        return NULL;
    }
    return found;
}

/* New reference to the kind key of (type, namespace), both UTF-8 bytes. */
static PyObject *
kind_key(PyObject *type, PyObject *ns)
{
    PyObject *slot = PyTuple_Pack(2, type, ns);
    if (slot == NULL)
        return NULL;
    PyObject *found = PyDict_GetItemWithError(kind_cache, slot);
    if (found != NULL) {
        Py_INCREF(found);
        Py_DECREF(slot);
        return found;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(slot);
        return NULL;
    }
    PyObject *type_text = PyUnicode_FromEncodedObject(type, "utf-8", "strict");
    PyObject *ns_text = PyUnicode_FromEncodedObject(ns, "utf-8", "strict");
    if (type_text != NULL && ns_text != NULL)
        found = PyObject_CallFunctionObjArgs(kind_key_fn, type_text, ns_text, NULL);
    Py_XDECREF(type_text);
    Py_XDECREF(ns_text);
    found = cache_put(kind_cache, slot, found);
    Py_DECREF(slot);
    return found;
}

/* A scalar metadata value (validated by is_scalar) as a Python object. */
static PyObject *
scalar_value(Span s)
{
    Reader r = {s.p, s.p + s.n};
    uint8_t tag = *s.p;
    if (tag == 0xC2)
        Py_RETURN_FALSE;
    if (tag == 0xC3)
        Py_RETURN_TRUE;
    if (tag == 0xCA || tag == 0xCB) {
        double number;
        read_float(&r, &number);
        return PyFloat_FromDouble(number);
    }
    if ((tag & 0xE0) == 0xA0 || (tag >= 0xD9 && tag <= 0xDB)) {
        Span text;
        read_str(&r, &text);
        return PyUnicode_DecodeUTF8((const char *)text.p, text.n, "strict");
    }
    int64_t integer;
    read_int(&r, &integer);
    return PyLong_FromLongLong(integer);
}

/* The meta-key cache: direct-mapped on a hash of the metadata key and value as they came, so a
 * hit costs no allocation. Bounded by construction. */
#define META_SLOTS 4096
static struct {
    PyObject *pair; /* bytes: the key and value as they came */
    PyObject *key;  /* their index key */
} meta_slots[META_SLOTS];

static PyObject *
meta_key(Meta *meta)
{
    uint64_t hash = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < meta->pair.n; i++)
        hash = (hash ^ meta->pair.p[i]) * 1099511628211ULL;
    size_t slot = (size_t)(hash ^ (hash >> 29)) & (META_SLOTS - 1);
    if (same_bytes(meta_slots[slot].pair, meta->pair))
        return Py_NewRef(meta_slots[slot].key);
    PyObject *name = PyUnicode_DecodeUTF8((const char *)meta->name.p, meta->name.n, "strict");
    PyObject *value = scalar_value(meta->value);
    PyObject *found = NULL, *pair = NULL;
    if (name != NULL && value != NULL)
        found = PyObject_CallFunctionObjArgs(meta_key_fn, name, value, NULL);
    Py_XDECREF(name);
    Py_XDECREF(value);
    if (found != NULL && !PyBytes_Check(found)) {
        PyErr_SetString(PyExc_TypeError, "meta_key must return bytes");
        Py_CLEAR(found);
    }
    if (found != NULL && (pair = bytes_span(meta->pair)) != NULL) {
        Py_XSETREF(meta_slots[slot].pair, pair);
        Py_XSETREF(meta_slots[slot].key, Py_NewRef(found));
    }
    return found;
}

static void
meta_slots_clear(void)
{
    for (int i = 0; i < META_SLOTS; i++) {
        Py_CLEAR(meta_slots[i].pair);
        Py_CLEAR(meta_slots[i].key);
    }
}

/* ---- applying ------------------------------------------------------------------------------- */

enum {
    DB_ASSETS, DB_INDEX, DB_USAGES, DB_DOWN, DB_UP, DB_APPLIED, DB_LOG, DB_COUNT
};

typedef struct {
    Records *rec[DB_COUNT];
    PyObject *group_ids[DB_COUNT]; /* for grouped databases: group object -> its number */
    PyObject *stored;   /* set of idempotency keys already in the store */
    PyObject *existing; /* asset id bytes -> (namespace bytes, type bytes), in the store */
    PyObject *created;  /* the same, for assets this call created */
    PyObject *seen;     /* idempotency keys applied by this call */
    PyObject *ids;      /* decl/ref index -> asset id bytes (built once) */
    Buf changes;
    /* The (type, namespace) of the previous new asset and its kind key: fan-outs repeat it. */
    PyObject *last_info, *last_kind;
} Apply;

/* New references to the (namespace, type) pair, as UTF-8 bytes, and the kind key of a new
 * asset; the previous ones again when they match (a fan-out repeats them). */
static int
kind_of(Apply *a, Span type, Span ns, PyObject **info_out, PyObject **kind_out)
{
    if (type.p == NULL)
        type = span_of(external_type);
    PyObject *info = a->last_info;
    if (info == NULL || !same_bytes(PyTuple_GET_ITEM(info, 1), type) ||
        !same_bytes(PyTuple_GET_ITEM(info, 0), ns)) {
        PyObject *t = bytes_span(type);
        PyObject *n = bytes_span(ns);
        PyObject *pair = (t != NULL && n != NULL) ? PyTuple_Pack(2, n, t) : NULL;
        PyObject *k = (t != NULL && n != NULL) ? kind_key(t, n) : NULL;
        Py_XDECREF(t);
        Py_XDECREF(n);
        if (pair == NULL || k == NULL) {
            Py_XDECREF(pair);
            Py_XDECREF(k);
            return -1;
        }
        Py_XSETREF(a->last_info, pair);
        Py_XSETREF(a->last_kind, k);
    }
    *info_out = Py_NewRef(a->last_info);
    *kind_out = Py_NewRef(a->last_kind);
    return 0;
}

/* The group number of `group` in `db` (1, 2, ... in order of first use). The records of one
 * group are put together: consecutive puts near one place in the B-tree (the usages of one
 * input, the entries of one index key, which LMDB keeps as sorted duplicates) cost less than
 * interleaved ones. 0 on error. */
static uint32_t
group_of(Apply *a, int db, PyObject *group)
{
    PyObject *number = PyDict_GetItemWithError(a->group_ids[db], group);
    if (number != NULL)
        return (uint32_t)PyLong_AsUnsignedLong(number);
    if (PyErr_Occurred())
        return 0;
    Records *r = a->rec[db];
    number = PyLong_FromUnsignedLong(r->n_groups + 1);
    if (number == NULL || PyDict_SetItem(a->group_ids[db], group, number) < 0) {
        Py_XDECREF(number);
        return 0;
    }
    Py_DECREF(number);
    return ++r->n_groups;
}

/* The index entry `key` -> `id`. */
static int
index_entry(Apply *a, PyObject *key, PyObject *id)
{
    Records *r = a->rec[DB_INDEX];
    uint32_t group = group_of(a, DB_INDEX, key);
    if (group == 0 || rec_begin(r, group) < 0 || w_bytes(&r->buf, key) < 0 || rec_value(r) < 0 ||
        w_bytes(&r->buf, id) < 0)
        return -1;
    rec_end(r);
    return 0;
}

/* Writes a new asset's record and index entries; records (namespace, type) in `created`. */
static int
new_asset(Apply *a, PyObject *id, Span type, Span ns, double when, Decl *decl, Meta *metas)
{
    PyObject *info, *kind;
    if (kind_of(a, type, ns, &info, &kind) < 0)
        return -1;
    Span ns_s = span_of(PyTuple_GET_ITEM(info, 0)), type_s = span_of(PyTuple_GET_ITEM(info, 1));
    Span id_s = span_of(id);
    Span no = {NULL, 0};
    Records *r = a->rec[DB_ASSETS];
    Buf *b = &r->buf;
    int failed =
        rec_begin(r, 0) < 0 || w_bytes(b, id) < 0 || rec_value(r) < 0 ||
        w_head(b, 8, 0x80, 15, 0, 0xDE) < 0 || W_LITERAL(b, "id") < 0 ||
        w_str(b, id_s.p, id_s.n) < 0 || W_LITERAL(b, "namespace") < 0 ||
        w_str(b, ns_s.p, ns_s.n) < 0 || W_LITERAL(b, "type") < 0 ||
        w_str(b, type_s.p, type_s.n) < 0 || W_LITERAL(b, "created") < 0 ||
        w_float(b, when) < 0 || W_LITERAL(b, "updated") < 0 || w_float(b, when) < 0 ||
        W_LITERAL(b, "displayName") < 0 || w_opt_str(b, decl ? decl->display : no) < 0 ||
        W_LITERAL(b, "description") < 0 || w_opt_str(b, decl ? decl->desc : no) < 0 ||
        W_LITERAL(b, "metadata") < 0 ||
        w_head(b, decl ? (uint64_t)decl->meta_count : 0, 0x80, 15, 0, 0xDE) < 0 ||
        (decl && decl->meta_count && w_raw(b, decl->entries.p, decl->entries.n) < 0);
    if (!failed) {
        rec_end(r);
        failed = PyDict_SetItem(a->created, id, info) < 0 || index_entry(a, kind, id) < 0;
    }
    Py_DECREF(info);
    Py_DECREF(kind);
    if (failed)
        return -1;
    if (decl) {
        for (Py_ssize_t m = 0; m < decl->meta_count; m++) {
            PyObject *entry = meta_key(&metas[decl->meta_first + m]);
            if (entry == NULL)
                return -1;
            failed = index_entry(a, entry, id) < 0;
            Py_DECREF(entry);
            if (failed)
                return -1;
        }
    }
    return 0;
}

static int
w_change(Buf *b, PyObject *id, PyObject *ns, PyObject *type, const char *kind, Py_ssize_t kind_n)
{
    Span s;
    if (w_head(b, 4, 0x90, 15, 0, 0xDC) < 0)
        return -1;
    s = span_of(id);
    if (w_str(b, s.p, s.n) < 0)
        return -1;
    s = span_of(ns);
    if (w_str(b, s.p, s.n) < 0)
        return -1;
    s = span_of(type);
    if (w_str(b, s.p, s.n) < 0)
        return -1;
    return w_str(b, (const uint8_t *)kind, kind_n);
}

/* A usage: key id, NUL, seq (8 bytes), position (2 bytes); value b"I" or b"O". The usages of
 * inputs are grouped by input. */
static int
usage(Apply *a, PyObject *id, uint64_t seq, Py_ssize_t position, char direction)
{
    Records *r = a->rec[DB_USAGES];
    uint32_t group = direction == 'I' ? group_of(a, DB_USAGES, id) : 0;
    if ((direction == 'I' && group == 0) || rec_begin(r, group) < 0 || w_bytes(&r->buf, id) < 0 ||
        w_be(&r->buf, 0, 1) < 0 || w_be(&r->buf, seq, 8) < 0 ||
        w_be(&r->buf, (uint64_t)position, 2) < 0 || rec_value(r) < 0 ||
        w_raw(&r->buf, &direction, 1) < 0)
        return -1;
    rec_end(r);
    return 0;
}

/* The lineage record from `near` to `far`: key u16(len near) + near + far, value
 * (seq, end) + far (records.EDGE_RUN). */
static int
edge(Apply *a, int db, PyObject *near, PyObject *far, uint64_t seq, double end)
{
    Records *r = a->rec[db];
    uint64_t bits;
    memcpy(&bits, &end, 8);
    if (rec_begin(r, 0) < 0 || w_be(&r->buf, (uint64_t)PyBytes_GET_SIZE(near), 2) < 0 ||
        w_bytes(&r->buf, near) < 0 || w_bytes(&r->buf, far) < 0 || rec_value(r) < 0 ||
        w_be(&r->buf, seq, 8) < 0 || w_be(&r->buf, bits, 8) < 0 || w_bytes(&r->buf, far) < 0)
        return -1;
    rec_end(r);
    return 0;
}

/* Is `id` an asset the store or this call already has? -1 on error. */
static int
known(Apply *a, PyObject *id, PyObject **info)
{
    *info = PyDict_GetItemWithError(a->existing, id);
    if (*info == NULL && !PyErr_Occurred())
        *info = PyDict_GetItemWithError(a->created, id);
    if (*info == NULL && PyErr_Occurred())
        return -1;
    return *info != NULL;
}

/* Can this call apply the event? Not when a producing output is an asset that exists or that
 * this event itself makes first (a repeated output, an output that is also an input): those
 * are updates, merged by the Python path. 1 yes, 0 no, -1 error. */
static int
applicable(Apply *a, Parsed *ps, Event *ev, int producing)
{
    if (!producing)
        return 1;
    PyObject *info;
    for (Py_ssize_t o = 0; o < ev->out_count; o++) {
        Decl *decl = &ps->decls[ev->out_first + o];
        PyObject *id = PyList_GET_ITEM(a->ids, ps->n_refs + ev->out_first + o);
        int found = known(a, id, &info);
        if (found != 0)
            return found < 0 ? -1 : 0;
        for (Py_ssize_t p = 0; p < o; p++)
            if (span_is(decl->id, (const char *)ps->decls[ev->out_first + p].id.p,
                        ps->decls[ev->out_first + p].id.n))
                return 0;
        for (Py_ssize_t i = 0; i < ev->in_count; i++)
            if (span_is(decl->id, (const char *)ps->refs[ev->in_first + i].id.p,
                        ps->refs[ev->in_first + i].id.n))
                return 0;
    }
    return 1;
}

static int
apply_event(Apply *a, Parsed *ps, Event *ev, PyObject *run_key, uint64_t seq, double now,
            int producing, int64_t version)
{
    Records *applied = a->rec[DB_APPLIED];
    if (rec_begin(applied, 0) < 0 || w_bytes(&applied->buf, run_key) < 0 ||
        rec_value(applied) < 0 || w_be(&applied->buf, seq, 8) < 0)
        return -1;
    rec_end(applied);
    Buf *changes = &a->changes;
    changes->size = 0;
    uint64_t n_changes = 0;
    Py_ssize_t position = 0;
    PyObject *info;
    for (Py_ssize_t i = 0; i < ev->in_count; i++, position++) {
        Ref *ref = &ps->refs[ev->in_first + i];
        PyObject *id = PyList_GET_ITEM(a->ids, ev->in_first + i);
        int found = known(a, id, &info);
        if (found < 0)
            return -1;
        if (!found) {
            Span ns = ref->ns.p != NULL ? ref->ns : ev->flow_ns;
            Span external = {NULL, 0};
            if (new_asset(a, id, external, ns, ev->end, NULL, NULL) < 0)
                return -1;
            info = PyDict_GetItemWithError(a->created, id);
            if (info == NULL)
                return -1;
        }
        if (usage(a, id, seq, position, 'I') < 0)
            return -1;
        if (w_change(changes, id, PyTuple_GET_ITEM(info, 0), PyTuple_GET_ITEM(info, 1), "USED", 4) < 0)
            return -1;
        n_changes++;
    }
    for (Py_ssize_t o = 0; o < ev->out_count; o++, position++) {
        Decl *decl = &ps->decls[ev->out_first + o];
        PyObject *id = PyList_GET_ITEM(a->ids, ps->n_refs + ev->out_first + o);
        if (usage(a, id, seq, position, 'O') < 0)
            return -1;
        if (!producing)
            continue;
        Span ns = decl->ns.p != NULL ? decl->ns : ev->flow_ns;
        if (new_asset(a, id, decl->type, ns, ev->end, decl, ps->metas) < 0)
            return -1;
        info = PyDict_GetItemWithError(a->created, id);
        if (info == NULL ||
            w_change(changes, id, PyTuple_GET_ITEM(info, 0), PyTuple_GET_ITEM(info, 1), "CREATED", 7) < 0)
            return -1;
        n_changes++;
    }
    if (producing) {
        for (Py_ssize_t i = 0; i < ev->in_count; i++) {
            PyObject *source = PyList_GET_ITEM(a->ids, ev->in_first + i);
            for (Py_ssize_t o = 0; o < ev->out_count; o++) {
                PyObject *target = PyList_GET_ITEM(a->ids, ps->n_refs + ev->out_first + o);
                if (edge(a, DB_DOWN, source, target, seq, ev->end) < 0 ||
                    edge(a, DB_UP, target, source, seq, ev->end) < 0)
                    return -1;
            }
        }
    }
    /* The log entry: {seq, time, event (as it came), changes, v}, as store.apply encodes it. */
    Records *log = a->rec[DB_LOG];
    Buf *b = &log->buf;
    if (rec_begin(log, 0) < 0 || w_be(b, seq, 8) < 0 || rec_value(log) < 0 ||
        w_head(b, 5, 0x80, 15, 0, 0xDE) < 0 || W_LITERAL(b, "seq") < 0 || w_uint(b, seq) < 0 ||
        W_LITERAL(b, "time") < 0 || w_float(b, now) < 0 || W_LITERAL(b, "event") < 0 ||
        w_raw(b, ev->raw.p, ev->raw.n) < 0 || W_LITERAL(b, "changes") < 0 ||
        w_head(b, n_changes, 0x90, 15, 0, 0xDC) < 0 ||
        w_raw(b, changes->data, changes->size) < 0 || W_LITERAL(b, "v") < 0 ||
        w_uint(b, (uint64_t)version) < 0)
        return -1;
    rec_end(log);
    return 0;
}

/* The idempotency key: execution id, NUL, "<taskrun id>/<attempt>" (keys.taskrun_key). */
static PyObject *
run_key_of(Event *ev)
{
    char tail[32], reversed[24];
    int digits = 0, n = 0;
    uint64_t magnitude = ev->attempt < 0 ? (uint64_t)0 - (uint64_t)ev->attempt : (uint64_t)ev->attempt;
    do {
        reversed[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    tail[digits++] = '/';
    if (ev->attempt < 0)
        tail[digits++] = '-';
    while (n)
        tail[digits++] = reversed[--n];
    PyObject *key = PyBytes_FromStringAndSize(NULL, ev->exec.n + 1 + ev->taskrun.n + digits);
    if (key == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(key);
    memcpy(p, ev->exec.p, (size_t)ev->exec.n);
    p += ev->exec.n;
    *p++ = 0;
    memcpy(p, ev->taskrun.p, (size_t)ev->taskrun.n);
    memcpy(p + ev->taskrun.n, tail, (size_t)digits);
    return key;
}

static void
apply_clear(Apply *a)
{
    for (int d = 0; d < DB_COUNT; d++) {
        Py_CLEAR(a->rec[d]);
        Py_CLEAR(a->group_ids[d]);
    }
    Py_CLEAR(a->stored);
    Py_CLEAR(a->existing);
    Py_CLEAR(a->created);
    Py_CLEAR(a->seen);
    Py_CLEAR(a->ids);
    Py_CLEAR(a->last_info);
    Py_CLEAR(a->last_kind);
    PyMem_Free(a->changes.data);
}

PyDoc_STRVAR(ingest_doc,
"ingest(items, start, limit, version, next_seq, now, lookup)\n"
"--\n\n"
"Apply the task runs at items[start:] that this module handles, in order.\n\n"
"`items` is a list (not changed during the call); at most `limit` items are parsed. For the\n"
"run of items it handles it calls `lookup(run_keys, asset_ids)`, which must return (the set\n"
"of those idempotency keys already stored, a dict of the asset ids already stored to their\n"
"(namespace, type) as UTF-8 bytes), then applies the run's events until the first it must\n"
"leave to the Python path. Returns (parsed, consumed, applied, duplicates, next_seq,\n"
"records): `parsed` items were recognised, the first `consumed` of them were applied here\n"
"(duplicates included), and `records` holds, per database (assets, index, usages,\n"
"lineage_down, lineage_up, applied, log), a Records batch to give to putmulti().");

static PyObject *
ingest(PyObject *module, PyObject *args)
{
    PyObject *items, *lookup;
    Py_ssize_t start, limit;
    long long version, next_seq;
    double now;
    if (!PyArg_ParseTuple(args, "O!nnLLdO:ingest", &PyList_Type, &items, &start, &limit,
                          &version, &next_seq, &now, &lookup))
        return NULL;
    if (kind_key_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "store._ingest.configure() was not called");
        return NULL;
    }
    if (start < 0 || next_seq < 0) {
        PyErr_SetString(PyExc_ValueError, "start and next_seq must not be negative");
        return NULL;
    }
    Parsed ps;
    parsed_take(&ps);
    Apply a = {0};
    PyObject *run_keys = NULL, *asset_ids = NULL, *found = NULL, *result = NULL;
    uint64_t seq = (uint64_t)next_seq;
    Py_ssize_t consumed = 0, applied = 0, duplicates = 0;
    if (parse_run(&ps, items, start, limit, version) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (ps.n_events == 0) {
        result = Py_BuildValue("nnnnL()", (Py_ssize_t)0, (Py_ssize_t)0, (Py_ssize_t)0,
                               (Py_ssize_t)0, next_seq);
        goto done;
    }
    /* Asset ids as bytes: refs first, then decls (Apply.ids), and the distinct ones. */
    a.ids = PyList_New(ps.n_refs + ps.n_decls);
    run_keys = PyList_New(ps.n_events);
    PyObject *distinct = PySet_New(NULL);
    if (a.ids == NULL || run_keys == NULL || distinct == NULL) {
        Py_XDECREF(distinct);
        goto done;
    }
    for (Py_ssize_t i = 0; i < ps.n_refs + ps.n_decls; i++) {
        Span s = i < ps.n_refs ? ps.refs[i].id : ps.decls[i - ps.n_refs].id;
        PyObject *id = bytes_span(s);
        if (id == NULL || PySet_Add(distinct, id) < 0) {
            Py_XDECREF(id);
            Py_DECREF(distinct);
            goto done;
        }
        PyList_SET_ITEM(a.ids, i, id);
    }
    for (Py_ssize_t e = 0; e < ps.n_events; e++) {
        PyObject *key = run_key_of(&ps.events[e]);
        if (key == NULL) {
            Py_DECREF(distinct);
            goto done;
        }
        PyList_SET_ITEM(run_keys, e, key);
    }
    asset_ids = PySequence_List(distinct);
    Py_DECREF(distinct);
    if (asset_ids == NULL)
        goto done;
    found = PyObject_CallFunctionObjArgs(lookup, run_keys, asset_ids, NULL);
    if (found == NULL)
        goto done;
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 2 ||
        !PyAnySet_Check(PyTuple_GET_ITEM(found, 0)) || !PyDict_Check(PyTuple_GET_ITEM(found, 1))) {
        PyErr_SetString(PyExc_TypeError, "lookup must return (set, dict)");
        goto done;
    }
    a.stored = Py_NewRef(PyTuple_GET_ITEM(found, 0));
    a.existing = Py_NewRef(PyTuple_GET_ITEM(found, 1));
    {
        PyObject *id, *info;
        Py_ssize_t at = 0;
        while (PyDict_Next(a.existing, &at, &id, &info)) {
            if (!PyBytes_Check(id) || !PyTuple_Check(info) || PyTuple_GET_SIZE(info) != 2 ||
                !PyBytes_Check(PyTuple_GET_ITEM(info, 0)) ||
                !PyBytes_Check(PyTuple_GET_ITEM(info, 1))) {
                PyErr_SetString(PyExc_TypeError,
                                "lookup must map asset ids (bytes) to (namespace, type) bytes");
                goto done;
            }
        }
    }
    a.created = PyDict_New();
    a.seen = PySet_New(NULL);
    if (a.created == NULL || a.seen == NULL)
        goto done;
    for (int d = 0; d < DB_COUNT; d++) {
        a.rec[d] = records_new();
        a.group_ids[d] = PyDict_New();
        if (a.rec[d] == NULL || a.group_ids[d] == NULL)
            goto done;
    }
    for (Py_ssize_t e = 0; e < ps.n_events; e++) {
        Event *ev = &ps.events[e];
        PyObject *key = PyList_GET_ITEM(run_keys, e);
        int dup = PySet_Contains(a.stored, key);
        if (dup == 0)
            dup = PySet_Contains(a.seen, key);
        if (dup < 0)
            goto done;
        if (dup) {
            duplicates++;
            consumed++;
            continue;
        }
        int producing = SPAN_IS(ev->state, "SUCCESS") || SPAN_IS(ev->state, "WARNING");
        int ok = applicable(&a, &ps, ev, producing);
        if (ok < 0)
            goto done;
        if (!ok)
            break;
        if (PySet_Add(a.seen, key) < 0 || apply_event(&a, &ps, ev, key, seq, now, producing, version) < 0)
            goto done;
        seq++;
        applied++;
        consumed++;
    }
    {
        PyObject *records = PyTuple_New(DB_COUNT);
        if (records == NULL)
            goto done;
        for (int d = 0; d < DB_COUNT; d++) {
            if (records_finish(a.rec[d]) < 0) {
                Py_DECREF(records);
                goto done;
            }
            PyTuple_SET_ITEM(records, d, (PyObject *)a.rec[d]);
            a.rec[d] = NULL;
        }
        result = Py_BuildValue("nnnnKN", ps.n_events, consumed, applied, duplicates,
                               (unsigned long long)seq, records);
    }
done:
    Py_XDECREF(run_keys);
    Py_XDECREF(asset_ids);
    Py_XDECREF(found);
    apply_clear(&a);
    parsed_free(&ps);
    return result;
}

PyDoc_STRVAR(declined_doc,
"declined(items, start, version)\n"
"--\n\n"
"How many items from items[start:] `ingest` would not handle (up to the first it would).");

static PyObject *
declined(PyObject *module, PyObject *args)
{
    PyObject *items;
    Py_ssize_t start;
    long long version;
    if (!PyArg_ParseTuple(args, "O!nL:declined", &PyList_Type, &items, &start, &version))
        return NULL;
    Parsed ps;
    parsed_take(&ps);
    Py_ssize_t size = PyList_GET_SIZE(items), i;
    for (i = start < 0 ? 0 : start; i < size; i++) {
        ps.n_events = ps.n_refs = ps.n_decls = ps.n_metas = 0;
        int status = parse_event(&ps, PyList_GET_ITEM(items, i), version);
        if (status < 0) {
            ps.n_events = 0;
            parsed_free(&ps);
            return PyErr_NoMemory();
        }
        if (status == 1)
            break;
    }
    ps.n_events = 0; /* nothing parsed here holds a reference */
    parsed_free(&ps);
    return PyLong_FromSsize_t(i - (start < 0 ? 0 : start));
}

PyDoc_STRVAR(configure_doc,
"configure(kind_key, meta_key)\n"
"--\n\n"
"Give the module the functions that spell index keys (store.keys.kind_key, meta_key).");

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *kind, *meta;
    if (!PyArg_ParseTuple(args, "OO:configure", &kind, &meta))
        return NULL;
    if (!PyCallable_Check(kind) || !PyCallable_Check(meta)) {
        PyErr_SetString(PyExc_TypeError, "configure() takes two callables");
        return NULL;
    }
    Py_XSETREF(kind_key_fn, Py_NewRef(kind));
    Py_XSETREF(meta_key_fn, Py_NewRef(meta));
    PyDict_Clear(kind_cache);
    meta_slots_clear();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ingest", ingest, METH_VARARGS, ingest_doc},
    {"declined", declined, METH_VARARGS, declined_doc},
    {"configure", configure, METH_VARARGS, configure_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "store._ingest",
    "The store writer's compiled hot path for runs of plain task-run events.", -1, methods,
};

PyMODINIT_FUNC
PyInit__ingest(void)
{
    for (int f = 0; f < F_COUNT; f++)
        field_lengths[f] = (Py_ssize_t)strlen(FIELD_NAMES[f]);
    kind_cache = PyDict_New();
    external_type = PyBytes_FromString("External");
    if (!kind_cache || !external_type)
        return NULL;
    if (PyType_Ready(&RecordsType) < 0 || PyType_Ready(&SliceType) < 0 ||
        PyType_Ready(&RecordsIterType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Records", (PyObject *)&RecordsType) < 0 ||
        PyModule_AddObjectRef(module, "Slice", (PyObject *)&SliceType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
