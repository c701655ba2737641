/* cmd_record.c - `horus record`, `horus play`, `horus info`: MCAP recordings.
 * Writing and reading MCAP is the maintained `mcap` Python library, so these
 * exec `python -m horus <command>` (python_exec.c); the pixels go from the
 * pool block to the file by buffer, without per-pixel Python work. */
#include "cli.h"

#define NEEDS "Needs the mcap library: pip install 'horus-shm[record]'.\n"

static void record_help(FILE *out) {
  fprintf(out,
          "usage: horus record -o FILE.mcap TOPIC... | --all\n"
          "                    [--duration S] [--max-size MB] [--compression none|zstd|lz4]\n"
          "                    [--report S]\n\n"
          "Record topics (or every topic, including ones that appear while recording)\n"
          "into an MCAP file that ROS 2 and Foxglove tools open: topic camera.front is\n"
          "channel /camera/front; Image and DepthImage are sensor_msgs/msg/Image,\n"
          "PointCloud sensor_msgs/msg/PointCloud2.  Records until Ctrl-C, --duration or\n"
          "--max-size, printing progress once a second, and always finalises the file.\n"
          "The recorder is a subscriber: a slow disk drops the oldest messages (counted\n"
          "per topic), never stalls a publisher.  A full disk stops it with exit 1 and\n"
          "the file finalised up to what fit.\n" NEEDS);
}

static void play_help(FILE *out) {
  fprintf(out,
          "usage: horus play FILE.mcap [--rate R] [--loop] [--topics T...]\n"
          "                  [--start S] [--duration S] [--remap OLD=NEW]...\n"
          "                  [--allow-pickle]\n\n"
          "Publish a recording's messages on horus topics at the recorded pace\n"
          "(--rate 0: as fast as possible).  Exits 0 at the end, 130 on Ctrl-C.\n"
          "Pickled Python values load only with --allow-pickle (trusted files).\n" NEEDS);
}

static void info_help(FILE *out) {
  fprintf(out,
          "usage: horus info FILE.mcap [--json]\n\n"
          "Topics, types, message counts, rates, duration and size of a recording.\n" NEEDS);
}

static int run(const cli_opts *o, int argc, char **argv) {
  return cli_exec_python(o, argv[0], argc, argv);
}

const cli_command cli_cmd_record = {"record", "record topics to an MCAP file", run, record_help};
const cli_command cli_cmd_play = {"play", "publish a recorded MCAP file's messages", run, play_help};
const cli_command cli_cmd_info = {"info", "describe an MCAP recording", run, info_help};
