/* horus.c - the `horus` command: look at and manage what libhorus keeps in
 * shared memory, and run the demo.  Subcommands live in cmd_*.c; this file
 * parses the global options and dispatches. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Commands contributed by other files may be absent from a build (weak);
 * the table skips those. */
extern const cli_command cli_cmd_topic __attribute__((weak));
extern const cli_command cli_cmd_clean __attribute__((weak));
extern const cli_command cli_cmd_bridge __attribute__((weak));
extern const cli_command cli_cmd_record __attribute__((weak));
extern const cli_command cli_cmd_play __attribute__((weak));
extern const cli_command cli_cmd_info __attribute__((weak));
extern const cli_command cli_cmd_view __attribute__((weak));
extern const cli_command cli_cmd_namespaces __attribute__((weak));

static const cli_command *const all_commands[] = {
    &cli_cmd_topic,  &cli_cmd_pool,   &cli_cmd_clean, &cli_cmd_demo,
    &cli_cmd_bridge, &cli_cmd_record, &cli_cmd_play,  &cli_cmd_info,
    &cli_cmd_view,   &cli_cmd_namespaces};
#define N_COMMANDS ((int)(sizeof all_commands / sizeof *all_commands))

static const cli_command *commands(int i) { return i < N_COMMANDS ? all_commands[i] : NULL; }

int cli_fail(const char *cmd, int err, const char *what) {
  const char *detail = horus_errmsg();
  fprintf(stderr, "horus %s: %s: %s\n", cmd, what,
          detail && *detail ? detail : horus_strerror(err));
  return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "horus%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'horus %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
  return CLI_USAGE;
}

void cli_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c < 0x20) fprintf(out, "\\u%04x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

const char *cli_namespace(void) {
  const char *ns = getenv("HORUS_NAMESPACE");
  return ns && *ns ? ns : "default";
}

bool cli_namespace_exists(void) {
  const char *base = getenv("HORUS_SHM_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/horus-%u/%s", base && *base ? base : "/dev/shm",
           (unsigned)geteuid(), cli_namespace());
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The library's rule for names (src/core/shm.c), checked here so a bad
 * value is reported as the option it came from. */
static bool namespace_valid(const char *ns) {
  size_t n = strlen(ns);
  if (n < 1 || n > HORUS_NAME_MAX || ns[0] == '.') return false;
  for (const char *p = ns; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '_' || *p == '-'))
      return false;
  return true;
}

/* --namespace NS / --namespace=NS at argv[*i]: set HORUS_NAMESPACE.
 * Returns 1 if it was one (advancing *i past its value), 0 if not, or
 * -CLI_USAGE after printing the error. */
static int namespace_option(const char *cmd, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (strcmp(a, "--namespace") != 0 && strncmp(a, "--namespace=", 12) != 0) return 0;
  const char *ns = a[11] == '=' ? a + 12 : (*i + 1 < argc ? argv[++*i] : NULL);
  if (!ns || !*ns) return -cli_usage(cmd, "--namespace needs a name");
  if (!namespace_valid(ns))
    return -cli_usage(cmd, "--namespace '%s': use 1-%d characters of [A-Za-z0-9._-], not "
                      "starting with '.'", ns, HORUS_NAME_MAX);
  setenv("HORUS_NAMESPACE", ns, 1);
  return 1;
}

bool cli_is_help(const char *arg) {
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: horus [--namespace NS] [--json] <command> [args...]\n\n"
          "Shared-memory images, point clouds and tensors: inspect and manage\n"
          "what flows in a namespace.\n\ncommands:\n");
  for (int i = 0; i < N_COMMANDS; i++) {
    const cli_command *c = commands(i);
    if (c) fprintf(out, "  %-10s %s\n", c->name, c->summary);
  }
  fprintf(out,
          "\noptions:\n"
          "  --namespace NS  use namespace NS (default: $HORUS_NAMESPACE or 'default')\n"
          "  --json          machine-readable output\n"
          "  --version       print the version\n"
          "  -h, --help      this help; 'horus <command> --help' for a command\n\n"
          "exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found\n");
}

int main(int argc, char **argv) {
  cli_opts opts = {false};
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (cli_is_help(a)) {
      usage(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--version") == 0) {
      printf("horus %s\n", HORUS_VERSION_STRING);
      return CLI_OK;
    } else if (strcmp(a, "--json") == 0) {
      opts.json = true;
    } else if (strncmp(a, "--namespace", 11) == 0) {
      int r = namespace_option(NULL, argc, argv, &i);
      if (r < 0) return -r;
      if (r == 0) return cli_usage(NULL, "unknown option '%s'", a);
    } else {
      return cli_usage(NULL, "unknown option '%s'", a);
    }
  }
  if (i >= argc) {
    usage(stderr);
    return CLI_USAGE;
  }
  for (int k = 0; k < N_COMMANDS; k++) {
    const cli_command *c = commands(k);
    if (!c || strcmp(c->name, argv[i]) != 0) continue;
    /* Global options anywhere: `horus topic list --namespace NS` is
     * `horus --namespace NS topic list`; --namespace is taken out here (the
     * Python commands see it through HORUS_NAMESPACE). */
    int n = i + 1;
    for (int j = i + 1; j < argc; j++) {
      if (strcmp(argv[j], "--") == 0) {
        while (j < argc) argv[n++] = argv[j++];
        break;
      }
      if (cli_is_help(argv[j])) {
        c->help(stdout);
        return CLI_OK;
      }
      if (strcmp(argv[j], "--json") == 0) opts.json = true;
      int r = namespace_option(c->name, argc, argv, &j);
      if (r < 0) return -r;
      if (r == 0) argv[n++] = argv[j];
    }
    argv[n] = NULL;
    return c->run(&opts, n - i, argv + i);
  }
  return cli_usage(NULL, "unknown command '%s'", argv[i]);
}
