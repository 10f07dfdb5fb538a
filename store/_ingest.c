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
 * This file holds the module, the index-key caches and the applying of events; the parser
 * (what it accepts: a strict subset of what `codec.TaskRunEvent` decodes) is in
 * _ingest_parse.c, the record batches in _ingest_records.c, the msgpack primitives in
 * _ingest_msgpack.h. Anything declined (including anything invalid) is left to the Python
 * path, which accepts or rejects it with its own messages. It never touches LMDB. Across calls
 * it keeps only two bounded caches of index keys computed by Python (`configure`) and, for
 * speed, the memory of earlier batches (a few buffers, reused).
 */
#include "_ingest_msgpack.h"
#include "_ingest_parse.h"
#include "_ingest_records.h"

#define CACHE_MAX 100000 /* index-key cache entries before a cache is cleared */

/* ---- module state (set once by configure()) ------------------------------------------------ */

static PyObject *kind_key_fn = NULL;  /* keys.kind_key(type: str, namespace: str) -> bytes */
static PyObject *meta_key_fn = NULL;  /* keys.meta_key(name: str, value) -> bytes */
static PyObject *kind_cache = NULL;   /* (type bytes, namespace bytes) -> kind key */
static PyObject *external_type = NULL; /* b"External" */

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
    double number = 0;
    Span text = {NULL, 0};
    int64_t integer = 0;
    if (tag == 0xC2)
        Py_RETURN_FALSE;
    if (tag == 0xC3)
        Py_RETURN_TRUE;
    if (tag == 0xCA || tag == 0xCB) {
        if (!read_float(&r, &number))
            goto bad;
        return PyFloat_FromDouble(number);
    }
    if ((tag & 0xE0) == 0xA0 || (tag >= 0xD9 && tag <= 0xDB)) {
        if (!read_str(&r, &text))
            goto bad;
        return PyUnicode_DecodeUTF8((const char *)text.p, text.n, "strict");
    }
    if (read_int(&r, &integer))
        return PyLong_FromLongLong(integer);
bad: /* the parser checked the value: this is a bug */
    PyErr_SetString(PyExc_SystemError, "store._ingest: a metadata value it parsed is unreadable");
    return NULL;
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
    parse_init();
    kind_cache = PyDict_New();
    external_type = PyBytes_FromString("External");
    if (!kind_cache || !external_type)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (records_ready(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
