/* cmd_topic.c - `horus topic list|echo|hz|bw|save`: see what flows. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "png.h"

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static void help(FILE *out) {
  fprintf(out,
          "usage: horus topic list [--json]\n"
          "       horus topic echo NAME [--once] [--count N] [--json]\n"
          "       horus topic hz NAME [--window N] [--seconds S]\n"
          "       horus topic bw NAME [--seconds S]\n"
          "       horus topic save NAME FILE.png [--timeout S]\n\n"
          "list: every topic of the namespace with its type, live publishers and\n"
          "      subscribers, messages sent, rate and age of the last message.\n"
          "echo: the metadata of each message (type, shape, dtype, encoding,\n"
          "      frame_id, timestamp, sequence); --once for one.\n"
          "hz:   message rate and interval jitter, once a second (like ros2 topic hz).\n"
          "bw:   payload bytes per second.\n"
          "save: write the next image as a PNG (depth images colour-mapped).\n"
          "Stops on Ctrl-C; exit 3 when the topic does not exist.\n");
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int list(const cli_opts *o) {
  horus_topic_info info[256];
  int n = horus_topic_list(info, 256);
  if (n < 0) return cli_fail("topic list", n, "listing topics");
  if (n > 256) n = 256;
  uint64_t now = now_ns();
  if (o->json) printf("[");
  else if (n) printf("%-32s %-13s %4s %4s %10s %8s %12s\n", "NAME", "TYPE", "PUBS", "SUBS",
                     "SENT", "DROPPED", "LAST");
  for (int i = 0; i < n; i++) {
    double age = info[i].last_send_ns ? (double)(now - info[i].last_send_ns) / 1e9 : -1;
    if (o->json) {
      printf("%s{\"name\": ", i ? ", " : "");
      cli_json_string(stdout, info[i].name);
      printf(", \"type\": \"%s\", \"capacity\": %u, \"publishers\": %u, \"subscribers\": %u, "
             "\"sent\": %llu, \"dropped\": %llu, \"last_message_age_s\": ",
             horus_msg_type_name(info[i].type), info[i].capacity, info[i].publishers,
             info[i].subscribers, (unsigned long long)info[i].sent,
             (unsigned long long)info[i].dropped);
      if (age < 0) printf("null}");
      else printf("%.3f}", age);
    } else {
      char last[32];
      if (age < 0) snprintf(last, sizeof last, "never");
      else snprintf(last, sizeof last, "%.1fs ago", age);
      printf("%-32s %-13s %4u %4u %10llu %8llu %12s\n", info[i].name,
             horus_msg_type_name(info[i].type), info[i].publishers, info[i].subscribers,
             (unsigned long long)info[i].sent, (unsigned long long)info[i].dropped, last);
    }
  }
  if (o->json) printf("]\n");
  else if (!n) printf("no topics in this namespace\n");
  return CLI_OK;
}

/* Open topic `name` with whatever type it has. */
static int open_existing(const char *cmd, const char *name, horus_topic **t) {
  horus_topic_info info[256];
  int n = horus_topic_list(info, 256);
  if (n < 0) return cli_fail(cmd, n, "listing topics");
  for (int i = 0; i < n && i < 256; i++) {
    if (strcmp(info[i].name, name) != 0) continue;
    int r = horus_topic_open(name, info[i].type, 0, t);
    return r ? cli_fail(cmd, r, name) : CLI_OK;
  }
  fprintf(stderr, "horus %s: no topic named '%s' in this namespace (see 'horus topic list')\n",
          cmd, name);
  return CLI_NOTFOUND;
}

/* Receive the next message, waiting in short slices so Ctrl-C works.
 * Returns 0, 1 on interruption or timeout, or a negative error. */
static int next(horus_topic *t, double timeout_s, horus_msg *m, horus_tensor **x) {
  uint64_t end = timeout_s > 0 ? now_ns() + (uint64_t)(timeout_s * 1e9) : UINT64_MAX;
  while (!interrupted && now_ns() < end) {
    int r = horus_topic_recv(t, 100000000, m, x);
    if (r == 0) return 0;
    if (r != HORUS_ETIMEDOUT && r != HORUS_EINTR && r != HORUS_EAGAIN) return r;
  }
  return 1;
}

