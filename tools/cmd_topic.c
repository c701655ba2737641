/* cmd_topic.c - `horus topic list|info|echo|pub|hz|bw|save`: see what
 * flows, as `ros2 topic` does.  Generic topics whose values are JSON
 * (src/python/topic.c, kind GENERIC_JSON) are shown and published as JSON;
 * pickled ones are Python's alone and shown by size. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "json.h"
#include "png.h"

/* Encodings of a generic (HORUS_MSG_BYTES) message (horus/topic.h). */
enum { GENERIC_BYTES = HORUS_BYTES_RAW, GENERIC_PICKLE = HORUS_BYTES_PICKLE,
       GENERIC_JSON = HORUS_BYTES_JSON };

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static void help(FILE *out) {
  fprintf(out,
          "usage: horus topic list\n"
          "       horus topic info NAME\n"
          "       horus topic echo NAME [--once] [--count N] [--no-data]\n"
          "       horus topic pub NAME VALUE [--rate HZ] [--times N] [--once]\n"
          "       horus topic pub NAME --file PICTURE.png [--rate HZ] [--times N] [--once]\n"
          "       horus topic hz NAME [--window N] [--seconds S]\n"
          "       horus topic bw NAME [--seconds S]\n"
          "       horus topic save NAME FILE.png [--timeout S]\n"
          "Every command also takes --json and --namespace NS, anywhere.\n\n"
          "list: every topic of the namespace, sorted by name, with its type, live\n"
          "      publishers and subscribers, messages sent and dropped, rate (Hz,\n"
          "      measured over half a second) and age of the last message.\n"
          "info: one topic: type, capacity, counts, and every publisher and\n"
          "      subscriber by process name and PID with what it sent, received\n"
          "      and dropped (dead ones marked).\n"
          "echo: each message: metadata, a human timestamp (raw ns with --json) and\n"
          "      the data: a generic topic's value (JSON), min/max/mean per channel\n"
          "      of an image or depth image, the bounds of a point cloud;\n"
          "      --no-data for metadata only, --once for one message.\n"
          "pub:  publish VALUE (JSON, e.g. '{\"speed\": 1.5}') on a generic topic,\n"
          "      --rate HZ (default 1) until Ctrl-C or --times N.  --file publishes a\n"
          "      PNG on an image topic (8-bit gray/RGB/RGBA, 16-bit gray); this\n"
          "      command has no zlib, so it reads uncompressed PNGs (as save writes)\n"
          "      and refuses compressed ones by name.\n"
          "hz:   message rate and interval jitter, once a second (like ros2 topic hz).\n"
          "bw:   bytes per second, message count and mean/min/max size.\n"
          "save: write the next image as a PNG (depth images colour-mapped, the\n"
          "      range used printed); other extensions are refused.\n"
          "Read-only commands never create anything.  Stops on Ctrl-C; exit 3 when\n"
          "the topic does not exist, 2 for bad usage.\n");
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const horus_topic_info *)a)->name, ((const horus_topic_info *)b)->name);
}

/* The topics of the namespace, sorted by name; 0 topics (not an error) when
 * the namespace does not exist, which is never created here. */
static int snapshot(const char *cmd, horus_topic_info *info, int max, int *n) {
  *n = 0;
  if (!cli_namespace_exists()) return CLI_OK;
  int r = horus_topic_list(info, max);
  if (r < 0) return cli_fail(cmd, r, "listing topics");
  *n = r > max ? max : r;
  qsort(info, (size_t)*n, sizeof *info, by_name);
  return CLI_OK;
}

#define LIST_MAX 256
#define RATE_WINDOW_S 0.5

