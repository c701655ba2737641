/* json.h - a small, strict, bounded JSON (RFC 8259) checker for the CLI:
 * what `horus topic pub` accepts and `horus topic echo` prints. */
#ifndef HORUS_TOOL_JSON_H
#define HORUS_TOOL_JSON_H

#include <stddef.h>

#define JSON_MAX_DEPTH 64 /* arrays/objects nested deeper are refused */

/* Check that in[0..len) is exactly one JSON value (surrounding whitespace
 * allowed) and copy it to `out` without the insignificant whitespace, NUL
 * terminated; `out` needs len + 1 bytes.  Strict: UTF-8 only, no control
 * characters in strings, no NaN/Infinity, no leading zeros, no trailing
 * commas, nesting <= JSON_MAX_DEPTH.  Never reads past in[len-1].  Returns
 * the output length, or -1 with a message naming the byte offset in `err`. */
long json_compact(const char *in, size_t len, char *out, char *err, size_t errlen);

#endif