static void print_meta(const cli_opts *o, const horus_msg *m, const horus_tensor *x) {
  const horus_tensor_desc *d = horus_tensor_get_desc(x);
  char shape[160];
  size_t k = 0;
  shape[k++] = '[';
  for (int i = 0; i < d->ndim && k < sizeof shape - 24; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, i ? ", %lld" : "%lld", (long long)d->shape[i]);
  snprintf(shape + k, sizeof shape - k, "]");
  const char *enc = m->type == HORUS_MSG_IMAGE ? horus_encoding_name((horus_encoding)m->meta.kind_data) : "";
  if (o->json) {
    printf("{\"sequence\": %llu, \"type\": \"%s\", \"shape\": %s, \"dtype\": \"%s\", "
           "\"encoding\": \"%s\", \"frame_id\": ", (unsigned long long)m->sequence,
           horus_msg_type_name((horus_msg_type)m->type), shape,
           horus_dtype_name((horus_dtype)d->dtype), enc);
    char id[HORUS_FRAME_ID_MAX + 1];
    snprintf(id, sizeof id, "%.*s", HORUS_FRAME_ID_MAX, m->meta.frame_id);
    cli_json_string(stdout, id);
    printf(", \"timestamp_ns\": %lld, \"nbytes\": %llu}\n", (long long)m->meta.timestamp_ns,
           (unsigned long long)horus_tensor_nbytes(x));
  } else {
    printf("seq %llu: %s shape=%s dtype=%s%s%s frame_id='%.*s' timestamp_ns=%lld\n",
           (unsigned long long)m->sequence, horus_msg_type_name((horus_msg_type)m->type), shape,
           horus_dtype_name((horus_dtype)d->dtype), *enc ? " encoding=" : "", enc,
           HORUS_FRAME_ID_MAX, m->meta.frame_id, (long long)m->meta.timestamp_ns);
  }
  fflush(stdout);
}

static int echo(const cli_opts *o, horus_topic *t, long count) {
  for (long i = 0; count < 0 || i < count; i++) {
    horus_msg m;
    horus_tensor *x;
    int r = next(t, -1, &m, &x);
    if (r == 1) break;
    if (r < 0) return cli_fail("topic echo", r, horus_topic_name(t));
    print_meta(o, &m, x);
    horus_tensor_free(x);
  }
  return CLI_OK;
}

static int rate(const cli_opts *o, horus_topic *t, bool bytes, double seconds, long window) {
  uint64_t start = now_ns(), last = 0, report_at = start + 1000000000ull;
  double sum = 0, sum2 = 0, mn = INFINITY, mx = 0;
  uint64_t n = 0, nbytes = 0;
  for (;;) {
    horus_msg m;
    horus_tensor *x;
    double left = seconds > 0 ? seconds - (double)(now_ns() - start) / 1e9 : 1.0;
    if (left <= 0) break;
    int r = next(t, left < 1.0 ? left : 1.0, &m, &x);
    if (r < 0) return cli_fail(bytes ? "topic bw" : "topic hz", r, horus_topic_name(t));
    if (interrupted) break;
    uint64_t now = now_ns();
    if (r == 0) {
      nbytes += horus_tensor_nbytes(x);
      horus_tensor_free(x);
      if (last) {
        double dt = (double)(now - last) / 1e9;
        sum += dt, sum2 += dt * dt, n++;
        mn = dt < mn ? dt : mn, mx = dt > mx ? dt : mx;
      }
      last = now;
    }
    if (now >= report_at) {
      double elapsed = (double)(now - (report_at - 1000000000ull)) / 1e9;
      if (bytes) {
        if (o->json) printf("{\"bytes_per_s\": %.0f}\n", nbytes / elapsed);
        else printf("%.2f MB/s\n", nbytes / elapsed / 1e6);
      } else if (n) {
        double mean = sum / (double)n, sd = sqrt(fmax(0, sum2 / (double)n - mean * mean));
        if (o->json)
          printf("{\"rate_hz\": %.3f, \"min_s\": %.6f, \"max_s\": %.6f, \"std_dev_s\": %.6f, "
                 "\"window\": %llu}\n", 1 / mean, mn, mx, sd, (unsigned long long)n);
        else
          printf("average rate: %.3f\n\tmin: %.6fs max: %.6fs std dev: %.6fs window: %llu\n",
                 1 / mean, mn, mx, sd, (unsigned long long)n);
      } else if (!o->json) {
        printf("no new messages\n");
      }
      fflush(stdout);
      nbytes = 0;
      report_at = now + 1000000000ull;
      if (window > 0 && n >= (uint64_t)window) sum = sum2 = 0, n = 0, mn = INFINITY, mx = 0;
    }
  }
  return CLI_OK;
}