static int list(const cli_opts *o) {
  static horus_topic_info info[LIST_MAX], later[LIST_MAX];
  int n, m = 0, r = snapshot("topic list", info, LIST_MAX, &n);
  if (r) return r;
  uint64_t t0 = now_ns();
  if (n) { /* the rate: messages sent over a short window */
    struct timespec ts = {0, (long)(RATE_WINDOW_S * 1e9)};
    nanosleep(&ts, NULL);
    if ((r = snapshot("topic list", later, LIST_MAX, &m))) return r;
  }
  uint64_t now = now_ns();
  double window = (double)(now - t0) / 1e9;
  if (o->json) printf("[");
  else if (n) printf("%-32s %-13s %4s %4s %10s %8s %9s %12s\n", "NAME", "TYPE", "PUBS", "SUBS",
                     "SENT", "DROPPED", "RATE(Hz)", "LAST");
  for (int i = 0; i < n; i++) {
    double rate = 0;
    for (int j = 0; j < m; j++)
      if (strcmp(later[j].name, info[i].name) == 0 && later[j].sent >= info[i].sent) {
        rate = (double)(later[j].sent - info[i].sent) / window;
        info[i] = later[j]; /* the newer counts */
      }
    double age = info[i].last_send_ns && info[i].last_send_ns <= now
                     ? (double)(now - info[i].last_send_ns) / 1e9 : -1;
    if (o->json) {
      printf("%s{\"name\": ", i ? ", " : "");
      cli_json_string(stdout, info[i].name);
      printf(", \"type\": \"%s\", \"capacity\": %u, \"publishers\": %u, \"subscribers\": %u, "
             "\"sent\": %llu, \"dropped\": %llu, \"rate_hz\": %.3f, \"last_message_age_s\": ",
             horus_msg_type_name(info[i].type), info[i].capacity, info[i].publishers,
             info[i].subscribers, (unsigned long long)info[i].sent,
             (unsigned long long)info[i].dropped, rate);
      if (age < 0) printf("null}");
      else printf("%.3f}", age);
    } else {
      char last[32];
      if (age < 0) snprintf(last, sizeof last, "never");
      else snprintf(last, sizeof last, "%.1fs ago", age);
      printf("%-32s %-13s %4u %4u %10llu %8llu %9.1f %12s\n", info[i].name,
             horus_msg_type_name(info[i].type), info[i].publishers, info[i].subscribers,
             (unsigned long long)info[i].sent, (unsigned long long)info[i].dropped, rate, last);
    }
  }
  if (o->json) printf("]\n");
  else if (!n) printf("no topics in namespace '%s'\n", cli_namespace());
  return CLI_OK;
}

/* Open topic `name` with whatever type it has. */
static int find(const char *cmd, const char *name, horus_topic_info *out) {
  static horus_topic_info info[LIST_MAX];
  int n, r = snapshot(cmd, info, LIST_MAX, &n);
  if (r) return r;
  for (int i = 0; i < n; i++)
    if (strcmp(info[i].name, name) == 0) {
      *out = info[i];
      return CLI_OK;
    }
  fprintf(stderr, "horus %s: no topic named '%s' in namespace '%s' (see 'horus topic list')\n",
          cmd, name, cli_namespace());
  return CLI_NOTFOUND;
}

static int open_existing(const char *cmd, const char *name, horus_topic **t) {
  horus_topic_info info;
  int r = find(cmd, name, &info);
  if (r) return r;
  r = horus_topic_open(name, info.type, 0, t);
  return r ? cli_fail(cmd, r, name) : CLI_OK;
}

typedef struct who {
  const cli_opts *o;
  horus_topic_role role;
  int n;
} who;

/* One participant of `topic info`, if it has the role being listed. */
static int show_participant(const horus_topic_participant *p, void *arg) {
  who *w = arg;
  if (p->role != w->role) return 0;
  char proc[96];
  cli_process_name(p->pid, proc, sizeof proc);
  bool pub = p->role == HORUS_TOPIC_PUBLISHER;
  if (w->o->json) {
    printf("%s{\"role\": \"%s\", \"pid\": %d, \"process\": ", w->n ? ", " : "",
           pub ? "publisher" : "subscriber", (int)p->pid);
    cli_json_string(stdout, proc);
    printf(", \"%s\": %llu, \"dropped\": %llu, \"alive\": %s}", pub ? "sent" : "received",
           (unsigned long long)p->count, (unsigned long long)p->dropped,
           p->alive ? "true" : "false");
  } else if (pub) {
    printf("  %s (pid %d): %llu sent%s\n", proc, (int)p->pid, (unsigned long long)p->count,
           p->alive ? "" : " (dead)");
  } else {
    printf("  %s (pid %d): %llu received, %llu dropped%s\n", proc, (int)p->pid,
           (unsigned long long)p->count, (unsigned long long)p->dropped,
           p->alive ? "" : " (dead)");
  }
  w->n++;
  return 0;
}

