/* test_json.c - the CLI's strict JSON checker (tools/json.c) against
 * accepted and refused texts, and a hostile run: random mutations,
 * truncations and deep nesting, each parsed from an exactly-sized heap copy
 * (so ASan sees any read past the end), must be refused or give output that
 * parses again to itself. */
#include <stdlib.h>
#include <string.h>

#include "../../tools/json.c"
#include "check.h"

static long compact(const char *in, size_t len, char *out) {
  char *copy = malloc(len ? len : 1); /* exactly len bytes: no NUL to lean on */
  memcpy(copy, in, len);
  char err[128];
  long n = json_compact(copy, len, out, err, sizeof err);
  CHECK(n >= 0 || err[0] != '\0');
  free(copy);
  return n;
}

static void accepts(const char *in, const char *want) {
  char out[512];
  long n = compact(in, strlen(in), out);
  CHECK(n >= 0);
  if (n >= 0 && strcmp(out, want) != 0) {
    check_failures++;
    fprintf(stderr, "compact(%s) = %s, wanted %s\n", in, out, want);
  }
}

static void refuses(const char *in) {
  char out[512];
  long n = compact(in, strlen(in), out);
  if (n >= 0) {
    check_failures++;
    fprintf(stderr, "accepted %s\n", in);
  }
  check_count++;
}

int main(void) {
  accepts(" {\"speed\" : 1.5, \"on\": [true, false, null]} ", "{\"speed\":1.5,\"on\":[true,false,null]}");
  accepts("-0.0e+10", "-0.0e+10");
  accepts("\"\\u00e9\\n\\\"\"", "\"\\u00e9\\n\\\"\"");
  accepts("\"caf\xc3\xa9 \xf0\x9f\xa4\x96\"", "\"caf\xc3\xa9 \xf0\x9f\xa4\x96\"");
  accepts("[]", "[]");
  accepts("{}", "{}");
  accepts("0", "0");
  const char *bad[] = {"", " ", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity", "nul",
                       "[1,]", "{\"a\":1,}", "{a:1}", "[1 2]", "\"a", "\"\\x\"", "\"\\u12\"",
                       "\"\x01\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                       "\"\xe2\x82\"", "1 2", "{\"a\"}", "[", "{", "truex", "'a'"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) refuses(bad[i]);

  /* nesting: JSON_MAX_DEPTH is accepted, one more refused, a huge one too */
  char deep[4 * JSON_MAX_DEPTH + 8], out[4 * JSON_MAX_DEPTH + 8];
  for (int extra = 0; extra <= 1; extra++) {
    int d = JSON_MAX_DEPTH + extra;
    memset(deep, '[', (size_t)d);
    memset(deep + d, ']', (size_t)d);
    long n = compact(deep, 2 * (size_t)d, out);
    CHECK(extra ? n < 0 : n == 2 * d);
  }
  size_t huge = 1u << 20;
  char *many = malloc(huge), *hout = malloc(huge + 1);
  memset(many, '[', huge);
  CHECK(compact(many, huge, hout) < 0);
  memset(many, '{', huge);
  CHECK(compact(many, huge, hout) < 0);
  free(many);
  free(hout);

  /* hostile: mutate valid texts at random, byte by byte */
  const char *seeds[] = {"{\"speed\":1.5,\"mode\":\"auto\",\"list\":[1,-2.5e3,true,null,{}]}",
                         "[\"\\u0041\\n\",\"\xc3\xa9\xe2\x82\xac\xf0\x9f\xa4\x96\",0,[[[]]]]",
                         "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"e\"}]}}}"};
  const char alphabet[] = "{}[]\":,.-+eE0123456789 \\u\"tfn\x80\xc3\xff\x00";
  long accepted = 0, refused = 0;
  for (int iter = 0; iter < 200000; iter++) {
    char buf[128], o1[129], o2[129];
    const char *seed = seeds[check_rand() % 3];
    size_t len = strlen(seed);
    memcpy(buf, seed, len);
    int edits = 1 + (int)(check_rand() % 4);
    for (int e = 0; e < edits; e++) {
      size_t at = check_rand() % len;
      switch (check_rand() % 3) {
        case 0: buf[at] = alphabet[check_rand() % (sizeof alphabet - 1)]; break;
        case 1: buf[at] = (char)check_rand(); break;
        default: len = at + 1; break; /* truncate */
      }
    }
    long n = compact(buf, len, o1);
    if (n < 0) {
      refused++;
      continue;
    }
    accepted++;
    CHECK((size_t)n <= len && o1[n] == '\0');
    long m = compact(o1, (size_t)n, o2); /* the output is JSON, and compact already */
    CHECK(m == n && memcmp(o1, o2, (size_t)n) == 0);
  }
  CHECK(accepted > 0 && refused > 0);
  printf("hostile: %ld accepted, %ld refused\n", accepted, refused);
  return check_report("test_json");
}