/* A jet-like colour for v in [0, 1]. */
static void colormap(double v, uint8_t *rgb) {
  double r = fmin(fmax(1.5 - fabs(4 * v - 3), 0), 1), g = fmin(fmax(1.5 - fabs(4 * v - 2), 0), 1),
         b = fmin(fmax(1.5 - fabs(4 * v - 1), 0), 1);
  rgb[0] = (uint8_t)(r * 255), rgb[1] = (uint8_t)(g * 255), rgb[2] = (uint8_t)(b * 255);
}

static int save(horus_topic *t, const char *path, double timeout) {
  horus_msg m;
  horus_tensor *x;
  int r = next(t, timeout, &m, &x);
  if (r == 1) {
    fprintf(stderr, "horus topic save: no message on '%s' within %.0f s\n", horus_topic_name(t),
            timeout);
    return CLI_FAIL;
  }
  if (r < 0) return cli_fail("topic save", r, horus_topic_name(t));
  horus_frame f;
  if (m.type != HORUS_MSG_IMAGE && m.type != HORUS_MSG_DEPTH) {
    horus_tensor_free(x);
    fprintf(stderr, "horus topic save: '%s' carries %s messages, not images\n",
            horus_topic_name(t), horus_msg_type_name((horus_msg_type)m.type));
    return CLI_FAIL;
  }
  if ((r = horus_frame_from_msg(&m, x, &f))) {
    horus_tensor_free(x);
    return cli_fail("topic save", r, "message");
  }
  const horus_tensor_desc *d = horus_tensor_get_desc(f.tensor);
  uint32_t h = (uint32_t)d->shape[0], w = (uint32_t)d->shape[1];
  int type = PNG_RGB, depth = 8, ch = 3;
  const uint8_t *src = horus_tensor_data(f.tensor);
  uint8_t *out = NULL;
  size_t row = 0;
  uint64_t n = (uint64_t)w * h;
  if (f.type == HORUS_MSG_DEPTH) {
    double lo, hi, mean;
    uint64_t valid;
    horus_depth_statistics(&f, &lo, &hi, &mean, &valid);
    out = malloc(n * 3);
    for (uint64_t i = 0; out && i < n; i++) {
      double v;
      horus_depth_get(&f, (uint32_t)(i % w), (uint32_t)(i / w), &v);
      if (!(v > 0) || !isfinite(v)) memset(out + i * 3, 0, 3);
      else colormap(hi > lo ? (v - lo) / (hi - lo) : 0.5, out + i * 3);
    }
    row = (size_t)w * 3;
  } else {
    horus_encoding e = horus_image_encoding(&f);
    ch = horus_encoding_channels(e);
    horus_dtype dt = horus_encoding_dtype(e);
    int outc = ch == 4 ? 4 : ch == 3 ? 3 : 1;
    type = outc == 4 ? PNG_RGBA : outc == 3 ? PNG_RGB : PNG_GRAY;
    depth = dt == HORUS_UINT16 ? 16 : 8;
    row = (size_t)w * (size_t)outc * (depth / 8);
    out = malloc(row * h);
    bool swap = e == HORUS_ENC_BGR8 || e == HORUS_ENC_BGRA8;
    for (uint64_t i = 0; out && i < n; i++) {
      for (int c = 0; c < outc; c++) {
        int sc = swap && c < 3 ? 2 - c : c; /* BGR -> RGB */
        uint64_t at = i * (uint64_t)ch + (uint64_t)sc;
        if (dt == HORUS_UINT8) {
          out[i * outc + c] = src[at];
        } else if (dt == HORUS_UINT16) {
          uint16_t v = ((const uint16_t *)(const void *)src)[at];
          out[(i * outc + c) * 2] = (uint8_t)(v >> 8), out[(i * outc + c) * 2 + 1] = (uint8_t)v;
        } else {
          float v = ((const float *)(const void *)src)[at];
          out[i * outc + c] = (uint8_t)(fmin(fmax(v, 0), 1) * 255 + 0.5);
        }
      }
    }
  }
  int rc = CLI_OK;
  if (!out || png_write(path, w, h, type, depth, out, row) != 0) {
    fprintf(stderr, "horus topic save: cannot write %s\n", path);
    rc = CLI_FAIL;
  } else {
    printf("saved %ux%u %s to %s\n", w, h,
           f.type == HORUS_MSG_DEPTH ? "depth image (colour-mapped)"
                                     : horus_encoding_name(horus_image_encoding(&f)), path);
  }
  free(out);
  horus_frame_clear(&f);
  return rc;
}