static int list_participants(const cli_opts *o, const char *name, horus_topic_role role) {
  who w = {o, role, 0};
  int r = horus_topic_participants(name, show_participant, &w);
  if (r) return cli_fail("topic info", r, name);
  if (!o->json && w.n == 0) printf("  (none)\n");
  return CLI_OK;
}

static int info_cmd(const cli_opts *o, const char *name) {
  horus_topic_info i;
  int r = find("topic info", name, &i);
  if (r) return r;
  uint64_t now = now_ns();
  double age = i.last_send_ns && i.last_send_ns <= now ? (double)(now - i.last_send_ns) / 1e9 : -1;
  if (o->json) {
    printf("{\"name\": ");
    cli_json_string(stdout, i.name);
    printf(", \"type\": \"%s\", \"capacity\": %u, \"publishers\": %u, \"subscribers\": %u, "
           "\"sent\": %llu, \"dropped\": %llu, \"last_message_age_s\": ",
           horus_msg_type_name(i.type), i.capacity, i.publishers, i.subscribers,
           (unsigned long long)i.sent, (unsigned long long)i.dropped);
    if (age < 0) printf("null");
    else printf("%.3f", age);
    printf(", \"participants\": [");
    who w = {o, HORUS_TOPIC_PUBLISHER, 0};
    r = horus_topic_participants(name, show_participant, &w);
    w.role = HORUS_TOPIC_SUBSCRIBER;
    if (r == 0) r = horus_topic_participants(name, show_participant, &w);
    printf("]}\n");
    return r ? cli_fail("topic info", r, name) : CLI_OK;
  }
  printf("Topic: %s\nType: %s%s\nCapacity: %u messages\nPublisher count: %u\n"
         "Subscription count: %u\nMessages sent: %llu\nDropped by live subscribers: %llu\n",
         i.name, horus_msg_type_name(i.type),
         i.type == HORUS_MSG_BYTES ? " (generic: JSON, pickle or raw bytes)" : "", i.capacity,
         i.publishers, i.subscribers, (unsigned long long)i.sent, (unsigned long long)i.dropped);
  if (age < 0) printf("Last message: never\n");
  else printf("Last message: %.1f s ago\n", age);
  printf("Publishers:\n");
  if ((r = list_participants(o, name, HORUS_TOPIC_PUBLISHER))) return r;
  printf("Subscribers:\n");
  return list_participants(o, name, HORUS_TOPIC_SUBSCRIBER);
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

/* "2026-11-30 04:10:46.123456789 UTC" for a wall-clock stamp; stamps
 * before 2001 are taken as a monotonic clock and shown in seconds. */
static void human_time(int64_t ns, char *buf, size_t len) {
  if (ns == 0) {
    snprintf(buf, len, "not set");
  } else if (ns >= 1000000000000000000ll) {
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t k = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + k, len - k, ".%09lld UTC", (long long)(ns % 1000000000));
  } else {
    snprintf(buf, len, "%.6f s (monotonic clock)", (double)ns / 1e9);
  }
}

/* Per channel min/max/mean of an image (up to 4 channels), over every pixel. */
static int image_stats(const horus_frame *f, int *ch, double *mn, double *mx, double *mean) {
  horus_encoding e = horus_image_encoding(f);
  *ch = horus_encoding_channels(e);
  if (*ch < 1 || *ch > 4) return -1;
  uint32_t h = horus_image_height(f), w = horus_image_width(f);
  double sum[4] = {0};
  for (int c = 0; c < *ch; c++) mn[c] = INFINITY, mx[c] = -INFINITY;
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++) {
      double v[4];
      if (horus_image_get_pixel(f, x, y, v)) return -1;
      for (int c = 0; c < *ch; c++) {
        sum[c] += v[c];
        mn[c] = fmin(mn[c], v[c]), mx[c] = fmax(mx[c], v[c]);
      }
    }
  for (int c = 0; c < *ch; c++) mean[c] = h && w ? sum[c] / ((double)h * w) : 0;
  return 0;
}

static const char *channel_names(horus_encoding e) {
  switch (e) {
    case HORUS_ENC_RGB8: case HORUS_ENC_RGB32F: return "RGB";
    case HORUS_ENC_BGR8: return "BGR";
    case HORUS_ENC_RGBA8: return "RGBA";
    case HORUS_ENC_BGRA8: return "BGRA";
    case HORUS_ENC_YUV422: return "YC";
    default: return "V";
  }
}

