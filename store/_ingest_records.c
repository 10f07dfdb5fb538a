/*
 * store._ingest's record batches (see _ingest_records.h). The iterator yields one (key, value)
 * pair of `Slice`s, buffers into the batch, and moves them on to the next record only while
 * nobody else holds them (as CPython's zip() reuses its tuple): anyone who keeps a pair gets a
 * fresh one next time. Buffers of freed batches are kept for the next ones.
 */
#include "_ingest_records.h"

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

Records *
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

int
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

/* Orders the records by group, keeping their order within a group (a counting sort). */
int
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

int
records_ready(PyObject *module)
{
    if (PyType_Ready(&RecordsType) < 0 || PyType_Ready(&SliceType) < 0 ||
        PyType_Ready(&RecordsIterType) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "Records", (PyObject *)&RecordsType) < 0 ||
        PyModule_AddObjectRef(module, "Slice", (PyObject *)&SliceType) < 0)
        return -1;
    return 0;
}
