/*
 * store._ingest's parser: recognises the task runs the compiled path handles and records their
 * fields as spans into the items' bytes, without making Python objects.
 *
 * What it accepts is a strict subset of what `codec.TaskRunEvent` decodes: exact field types,
 * no unknown or repeated fields, valid UTF-8, metadata of scalar values without repeated keys,
 * ids of at most MAX_ID bytes. Anything else is declined (0), never rejected: the Python path
 * then accepts or rejects it with the codec's own messages.
 */
#include "_ingest_parse.h"

#define MAX_ID 200      /* longest asset id (bytes) handled here: every key stays short */
#define MAX_KEY 511     /* LMDB's key limit */
#define MAX_ASSETS 1000 /* inputs + outputs of one event (usage positions are u16) */
#define MAX_META 64     /* metadata keys of one output */

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

void
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

void
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

void
parse_init(void)
{
    for (int f = 0; f < F_COUNT; f++)
        field_lengths[f] = (Py_ssize_t)strlen(FIELD_NAMES[f]);
}

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
int
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
int
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