/* Print a finite double as JSON (null otherwise). */
static void json_num(double v) {
  if (isfinite(v)) printf("%.17g", v);
  else printf("null");
}

static void print_generic(const cli_opts *o, const horus_msg *m, const horus_tensor *x) {
  const char *data = horus_tensor_data(x);
  size_t len = (size_t)horus_tensor_nbytes(x);
  char *text = NULL, err[96] = "";
  if (m->meta.kind_data == GENERIC_JSON && (text = malloc(len + 1)) &&
      json_compact(data, len, text, err, sizeof err) < 0) {
    free(text);
    text = NULL;
  }
  const char *what = m->meta.kind_data == GENERIC_PICKLE ? "pickle"
                     : m->meta.kind_data == GENERIC_JSON ? "json"
                     : m->meta.kind_data == GENERIC_BYTES ? "bytes" : "unknown";
  if (o->json) {
    printf("{\"sequence\": %llu, \"type\": \"bytes\", \"encoding\": \"%s\", \"nbytes\": %zu, "
           "\"value\": %s}\n", (unsigned long long)m->sequence, what, len, text ? text : "null");
  } else if (text) {
    printf("seq %llu: %s\n", (unsigned long long)m->sequence, text);
  } else if (m->meta.kind_data == GENERIC_PICKLE) {
    printf("seq %llu: <a pickled Python object, %zu bytes: readable in Python only>\n",
           (unsigned long long)m->sequence, len);
  } else if (m->meta.kind_data == GENERIC_JSON) {
    printf("seq %llu: <invalid JSON, %zu bytes: %s>\n", (unsigned long long)m->sequence, len, err);
  } else {
    printf("seq %llu: %s, %zu bytes:", (unsigned long long)m->sequence, what, len);
    for (size_t i = 0; i < len && i < 32; i++) printf(" %02x", (unsigned char)data[i]);
    printf("%s\n", len > 32 ? " ..." : "");
  }
  free(text);
}

/* The data summary of a frame: per channel stats, depth range, cloud bounds. */
static void print_data(const cli_opts *o, const horus_msg *m, horus_tensor *x) {
  horus_frame f;
  horus_tensor *ref;
  if (horus_tensor_ref(x, &ref) != 0) return;
  if (horus_frame_from_msg(m, ref, &f) != 0) { /* not a frame: a TensorHandle */
    horus_tensor_free(ref);
    return;
  }
  if (f.type == HORUS_MSG_IMAGE) {
    int ch;
    double mn[4], mx[4], mean[4];
    const char *names = channel_names(horus_image_encoding(&f));
    if (image_stats(&f, &ch, mn, mx, mean) == 0) {
      if (o->json) {
        printf(", \"channels\": [");
        for (int c = 0; c < ch; c++) {
          printf("%s{\"name\": \"%c\", \"min\": ", c ? ", " : "",
                 names[c < (int)strlen(names) ? c : 0]);
          json_num(mn[c]), printf(", \"max\": "), json_num(mx[c]), printf(", \"mean\": ");
          json_num(mean[c]), printf("}");
        }
        printf("]");
      } else {
        printf("  data:");
        for (int c = 0; c < ch; c++)
          printf("%s %c min %g max %g mean %.2f", c ? "," : "", names[c < (int)strlen(names) ? c : 0],
                 mn[c], mx[c], mean[c]);
        printf("\n");
      }
    }
  } else if (f.type == HORUS_MSG_DEPTH) {
    double lo, hi, mean;
    uint64_t valid;
    horus_depth_statistics(&f, &lo, &hi, &mean, &valid);
    uint64_t total = (uint64_t)horus_depth_height(&f) * horus_depth_width(&f);
    if (o->json) {
      printf(", \"depth_m\": {\"min\": "), json_num(lo), printf(", \"max\": "), json_num(hi);
      printf(", \"mean\": "), json_num(mean);
      printf(", \"valid\": %llu, \"pixels\": %llu}", (unsigned long long)valid,
             (unsigned long long)total);
    } else {
      printf("  data: depth min %.3f m max %.3f m mean %.3f m, %llu of %llu pixels valid\n", lo,
             hi, mean, (unsigned long long)valid, (unsigned long long)total);
    }
  } else if (f.type == HORUS_MSG_POINTCLOUD) {
    uint64_t n = horus_pointcloud_count(&f);
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    float p[16];
    uint64_t finite = 0;
    for (uint64_t i = 0; i < n && horus_pointcloud_fields(&f) <= 16; i++) {
      if (horus_pointcloud_point(&f, i, p)) break;
      if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(p[2])) continue;
      finite++;
      for (int k = 0; k < 3; k++) lo[k] = fmin(lo[k], p[k]), hi[k] = fmax(hi[k], p[k]);
    }
    if (o->json) {
      printf(", \"bounds\": {\"min\": [");
      for (int k = 0; k < 3; k++) printf(k ? ", " : ""), json_num(finite ? lo[k] : NAN);
      printf("], \"max\": [");
      for (int k = 0; k < 3; k++) printf(k ? ", " : ""), json_num(finite ? hi[k] : NAN);
      printf("], \"finite_points\": %llu}", (unsigned long long)finite);
    } else if (finite) {
      printf("  data: %llu points, x [%g, %g] y [%g, %g] z [%g, %g]\n", (unsigned long long)n,
             lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]);
    } else {
      printf("  data: %llu points, none finite\n", (unsigned long long)n);
    }
  }
  horus_frame_clear(&f);
}

