/* cli.h - what the `horus` command's subcommand files share. */
#ifndef HORUS_CLI_H
#define HORUS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "horus/horus.h"

/* Exit codes: 0 success, 1 the operation failed, 2 bad usage,
 * 3 the named topic or pool does not exist. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_NOTFOUND = 3 };

typedef struct cli_opts {
  bool json; /* machine-readable output */
} cli_opts;

typedef struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(const cli_opts *opts, int argc, char **argv); /* argv[0] = name */
  void (*help)(FILE *out);
} cli_command;

/* Print "horus <cmd>: <message>" and the library's detail; returns CLI_FAIL. */
int cli_fail(const char *cmd, int err, const char *what);

/* "horus: <message>" usage error; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print `s` as a JSON string literal. */
void cli_json_string(FILE *out, const char *s);

/* True if argv[i] is -h or --help. */
bool cli_is_help(const char *arg);

/* Exec `python -m horus <argv...>` for a command whose work is Python
 * (python_exec.c), passing the global --json on (given before the command,
 * it is not in argv); returns only on failure, with CLI_FAIL. */
int cli_exec_python(const cli_opts *o, const char *cmd, int argc, char **argv);

/* The namespace in use ($HORUS_NAMESPACE, else "default"). */
const char *cli_namespace(void);

/* Whether the namespace's directory exists; read-only commands check this
 * first because the library creates the directory on first use. */
bool cli_namespace_exists(void);

/* The name of process `pid` (cmd_pool.c): from its node file in the
 * namespace directory ("<pid> <comm>", written by libhorus when the process
 * first used it, kept after a crash until `horus clean`), else
 * /proc/<pid>/comm, else "?". */
void cli_process_name(int32_t pid, char *out, size_t len);

extern const cli_command cli_cmd_pool;
extern const cli_command cli_cmd_demo;

#endif
