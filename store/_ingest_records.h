/*
 * store._ingest's record batches: the records ingest() makes for one LMDB database, back to
 * back in one buffer, and the Python type (`Records`) that hands them to py-lmdb's putmulti.
 */
#ifndef ASSETLINE_INGEST_RECORDS_H
#define ASSETLINE_INGEST_RECORDS_H

#include "_ingest_msgpack.h"

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

Records *records_new(void);
/* Starts a record in `group` (0: none); its key follows. */
int rec_begin(Records *r, uint32_t group);
/* Orders the records by group, keeping their order within a group. */
int records_finish(Records *r);
/* Readies the types and adds `Records` and `Slice` to the module. */
int records_ready(PyObject *module);

static inline void
rec_close_part(Records *r)
{
    uint32_t size = (uint32_t)(r->buf.size - r->pending - 4);
    memcpy(r->buf.data + r->pending, &size, 4);
}

/* Ends the key of the record being written; its value follows. */
static inline int
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

#endif /* ASSETLINE_INGEST_RECORDS_H */
