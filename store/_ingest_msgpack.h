/*
 * store._ingest's msgpack primitives: reading a value (checked, strings UTF-8 validated; 0 when
 * the bytes are not what was asked for) and writing one in the shortest form, as msgspec writes
 * it. Header-only, so that the parser and the record builder inline them. Nothing here makes a
 * Python object but bytes_span().
 */
#ifndef ASSETLINE_INGEST_MSGPACK_H
#define ASSETLINE_INGEST_MSGPACK_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32 /* nesting of free-form values (properties, result) */

/* ---- reading msgpack ----------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} Span;

typedef struct {
    const uint8_t *p, *end;
} Reader;

static inline int
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

static inline int
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
static inline int
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

static inline int
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

static inline int
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

static inline int
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
static inline int
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
static inline int
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

/* ---- writing records ------------------------------------------------------------------------ */

typedef struct {
    char *data;
    Py_ssize_t size, cap;
} Buf;

static inline int
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

static inline int
w_raw(Buf *b, const void *p, Py_ssize_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->size, p, (size_t)n);
    b->size += n;
    return 0;
}

/* msgpack headers in their shortest form, as msgspec writes them. */
static inline int
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

static inline int
w_str(Buf *b, const uint8_t *p, Py_ssize_t n)
{
    if (w_head(b, (uint64_t)n, 0xA0, 31, 0xD9, 0xDA) < 0)
        return -1;
    return w_raw(b, p, n);
}
#define W_LITERAL(b, literal) w_str((b), (const uint8_t *)(literal), (Py_ssize_t)(sizeof(literal) - 1))

static inline int
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

static inline int
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

static inline int
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

static inline PyObject *
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

static inline int
same_bytes(PyObject *b, Span s)
{
    return b != NULL && PyBytes_GET_SIZE(b) == s.n &&
           memcmp(PyBytes_AS_STRING(b), s.p, (size_t)s.n) == 0;
}

static inline int
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

#endif /* ASSETLINE_INGEST_MSGPACK_H */
