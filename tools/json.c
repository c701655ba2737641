/* json.c - see json.h.  Recursive descent with the nesting bounded, so
 * hostile input costs at most JSON_MAX_DEPTH frames and one pass. */
#include "json.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const unsigned char *p, *start, *end;
  char *o;
  char *err;
  size_t errlen;
} parser;

static bool fail(parser *s, const char *what) {
  if (s->errlen && !*s->err)
    snprintf(s->err, s->errlen, "at byte %zu: %s", (size_t)(s->p - s->start), what);
  return false;
}

static void skip_ws(parser *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static bool is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence starting at s->p (a byte >= 0x80): well-formed, not
 * overlong, no surrogates, <= U+10FFFF (Unicode table 3-7). */
static bool utf8(parser *s) {
  unsigned char c = *s->p;
  int n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 1;
  else if (c == 0xE0) n = 2, lo = 0xA0;
  else if (c == 0xED) n = 2, hi = 0x9F;
  else if (c >= 0xE1 && c <= 0xEF) n = 2;
  else if (c == 0xF0) n = 3, lo = 0x90;
  else if (c == 0xF4) n = 3, hi = 0x8F;
  else if (c >= 0xF1 && c <= 0xF3) n = 3;
  else return fail(s, "invalid UTF-8");
  if (s->end - s->p <= n) return fail(s, "truncated UTF-8");
  for (int i = 1; i <= n; i++) {
    unsigned char b = s->p[i];
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return fail(s, "invalid UTF-8");
  }
  memcpy(s->o, s->p, (size_t)n + 1);
  s->o += n + 1, s->p += n + 1;
  return true;
}

static bool string(parser *s) {
  *s->o++ = (char)*s->p++; /* the opening quote */
  for (;;) {
    if (s->p >= s->end) return fail(s, "unterminated string");
    unsigned char c = *s->p;
    if (c == '"') {
      *s->o++ = (char)*s->p++;
      return true;
    }
    if (c < 0x20) return fail(s, "control character in a string (escape it)");
    if (c >= 0x80) {
      if (!utf8(s)) return false;
      continue;
    }
    if (c == '\\') {
      if (s->end - s->p < 2) return fail(s, "unterminated escape");
      unsigned char e = s->p[1];
      size_t n = 2;
      if (e == 'u') {
        if (s->end - s->p < 6) return fail(s, "truncated \\u escape");
        for (int i = 2; i < 6; i++)
          if (!is_hex(s->p[i])) return fail(s, "bad \\u escape");
        n = 6;
      } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
        return fail(s, "bad escape");
      }
      memcpy(s->o, s->p, n);
      s->o += n, s->p += n;
      continue;
    }
    *s->o++ = (char)*s->p++;
  }
}

static bool digits(parser *s) {
  if (s->p >= s->end || *s->p < '0' || *s->p > '9') return fail(s, "expected a digit");
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') *s->o++ = (char)*s->p++;
  return true;
}

static bool number(parser *s) {
  if (*s->p == '-') *s->o++ = (char)*s->p++;
  if (s->p < s->end && *s->p == '0') {
    *s->o++ = (char)*s->p++;
    if (s->p < s->end && *s->p >= '0' && *s->p <= '9') return fail(s, "leading zero");
  } else if (!digits(s)) {
    return false;
  }
  if (s->p < s->end && *s->p == '.') {
    *s->o++ = (char)*s->p++;
    if (!digits(s)) return false;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    *s->o++ = (char)*s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-')) *s->o++ = (char)*s->p++;
    if (!digits(s)) return false;
  }
  return true;
}

static bool literal(parser *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return fail(s, "expected a value");
  memcpy(s->o, word, n);
  s->o += n, s->p += n;
  return true;
}

static bool value(parser *s, int depth) {
  skip_ws(s);
  if (s->p >= s->end) return fail(s, "expected a value");
  unsigned char c = *s->p;
  if (c == '"') return string(s);
  if (c == '-' || (c >= '0' && c <= '9')) return number(s);
  if (c == 't') return literal(s, "true");
  if (c == 'f') return literal(s, "false");
  if (c == 'n') return literal(s, "null");
  if (c != '[' && c != '{') return fail(s, "expected a value");
  if (depth >= JSON_MAX_DEPTH) return fail(s, "nested too deeply");
  bool object = c == '{';
  unsigned char close = object ? '}' : ']';
  *s->o++ = (char)*s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    *s->o++ = (char)*s->p++;
    return true;
  }
  for (;;) {
    if (object) {
      skip_ws(s);
      if (s->p >= s->end || *s->p != '"') return fail(s, "expected a string key");
      if (!string(s)) return false;
      skip_ws(s);
      if (s->p >= s->end || *s->p != ':') return fail(s, "expected ':'");
      *s->o++ = (char)*s->p++;
    }
    if (!value(s, depth + 1)) return false;
    skip_ws(s);
    if (s->p >= s->end) return fail(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
    if (*s->p == close) {
      *s->o++ = (char)*s->p++;
      return true;
    }
    if (*s->p != ',') return fail(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
    *s->o++ = (char)*s->p++;
  }
}

long json_compact(const char *in, size_t len, char *out, char *err, size_t errlen) {
  parser s = {(const unsigned char *)in, (const unsigned char *)in,
              (const unsigned char *)in + len, out, err, errlen};
  if (errlen) err[0] = '\0';
  if (!value(&s, 0)) return -1;
  skip_ws(&s);
  if (s.p != s.end) {
    fail(&s, "unexpected data after the value");
    return -1;
  }
  *s.o = '\0';
  return (long)(s.o - out);
}