static void print_msg(const cli_opts *o, const horus_msg *m, horus_tensor *x, bool data) {
  if (m->type == HORUS_MSG_BYTES) {
    if (data) print_generic(o, m, x);
    else if (o->json)
      printf("{\"sequence\": %llu, \"type\": \"bytes\", \"nbytes\": %llu}\n",
             (unsigned long long)m->sequence, (unsigned long long)horus_tensor_nbytes(x));
    else
      printf("seq %llu: bytes, %llu bytes\n", (unsigned long long)m->sequence,
             (unsigned long long)horus_tensor_nbytes(x));
    fflush(stdout);
    return;
  }
  const horus_tensor_desc *d = horus_tensor_get_desc(x);
  char shape[160];
  size_t k = 0;
  shape[k++] = '[';
  for (int i = 0; i < d->ndim && k < sizeof shape - 24; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, i ? ", %lld" : "%lld", (long long)d->shape[i]);
  snprintf(shape + k, sizeof shape - k, "]");
  const char *enc = m->type == HORUS_MSG_IMAGE ? horus_encoding_name((horus_encoding)m->meta.kind_data) : "";
  char id[HORUS_FRAME_ID_MAX + 1], when[64];
  snprintf(id, sizeof id, "%.*s", HORUS_FRAME_ID_MAX, m->meta.frame_id);
  human_time(m->meta.timestamp_ns, when, sizeof when);
  if (o->json) {
    printf("{\"sequence\": %llu, \"type\": \"%s\", \"shape\": %s, \"dtype\": \"%s\", "
           "\"encoding\": \"%s\", \"frame_id\": ", (unsigned long long)m->sequence,
           horus_msg_type_name((horus_msg_type)m->type), shape,
           horus_dtype_name((horus_dtype)d->dtype), enc);
    cli_json_string(stdout, id);
    printf(", \"timestamp_ns\": %lld, \"nbytes\": %llu", (long long)m->meta.timestamp_ns,
           (unsigned long long)horus_tensor_nbytes(x));
    if (data) print_data(o, m, x);
    printf("}\n");
  } else {
    printf("seq %llu: %s shape=%s dtype=%s%s%s frame_id='%s'\n  stamp: %s\n",
           (unsigned long long)m->sequence, horus_msg_type_name((horus_msg_type)m->type), shape,
           horus_dtype_name((horus_dtype)d->dtype), *enc ? " encoding=" : "", enc, id, when);
    if (data) print_data(o, m, x);
  }
  fflush(stdout);
}

static int echo(const cli_opts *o, horus_topic *t, long count, bool data) {
  for (long i = 0; count < 0 || i < count; i++) {
    horus_msg m;
    horus_tensor *x;
    int r = next(t, -1, &m, &x);
    if (r == 1) break;
    if (r < 0) return cli_fail("topic echo", r, horus_topic_name(t));
    print_msg(o, &m, x, data);
    horus_tensor_free(x);
  }
  return CLI_OK;
}

