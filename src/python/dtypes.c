/* dtypes.c - what each horus dtype is called in NumPy, the array interface
 * and the buffer protocol, and back.  One table, expanded from
 * HORUS_DTYPE_LIST (horus/tensor.h) like the core's: every entry follows
 * from the dtype's DLPack code and item size, so a new dtype needs no edit
 * here unless it is of a new kind. */
#include "horus_py.h"

/* Array-interface kind letter of a DLPack code; 0 for bfloat16, which
 * neither NumPy nor the buffer protocol spells. */
#define KIND(dl) ((dl) == kDLBool ? 'b' : (dl) == kDLInt ? 'i' : (dl) == kDLUInt ? 'u' \
                  : (dl) == kDLFloat ? 'f' : 0)
#define BY_SIZE(size, a, b, c, d) ((size) == 1 ? (a) : (size) == 2 ? (b) : (size) == 4 ? (c) : (d))
#define NPY(dl, size)                                                                   \
  ((dl) == kDLBool    ? NPY_BOOL                                                        \
   : (dl) == kDLInt   ? BY_SIZE(size, NPY_INT8, NPY_INT16, NPY_INT32, NPY_INT64)        \
   : (dl) == kDLUInt  ? BY_SIZE(size, NPY_UINT8, NPY_UINT16, NPY_UINT32, NPY_UINT64)    \
   : (dl) == kDLFloat ? BY_SIZE(size, -1, NPY_FLOAT16, NPY_FLOAT32, NPY_FLOAT64)        \
                      : -1)
/* PEP 3118 (struct module) codes, standard sizes. */
#define FORMAT(dl, size)                                         \
  ((dl) == kDLBool    ? '?'                                      \
   : (dl) == kDLInt   ? BY_SIZE(size, 'b', 'h', 'i', 'q')        \
   : (dl) == kDLUInt  ? BY_SIZE(size, 'B', 'H', 'I', 'Q')        \
   : (dl) == kDLFloat ? BY_SIZE(size, 0, 'e', 'f', 'd')          \
                      : 0)

static const struct {
  int npy;            /* NumPy type number, -1 for none */
  char kind;          /* 'b', 'i', 'u', 'f'; 0 for none */
  char typestr[4];    /* array interface: byte order, kind, size */
  char format[2];     /* buffer protocol */
} table[HORUS_DTYPE_COUNT] = {
#define ENTRY(suffix, name, size, dl)                                                  \
  [HORUS_##suffix] = {NPY(dl, size), KIND(dl),                                         \
                      {(size) == 1 ? '|' : '<', KIND(dl), (char)('0' + (size)), '\0'}, \
                      {FORMAT(dl, size), '\0'}},
    HORUS_DTYPE_LIST(ENTRY)
#undef ENTRY
};

/* "bool, int8, ..., float64": every name, for error messages. */
#define NAME(suffix, name, size, dl) ", " #name
static const char names[] = HORUS_DTYPE_LIST(NAME);
#undef NAME
const char *const hpy_dtype_names = names + 2;

static int of_kind(char kind, Py_ssize_t size) {
  for (int d = 0; d < HORUS_DTYPE_COUNT; d++)
    if (kind && table[d].kind == kind && (Py_ssize_t)horus_dtype_size((horus_dtype)d) == size)
      return d;
  return -1;
}

int hpy_npy_type(horus_dtype d) {
  return (unsigned)d < HORUS_DTYPE_COUNT ? table[d].npy : -1;
}

const char *hpy_dtype_typestr(horus_dtype d) {
  return (unsigned)d < HORUS_DTYPE_COUNT && table[d].kind ? table[d].typestr : NULL;
}

const char *hpy_dtype_format(horus_dtype d) {
  return (unsigned)d < HORUS_DTYPE_COUNT && table[d].format[0] ? table[d].format : NULL;
}

int hpy_dtype_from_npy(int type_num) {
  /* Every import asks, so the answers for NumPy's builtin type numbers
   * (all below 32) are kept: memo[n] is the answer + 2, 0 until known. */
  static signed char memo[32];
  bool builtin = type_num >= 0 && type_num < (int)sizeof memo;
  if (builtin && memo[type_num]) return memo[type_num] - 2;
  /* NPY_LONG / NPY_LONGLONG etc. alias the sized names; compare by kind and
   * size so every integer spelling maps. */
  PyArray_Descr *d = PyArray_DescrFromType(type_num);
  if (!d) {
    PyErr_Clear();
    return -1;
  }
  char kind = d->kind;
  Py_ssize_t size = (Py_ssize_t)PyDataType_ELSIZE(d);
  Py_DECREF(d);
  int r = of_kind(kind, size);
  if (builtin) memo[type_num] = (signed char)(r + 2);
  return r;
}

int hpy_dtype_from_format(const char *fmt, Py_ssize_t itemsize) {
  if (!fmt) return HORUS_UINT8;
  if (*fmt == '<' || *fmt == '=' || *fmt == '@' || *fmt == '|') fmt++;
  if (fmt[0] == '\0' || fmt[1] != '\0') return -1;
  /* Integer codes name a C type whose size the exporter gives. */
  if (strchr("bhilqn", *fmt)) return of_kind('i', itemsize);
  if (strchr("BHILQNc", *fmt)) return of_kind('u', itemsize);
  for (int d = 0; d < HORUS_DTYPE_COUNT; d++)
    if (table[d].kind != 'i' && table[d].kind != 'u' && table[d].format[0] == *fmt)
      return d;
  return -1;
}
