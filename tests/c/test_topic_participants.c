/* test_topic_participants.c - horus_topic_participants: every publisher and
 * subscriber of a topic with its process, counts, drops and liveness. */
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define MAX_SEEN 16

typedef struct seen {
  int n;
  horus_topic_participant p[MAX_SEEN];
} seen;

static int collect(const horus_topic_participant *p, void *arg) {
  seen *s = arg;
  if (s->n < MAX_SEEN) s->p[s->n] = *p;
  s->n++;
  return 0;
}

static int stop_at_first(const horus_topic_participant *p, void *arg) {
  (void)p;
  (*(int *)arg)++;
  return 42;
}

static const horus_topic_participant *find(const seen *s, horus_topic_role role, int32_t pid) {
  for (int i = 0; i < s->n && i < MAX_SEEN; i++)
    if (s->p[i].role == role && s->p[i].pid == pid) return &s->p[i];
  return NULL;
}

static void test_roles_counts_and_drops(void) {
  horus_topic *pub, *sub, *idle;
  CHECK_OK(horus_topic_open("parts", HORUS_MSG_BYTES, 2, &pub));
  CHECK_OK(horus_topic_open("parts", HORUS_MSG_BYTES, 2, &sub));
  CHECK_OK(horus_topic_open("parts", HORUS_MSG_BYTES, 2, &idle)); /* never receives */
  CHECK_OK(horus_topic_subscribe(sub));
  for (int i = 0; i < 5; i++) CHECK_OK(horus_topic_send_bytes(pub, "x", 1, 0, NULL));
  horus_msg m;
  horus_tensor *x = NULL;
  CHECK_OK(horus_topic_recv(sub, 0, &m, &x)); /* capacity 2: three were overwritten */
  horus_tensor_free(x);

  seen s = {0};
  CHECK_OK(horus_topic_participants("parts", collect, &s));
  CHECK(s.n == 2); /* the publisher and the subscriber; the idle handle is neither */
  const horus_topic_participant *p = find(&s, HORUS_TOPIC_PUBLISHER, (int32_t)getpid());
  CHECK(p && p->count == 5 && p->dropped == 0 && p->alive && p->node != 0);
  p = find(&s, HORUS_TOPIC_SUBSCRIBER, (int32_t)getpid());
  CHECK(p && p->count == 1 && p->dropped == 3 && p->alive);
  CHECK(s.n >= 1 && s.p[0].role == HORUS_TOPIC_PUBLISHER); /* publishers first */

  int calls = 0;
  CHECK_RC(horus_topic_participants("parts", stop_at_first, &calls), 42);
  CHECK(calls == 1);

  /* A publisher in a process that died without closing: listed, not alive. */
  pid_t child = fork();
  if (child == 0) {
    horus_topic *t;
    if (horus_topic_open("parts", HORUS_MSG_BYTES, 2, &t) != 0) _exit(2);
    if (horus_topic_send_bytes(t, "y", 1, 0, NULL) != 0) _exit(3);
    _exit(0); /* no close, no atexit: its entry stays, its node lock goes */
  }
  int status = -1;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  s.n = 0;
  CHECK_OK(horus_topic_participants("parts", collect, &s));
  p = find(&s, HORUS_TOPIC_PUBLISHER, (int32_t)child);
  CHECK(p && p->count == 1 && !p->alive);
  p = find(&s, HORUS_TOPIC_PUBLISHER, (int32_t)getpid());
  CHECK(p && p->alive);

  horus_topic_close(idle);
  horus_topic_close(sub);
  horus_topic_close(pub);
}

static void test_errors(void) {
  seen s = {0};
  CHECK_RC(horus_topic_participants("no.such.topic", collect, &s), HORUS_ENOENT);
  CHECK_RC(horus_topic_participants("bad/name", collect, &s), HORUS_EINVAL);
  CHECK_RC(horus_topic_participants(NULL, collect, &s), HORUS_EINVAL);
  CHECK_RC(horus_topic_participants("parts", NULL, &s), HORUS_EINVAL);
  CHECK(s.n == 0);
}

int main(void) {
  test_roles_counts_and_drops();
  test_errors();
  check_remove_namespace();
  return check_report("test_topic_participants");
}