static int rate(const cli_opts *o, horus_topic *t, bool bytes, double seconds, long window) {
  uint64_t start = now_ns(), last = 0, report_at = start + 1000000000ull;
  double sum = 0, sum2 = 0, mn = INFINITY, mx = 0;
  uint64_t n = 0, nbytes = 0, msgs = 0, smin = UINT64_MAX, smax = 0;
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
      uint64_t size = horus_tensor_nbytes(x);
      nbytes += size, msgs++;
      smin = size < smin ? size : smin, smax = size > smax ? size : smax;
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
        double mean = msgs ? (double)nbytes / (double)msgs : 0;
        if (o->json)
          printf("{\"bytes_per_s\": %.0f, \"messages\": %llu, \"rate_hz\": %.3f, "
                 "\"mean_bytes\": %.0f, \"min_bytes\": %llu, \"max_bytes\": %llu}\n",
                 (double)nbytes / elapsed, (unsigned long long)msgs, (double)msgs / elapsed,
                 mean, (unsigned long long)(msgs ? smin : 0), (unsigned long long)smax);
        else if (msgs)
          printf("%.2f MB/s from %llu messages (%.1f Hz)\n\tMessage size mean: %.3f MB "
                 "min: %.3f MB max: %.3f MB\n", (double)nbytes / elapsed / 1e6,
                 (unsigned long long)msgs, (double)msgs / elapsed, mean / 1e6,
                 (double)smin / 1e6, (double)smax / 1e6);
        else
          printf("no new messages\n");
        msgs = 0, smin = UINT64_MAX, smax = 0;
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

static int save(const cli_opts *o, horus_topic *t, const char *path, double timeout) {
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
  double lo = 0, hi = 0;
  if (f.type == HORUS_MSG_DEPTH) {
    double mean;
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
  } else if (o->json) {
    printf("{\"path\": ");
    cli_json_string(stdout, path);
    printf(", \"width\": %u, \"height\": %u, \"type\": \"%s\", \"encoding\": \"%s\"", w, h,
           horus_msg_type_name(f.type),
           f.type == HORUS_MSG_DEPTH ? "" : horus_encoding_name(horus_image_encoding(&f)));
    if (f.type == HORUS_MSG_DEPTH) {
      printf(", \"colour_range_m\": [");
      json_num(lo), printf(", "), json_num(hi), printf("]");
    }
    printf("}\n");
  } else if (f.type == HORUS_MSG_DEPTH) {
    printf("saved %ux%u depth image to %s, colour-mapped from %.3f m (blue) to %.3f m (red); "
           "invalid pixels black\n", w, h, path, lo, hi);
  } else {
    printf("saved %ux%u %s to %s\n", w, h, horus_encoding_name(horus_image_encoding(&f)), path);
  }
  free(out);
  horus_frame_clear(&f);
  return rc;
}

/* Sleep up to `s` seconds in slices, so Ctrl-C ends it at once. */
static void pause_s(double s) {
  uint64_t end = now_ns() + (uint64_t)(s * 1e9);
  while (!interrupted) {
    uint64_t now = now_ns();
    if (now >= end) return;
    uint64_t left = end - now < 100000000ull ? end - now : 100000000ull;
    struct timespec ts = {0, (long)left};
    nanosleep(&ts, NULL);
  }
}

static int pub(const cli_opts *o, const char *name, const char *value, double hz, long times) {
  size_t len = strlen(value);
  char err[96];
  char *text = malloc(len + 1);
  if (!text) return cli_fail("topic pub", HORUS_ENOMEM, "VALUE");
  if (json_compact(value, len, text, err, sizeof err) < 0) {
    free(text);
    return cli_usage("topic", "pub: VALUE is not JSON (%s); e.g. '{\"speed\": 1.5}', 3, "
                     "'\"text\"'", err);
  }
  static horus_topic_info info[LIST_MAX];
  int n, r = snapshot("topic pub", info, LIST_MAX, &n);
  for (int i = 0; r == CLI_OK && i < n; i++)
    if (strcmp(info[i].name, name) == 0 && info[i].type != HORUS_MSG_BYTES) {
      fprintf(stderr, "horus topic pub: '%s' carries %s messages; pub publishes generic "
              "values (JSON)\n", name, horus_msg_type_name(info[i].type));
      r = CLI_FAIL;
    }
  horus_topic *t = NULL;
  if (r == CLI_OK && (r = horus_topic_open(name, HORUS_MSG_BYTES, 0, &t)))
    r = cli_fail("topic pub", r, name);
  for (long i = 0; r == CLI_OK && !interrupted && (times < 0 || i < times); i++) {
    uint64_t seq;
    int e = horus_topic_send_bytes(t, text, strlen(text), GENERIC_JSON, &seq);
    if (e) {
      r = cli_fail("topic pub", e, name);
      break;
    }
    if (o->json) printf("{\"sequence\": %llu, \"value\": %s}\n", (unsigned long long)seq, text);
    else printf("publishing #%ld: %s\n", i + 1, text);
    fflush(stdout);
    if (times < 0 || i + 1 < times) pause_s(1.0 / hz);
  }
  horus_topic_close(t);
  free(text);
  return r;
}

/* `pub NAME --file PICTURE`: a PNG published as an Image, `times` times. */
static int pub_file(const cli_opts *o, const char *name, const char *path, double hz,
                    long times) {
  static horus_topic_info info[LIST_MAX];
  int n, r = snapshot("topic pub", info, LIST_MAX, &n);
  if (r) return r;
  for (int i = 0; i < n; i++)
    if (strcmp(info[i].name, name) == 0 && info[i].type != HORUS_MSG_IMAGE) {
      fprintf(stderr, "horus topic pub: '%s' carries %s messages; --file publishes an "
              "Image\n", name, horus_msg_type_name(info[i].type));
      return CLI_FAIL;
    }
  uint32_t w, h;
  int type, depth;
  uint8_t *px;
  char why[160];
  if (png_read(path, &w, &h, &type, &depth, &px, why, sizeof why) != 0) {
    fprintf(stderr, "horus topic pub: %s: %s\n", path, why);
    return CLI_FAIL;
  }
  horus_encoding enc = type == PNG_RGB ? HORUS_ENC_RGB8 : type == PNG_RGBA ? HORUS_ENC_RGBA8
                       : depth == 16 ? HORUS_ENC_MONO16 : HORUS_ENC_MONO8;
  size_t nbytes = (size_t)w * h * (size_t)horus_encoding_bytes_per_pixel(enc);
  horus_pool *pool = NULL;
  horus_topic *t = NULL;
  if ((r = horus_pool_global(&pool)) || (r = horus_topic_open(name, HORUS_MSG_IMAGE, 0, &t)))
    r = cli_fail("topic pub", r, name);
  for (long i = 0; r == CLI_OK && !interrupted && (times < 0 || i < times); i++) {
    horus_image img;
    memset(&img, 0, sizeof img);
    uint64_t seq;
    int e = horus_image_create(pool, h, w, enc, &img);
    if (!e) e = horus_image_copy_from(&img, px, nbytes);
    if (!e) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      img.meta.timestamp_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
      horus_msg m;
      horus_frame_to_msg(&img, &m);
      e = horus_topic_send(t, &m, img.tensor, &seq);
    }
    horus_frame_clear(&img); /* the topic holds its own reference */
    if (e) {
      r = cli_fail("topic pub", e, name);
      break;
    }
    if (o->json) {
      printf("{\"sequence\": %llu, \"width\": %u, \"height\": %u, \"encoding\": \"%s\", "
             "\"file\": ", (unsigned long long)seq, w, h, horus_encoding_name(enc));
      cli_json_string(stdout, path);
      printf("}\n");
    } else {
      printf("publishing #%ld: %ux%u %s image from %s\n", i + 1, w, h, horus_encoding_name(enc),
             path);
    }
    fflush(stdout);
    if (times < 0 || i + 1 < times) pause_s(1.0 / hz);
  }
  horus_topic_close(t);
  if (pool) horus_pool_close(pool);
  free(px);
  return r;
}