static int run(const cli_opts *o, int argc, char **argv) {
  if (argc < 2) return cli_usage("topic", "missing a subcommand (list, echo, hz, bw, save)");
  const char *sub = argv[1];
  if (strcmp(sub, "list") == 0) {
    for (int i = 2; i < argc; i++)
      if (strcmp(argv[i], "--json") != 0) return cli_usage("topic", "unexpected '%s'", argv[i]);
    return list(o);
  }
  bool known = strcmp(sub, "echo") == 0 || strcmp(sub, "hz") == 0 || strcmp(sub, "bw") == 0 ||
               strcmp(sub, "save") == 0;
  if (!known) return cli_usage("topic", "unknown subcommand '%s'", sub);
  if (argc < 3 || argv[2][0] == '-') return cli_usage("topic", "%s needs a topic name", sub);
  const char *name = argv[2], *path = NULL;
  long count = -1, window = -1;
  double seconds = -1, timeout = 10;
  int i = 3;
  if (strcmp(sub, "save") == 0) {
    if (argc < 4 || argv[3][0] == '-') return cli_usage("topic", "save needs NAME FILE.png");
    path = argv[3];
    i = 4;
  }
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (strcmp(a, "--json") == 0) continue;
    if (strcmp(a, "--once") == 0) count = 1;
    else if (strcmp(a, "--count") == 0 && v) count = strtol(v, &end, 10), i++;
    else if (strcmp(a, "--window") == 0 && v) window = strtol(v, &end, 10), i++;
    else if (strcmp(a, "--seconds") == 0 && v) seconds = strtod(v, &end), i++;
    else if (strcmp(a, "--timeout") == 0 && v) timeout = strtod(v, &end), i++;
    else return cli_usage("topic", "unexpected argument '%s'", a);
    if (end && (*end || end == v)) return cli_usage("topic", "'%s' needs a number, got '%s'", a, v);
  }
  horus_topic *t;
  int r = open_existing(sub, name, &t);
  if (r) return r;
  signal(SIGINT, on_sigint);
  if (strcmp(sub, "echo") == 0) r = echo(o, t, count);
  else if (strcmp(sub, "hz") == 0) r = rate(o, t, false, seconds, window);
  else if (strcmp(sub, "bw") == 0) r = rate(o, t, true, seconds, -1);
  else r = save(t, path, timeout);
  horus_topic_close(t);
  return r;
}

const cli_command cli_cmd_topic = {"topic", "list topics; echo, hz, bw, save one", run, help};
