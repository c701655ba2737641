/* cmd_view.c - `horus view`: the namespace's topics, live in Foxglove.  The
 * server is the maintained Foxglove SDK's (Python), so this execs
 * `python -m horus view` (python_exec.c). */
#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus view [--port 8765] [--host 127.0.0.1] [--max-rate HZ] [TOPIC...]\n"
          "       horus view --rerun [--web-port 9090] [--grpc-port 9876] [--history 256MB]\n"
          "                  [--max-rate HZ] [TOPIC...]\n\n"
          "Serve the namespace's topics (all of them, including ones that appear\n"
          "later, unless TOPICs are named) over Foxglove's WebSocket protocol and\n"
          "print the URL to open in the Foxglove app (Open connection > Foxglove\n"
          "WebSocket).  Images and depth images are foxglove.RawImage, point clouds\n"
          "foxglove.PointCloud, generic topics JSON; horus 'camera.front' is the\n"
          "channel '/camera/front'.  At most --max-rate messages per second per\n"
          "topic (default 30): a slow viewer drops frames, never stalls a\n"
          "publisher.  Stops on Ctrl-C with a count of what was sent and dropped.\n"
          "Needs the Foxglove SDK: pip install 'horus-shm[view]'.\n\n"
          "--rerun: stream the topics to Rerun instead and serve its bundled web\n"
          "viewer (offline); open the printed http:// URL in a browser.  Images,\n"
          "depth images (with their meter scale), point clouds as 3-D points,\n"
          "numbers as scalars, other values as text.  The newest --history bytes\n"
          "of log data (default 256MB) are kept for viewers, older dropped.\n"
          "Telemetry is off unless RERUN_TELEMETRY=1: the SDK's, and the web\n"
          "viewer's analytics, blocked by the page's Content-Security-Policy.\n"
          "Needs the Rerun SDK: pip install 'horus-shm[rerun]'.\n");
}

static int run(const cli_opts *o, int argc, char **argv) {
  return cli_exec_python(o, "view", argc, argv);
}

const cli_command cli_cmd_view = {"view", "serve topics live to Foxglove (WebSocket)", run, help};