/* A number option: finite and in [lo, hi]; a usage error otherwise (NaN,
 * infinity, negative or absurd values would make a run that cannot end). */
static bool parse_num(const char *opt, const char *v, double lo, double hi, bool integer,
                      double *out) {
  char *end = NULL;
  errno = 0;
  double d = v ? strtod(v, &end) : NAN;
  bool ok = v && end != v && !*end && errno == 0 && isfinite(d) && d >= lo && d <= hi &&
            (!integer || d == floor(d));
  if (!ok) {
    cli_usage("topic", "%s needs %s in [%g, %g], got '%s'", opt,
              integer ? "a whole number" : "a number", lo, hi, v ? v : "nothing");
    return false;
  }
  *out = d;
  return true;
}

static int run(const cli_opts *o, int argc, char **argv) {
  if (argc < 2) return cli_usage("topic", "missing a subcommand (list, info, echo, pub, hz, bw, save)");
  const char *sub = argv[1];
  static const struct { const char *name, *flags; int args; } subs[] = {
      {"list", "", 0},          {"info", "", 1},
      {"echo", " --once --count --no-data ", 1},
      {"pub", " --once --rate --times --file ", 2},
      {"hz", " --window --seconds ", 1}, {"bw", " --seconds ", 1},
      {"save", " --timeout ", 2},
  };
  int which = -1;
  for (int k = 0; k < (int)(sizeof subs / sizeof *subs); k++)
    if (strcmp(sub, subs[k].name) == 0) which = k;
  if (which < 0) return cli_usage("topic", "unknown subcommand '%s'", sub);
  const char *pos[2] = {NULL, NULL};
  int npos = 0;
  long count = -1, window = -1, times = -1;
  double seconds = -1, timeout = 10, hz = 1, v;
  bool data = true, dashdash = false;
  const char *file = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    bool flag = !dashdash && a[0] == '-' && a[1] && !isdigit((unsigned char)a[1]) && a[1] != '.';
    if (!dashdash && strcmp(a, "--") == 0) {
      dashdash = true;
      continue;
    }
    if (!flag) {
      if (npos >= subs[which].args - (file != NULL))
        return cli_usage("topic", "%s: unexpected argument '%s'", sub, a);
      pos[npos++] = a;
      continue;
    }
    if (strcmp(a, "--json") == 0) continue;
    char key[32];
    snprintf(key, sizeof key, " %s ", a);
    if (!strstr(subs[which].flags, key))
      return cli_usage("topic", "%s: unknown option '%s'", sub, a);
    if (strcmp(a, "--once") == 0) count = times = 1;
    else if (strcmp(a, "--no-data") == 0) data = false;
    else if (strcmp(a, "--file") == 0) {
      if (!val || !*val) return cli_usage("topic", "pub: --file needs a PICTURE (a .png file)");
      if (npos > 1) return cli_usage("topic", "pub: give a VALUE or --file PICTURE, not both");
      file = argv[++i];
    } else {
      i++;
      if (strcmp(a, "--seconds") == 0 || strcmp(a, "--timeout") == 0) {
        if (!parse_num(a, val, 0.001, 1e6, false, &v)) return CLI_USAGE;
        *(strcmp(a, "--seconds") == 0 ? &seconds : &timeout) = v;
      } else if (strcmp(a, "--rate") == 0) {
        if (!parse_num(a, val, 0.001, 1e4, false, &hz)) return CLI_USAGE;
      } else {
        if (!parse_num(a, val, 1, 1e12, true, &v)) return CLI_USAGE;
        *(strcmp(a, "--count") == 0 ? &count : strcmp(a, "--times") == 0 ? &times : &window) =
            (long)v;
      }
    }
  }
  if (npos < subs[which].args - (file != NULL)) {
    return cli_usage("topic", "%s needs %s", sub,
                     which == 3 ? "NAME VALUE or NAME --file PICTURE" : which == 6 ? "NAME FILE.png" : "a topic name");
  }
  const char *name = pos[0];
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  if (which == 0) return list(o);
  if (which == 1) return info_cmd(o, name);
  if (which == 3 && file) return pub_file(o, name, file, hz, times);
  if (which == 3) return pub(o, name, pos[1], hz, times);
  if (which == 6) {
    const char *dot = strrchr(pos[1], '.');
    if (!dot || strcasecmp(dot, ".png") != 0) {
      bool jpeg = dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
      return cli_usage("topic", "save writes PNG only%s; give a FILE ending in .png, not '%s'",
                       jpeg ? " (this build has no JPEG encoder)" : "", pos[1]);
    }
  }
  horus_topic *t;
  char cmd[32]; /* "topic echo": errors name the command as it was typed */
  snprintf(cmd, sizeof cmd, "topic %s", sub);
  int r = open_existing(cmd, name, &t);
  if (r) return r;
  if (which == 2) r = echo(o, t, count, data);
  else if (which == 4) r = rate(o, t, false, seconds, window);
  else if (which == 5) r = rate(o, t, true, seconds, -1);
  else r = save(o, t, pos[1], timeout);
  horus_topic_close(t);
  return r;
}

const cli_command cli_cmd_topic = {"topic", "list topics; info, echo, pub, hz, bw, save one", run,
                                   help};
