/* cmd_bridge.c - `horus bridge`: forward topics to and from Zenoh.  The
 * bridge uses Zenoh's maintained Python binding, so this execs
 * `python -m horus bridge` (python_exec.c); the per-message work is the C
 * wire format (src/core/wire.c). */
#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus bridge [--out TOPIC[=KEY]]... [--in KEYEXPR[=TOPIC]]...\n"
          "                    [--connect ENDPOINT]... [--listen ENDPOINT]...\n"
          "                    [--prefix P] [--queue N] [--seconds S] [--report S]\n"
          "                    [--connect-timeout S] [--retries N]\n\n"
          "Forward local topics to Zenoh (key PREFIX/TOPIC unless given; PREFIX\n"
          "defaults to the host name) and samples of Zenoh key expressions to local\n"
          "topics (key 'robot2/cam' becomes topic 'robot2.cam').  One bridge per\n"
          "machine; other programs keep their zero-copy local path.  A slow network\n"
          "drops the oldest frames (reported once a second), never stalls a local\n"
          "publisher.  Needs Zenoh's Python binding: pip install eclipse-zenoh\n"
          "(or pip install 'horus-shm[bridge]').\n\n"
          "example: horus bridge --out camera.front --in 'robot2/**' \\\n"
          "                      --connect tcp/127.0.0.1:7447\n");
}

static int run(const cli_opts *o, int argc, char **argv) {
  return cli_exec_python(o, "bridge", argc, argv);
}

const cli_command cli_cmd_bridge = {"bridge", "forward topics to and from other machines over Zenoh",
                                    run, help};
