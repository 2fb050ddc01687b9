/*
 * secret-image's content-trust verbs (see secret-image(1), docs/trust.md):
 *   key generate NAME [--out DIR] [--kdf-cost sensitive|moderate|interactive|min]
 *                [--passphrase-file FILE]
 *   sign NAME:VERSION --key FILE.key --channel CHANNEL [--expires DURATION]
 *        [--passphrase-file FILE]
 *   policy trust PATTERN --key FILE.pub --channel CHANNEL [--threshold K]
 *   policy untrust KEY-ID|FILE.pub | require CHANNEL | enforce on|off
 *   policy grace DURATION | warn DURATION | show [--json]
 *   signature add REF FILE.dsse...   (envelopes signed on another host)
 * and the signature part of inspect and ls. Global options: --store DIR,
 * --policy FILE. Passphrases come from the terminal (no echo) or a file, are
 * held in secret memory and wiped; never from argv or the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "base/io.h"
#include "base/macro.h"
#include "base/secbuf.h"
#include "image/store.h"
#include "image/trust_check.h"
#include "image/trust_dsse.h"
#include "image/trust_key.h"
#include "image/trust_log.h"
#include "image/trust_policy.h"
#include "image/trust_statement.h"
#include "image/trust_store.h"

#define DEFAULT_EXPIRY (90 * 86400)

int secret_image_trust_main(int argc, char **argv);
json_object *secret_image_trust_inspect(struct img_store *s, const char *hex, const char *policy);
void secret_image_trust_ls_warn(struct img_store *s, const struct img_entry *v, size_t n,
                                const char *policy);

struct topts {
  const char *store, *policy, *out, *key, *channel, *pass_file, *kdf;
  int64_t expires;
  int threshold;
  bool json;
};

static int tfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int tfail(const char *fmt, ...) {
  va_list ap;
  fputs("secret-image: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static void fmt_time(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 32, "%" PRId64, t);
}

/* Read a passphrase: from file (one trailing newline dropped), else from the
 * terminal without echo (twice when confirm). Into secret memory. */
static int read_passphrase(const char *file, bool confirm, struct secbuf **ret) {
  _cleanup_(secbuf_freep) struct secbuf *b = NULL;
  int r;
  if (file) {
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
      return tfail("--passphrase-file %s: %s", file, strerror(errno)), -1;
    if ((r = secbuf_read_fd(fd, TRUST_PASS_MAX + 2, &b)) < 0)
      return tfail("--passphrase-file %s: %s", file, r == -EFBIG ? "longer than 1024 bytes" : strerror(-r)), -1;
    size_t n = secbuf_len(b);
    if (n && secbuf_data(b)[n - 1] == '\n')
      n--;
    if (n && secbuf_data(b)[n - 1] == '\r')
      n--;
    secbuf_truncate(b, n);
  } else {
    for (int round = 0; round < (confirm ? 2 : 1); round++) {
      _cleanup_close_ int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
      if (tty < 0)
        return tfail("no terminal to ask for the passphrase: give --passphrase-file FILE"), -1;
      struct termios old, quiet;
      if (tcgetattr(tty, &old) < 0)
        return tfail("no terminal to ask for the passphrase: give --passphrase-file FILE"), -1;
      const char *prompt = round ? "Passphrase again: " : "Passphrase: ";
      (void)!write(tty, prompt, strlen(prompt));
      quiet = old;
      quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
      tcsetattr(tty, TCSAFLUSH, &quiet);
      _cleanup_(secbuf_freep) struct secbuf *cur = NULL;
      if ((r = secbuf_new(TRUST_PASS_MAX, &cur)) < 0) {
        tcsetattr(tty, TCSAFLUSH, &old);
        return tfail("out of memory"), -1;
      }
      size_t n = 0;
      char c;
      while (read(tty, &c, 1) == 1 && c != '\n' && n < TRUST_PASS_MAX)
        secbuf_data(cur)[n++] = (uint8_t)c;
      c = 0;
      tcsetattr(tty, TCSAFLUSH, &old);
      (void)!write(tty, "\n", 1);
      secbuf_truncate(cur, n);
      if (round == 0) {
        b = TAKE_PTR(cur);
      } else if (!secbuf_equal(b, cur)) {
        return tfail("the passphrases differ"), -1;
      }
    }
  }
  if (secbuf_len(b) == 0)
    return tfail("empty passphrase"), -1;
  *ret = TAKE_PTR(b);
  return 0;
}

static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -errno;
  return sd_read_all_alloc(fd, max, ret, ret_len);
}

static int write_new_file(const char *path, const char *text, mode_t mode) {
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return -errno;
  int r = sd_write_all(fd, text, strlen(text));
  if (r == 0 && fsync(fd) < 0)
    r = -errno;
  if (r < 0)
    unlink(path);
  return r;
}

static int cmd_key_generate(const struct topts *o, const char *name) {
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._-", *p)))
      return tfail("key name \"%s\": use letters, digits, '.', '_' and '-'", name);
  if (!*name || name[0] == '.' || strlen(name) > 64)
    return tfail("key name \"%s\": 1..64 characters, not starting with '.'", name);
  struct trust_kdf kdf;
  if (trust_kdf_named(o->kdf ? o->kdf : "moderate", &kdf) < 0)
    return tfail("--kdf-cost: sensitive, moderate, interactive or min, not \"%s\"", o->kdf);
  char kpath[PATH_MAX], ppath[PATH_MAX];
  const char *dir = o->out ? o->out : ".";
  snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name);
  snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name);
  if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0)
    return tfail("%s or %s exists: not overwritten", kpath, ppath);
  _cleanup_(secbuf_freep) struct secbuf *pass = NULL;
  if (read_passphrase(o->pass_file, true, &pass) < 0)
    return 1;
  _cleanup_free_ char *ktext = NULL, *ptext = NULL;
  char keyid[TRUST_KEYID_LEN + 1];
  int r = trust_key_generate(pass, &kdf, &ktext, &ptext, keyid);
  if (r < 0)
    return tfail("generating the key: %s", strerror(-r));
  if ((r = write_new_file(kpath, ktext, 0600)) < 0)
    return tfail("%s: %s", kpath, strerror(-r));
  if ((r = write_new_file(ppath, ptext, 0644)) < 0) {
    unlink(kpath);
    return tfail("%s: %s", ppath, strerror(-r));
  }
  printf("%s %s %s\n", keyid, kpath, ppath);
  return 0;
}

/* The verdict for image hex under the policy at o->policy, quietly: a policy
 * that cannot be read is reported and skipped (signing still succeeded). */
static void reverify(struct img_store *s, const char *policy, const char *hex) {
  _cleanup_(trust_policy_freep) struct trust_policy *p = NULL;
  struct img_err err = {0};
  if (trust_policy_load(trust_policy_path(policy), &p, &err) < 0) {
    fprintf(stderr, "secret-image: note: signature stored, not verified against the policy: %s\n", err.msg);
    return;
  }
  int r = hex ? trust_verdict_compute(s, p, hex, NULL, &err) : trust_verdict_all(s, p, &err);
  if (r < 0)
    fprintf(stderr, "secret-image: note: verifying against the policy: %s\n", err.msg);
}

struct version_scan {
  const char *name, *hex;
  uint64_t version, highest;
  bool same_version_other_image;
};

static int version_scan_cb(void *ctx, const struct trust_dsse *env, const struct trust_statement *st,
                           const char *why) {
  struct version_scan *x = ctx;
  (void)env, (void)why;
  if (!st || strcmp(st->name, x->name))
    return 0;
  if (st->version > x->highest)
    x->highest = st->version;
  if (st->version == x->version && strcmp(st->digest, x->hex))
    x->same_version_other_image = true;
  return 0;
}

/* The version only goes up per name: no version below one already signed,
 * no other image under the same version (every image's signatures). */
static int check_version_goes_up(struct img_store *s, const char *ref, const char *name, const char *hex,
                                 uint64_t version) {
  _cleanup_free_ struct img_entry *ents = NULL;
  size_t n;
  int r = img_store_list(s, &ents, &n);
  if (r < 0)
    return tfail("sign: listing the store: %s", strerror(-r)), -1;
  struct version_scan vs = {name, hex, version, 0, false};
  for (size_t i = 0; i < n; i++)
    if ((r = trust_store_each(s, ents[i].hex, version_scan_cb, &vs)) < 0)
      return tfail("sign: reading signatures: %s", strerror(-r)), -1;
  if (vs.same_version_other_image)
    return tfail("sign %s: version %" PRIu64 " of %s is already signed for another image (versions only go up)",
                 ref, version, name), -1;
  if (vs.highest > version)
    return tfail("sign %s: version %" PRIu64 " is below version %" PRIu64 " of %s already signed (versions "
                 "only go up)", ref, version, vs.highest, name), -1;
  return 0;
}

/* Read and open the key file o->key: *ret_sk in secret memory, its key id
 * and public key. The passphrase is wiped before returning. */
static int open_signing_key(const struct topts *o, struct secbuf **ret_sk, char keyid[TRUST_KEYID_LEN + 1],
                            uint8_t pk[32]) {
  _cleanup_free_ char *ktext = NULL;
  _cleanup_(secbuf_freep) struct secbuf *pass = NULL;
  struct img_err err = {0};
  struct trust_key_file kf;
  size_t klen;
  int r = read_small_file(o->key, TRUST_KEY_MAX_TEXT, &ktext, &klen);
  if (r < 0)
    return tfail("--key %s: %s", o->key, r == -EFBIG ? "not a key file (too large)" : strerror(-r)), -1;
  if (trust_key_parse(ktext, klen, &kf, &err) < 0) /* before asking for a passphrase */
    return tfail("--key %s: %s", o->key, err.msg), -1;
  if (read_passphrase(o->pass_file, false, &pass) < 0)
    return -1;
  if (trust_key_open(ktext, klen, pass, ret_sk, keyid, &err) < 0)
    return tfail("--key %s: %s", o->key, err.msg), -1;
  memcpy(pk, kf.pk, 32);
  return 0;
}

/* The envelope of st signed with sk, checked against pk, as text. */
static int make_envelope(const struct trust_statement *st, const struct secbuf *sk, const uint8_t pk[32],
                         char **ret) {
  _cleanup_free_ char *payload = NULL;
  _cleanup_free_ struct trust_dsse *env = calloc(1, sizeof *env);
  struct img_err err = {0};
  size_t plen;
  int r = trust_statement_encode(st, &payload, &plen, &err);
  if (r < 0)
    return tfail("sign: %s", err.msg[0] ? err.msg : strerror(-r)), -1;
  if (!env || plen > sizeof env->payload)
    return tfail("sign: statement too large"), -1;
  snprintf(env->payload_type, sizeof env->payload_type, "%s", TRUST_PAYLOAD_TYPE);
  memcpy(env->payload, payload, plen);
  env->payload_len = plen;
  if (trust_dsse_sign(env, st->keyid, sk) < 0 || trust_dsse_verify(env, 0, pk) < 0 || trust_dsse_encode(env, ret) < 0)
    return tfail("sign: signing failed"), -1;
  return 0;
}

static void log_signature(struct img_store *s, const struct trust_statement *st, bool added) {
  json_object *f = json_object_new_object();
  char d[80];
  snprintf(d, sizeof d, "sha256:%s", st->digest);
  json_object_object_add(f, "image", json_object_new_string(d));
  json_object_object_add(f, "name", json_object_new_string(st->name));
  json_object_object_add(f, "version", json_object_new_int64((int64_t)st->version));
  json_object_object_add(f, "channel", json_object_new_string(st->channel));
  json_object_object_add(f, "keyid", json_object_new_string(st->keyid));
  json_object_object_add(f, "expires", json_object_new_int64(st->expires));
  if (added)
    json_object_object_add(f, "added", json_object_new_boolean(true));
  (void)trust_log(s, "sign", f);
}

static int cmd_sign(const struct topts *o, const char *ref) {
  char name[IMG_MAX_NAME + 1], ver[129], hex[IMG_HEX_LEN + 1], keyid[TRUST_KEYID_LEN + 1], t[32];
  if (img_ref_parse(ref, name, ver) < 0 || !strchr(ref, ':'))
    return tfail("sign: \"%s\" is not NAME:VERSION", ref);
  char *end;
  errno = 0;
  unsigned long long version = strtoull(ver, &end, 10);
  if (errno || *end || ver[0] < '1' || ver[0] > '9' || version > TRUST_MAX_VERSION)
    return tfail("sign %s: VERSION must be a whole number 1..2^53 without leading zeros (the image's "
                 "tag is its version: import it as %s:N)", ref, name);
  if (!o->key || !o->channel)
    return tfail("sign: --key FILE.key and --channel CHANNEL are required");
  if (!trust_channel_valid(o->channel))
    return tfail("sign: \"%s\" is not a channel name ([a-z0-9._-], 1..%d)", o->channel, TRUST_MAX_CHANNEL);
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  _cleanup_(secbuf_freep) struct secbuf *sk = NULL;
  _cleanup_free_ char *envtext = NULL;
  struct img_err err = {0};
  uint8_t pk[32];
  if (img_store_open(img_store_path(o->store), false, &s, &err) < 0 || img_store_resolve(s, ref, hex, &err) < 0)
    return tfail("sign %s: %s", ref, err.msg);
  if (check_version_goes_up(s, ref, name, hex, version) < 0 || open_signing_key(o, &sk, keyid, pk) < 0)
    return 1;
  int64_t now = (int64_t)time(NULL);
  struct trust_statement st = {.version = version, .issued = now, .expires = now + o->expires};
  snprintf(st.digest, sizeof st.digest, "%s", hex);
  snprintf(st.name, sizeof st.name, "%s", name);
  snprintf(st.channel, sizeof st.channel, "%s", o->channel);
  snprintf(st.keyid, sizeof st.keyid, "%s", keyid);
  int r = make_envelope(&st, sk, pk, &envtext);
  secbuf_free(TAKE_PTR(sk)); /* wiped right after its last use */
  if (r < 0)
    return 1;
  if (trust_store_add(s, hex, &st, envtext, &err) < 0)
    return tfail("sign %s: %s", ref, err.msg);
  log_signature(s, &st, false);
  reverify(s, o->policy, hex);
  fmt_time(st.expires, t);
  printf("signed %s:%llu sha256:%s channel %s key %.16s expires %s\n", name, version, hex, o->channel, keyid, t);
  return 0;
}

/* Add envelopes made elsewhere (another host's STORE/images/<hex>/signatures/)
 * to image ref: each must decode, be about this image's digest and (when ref
 * names the image) this name; then the image is verified against the policy
 * and each signature's status printed. */
static int cmd_signature_add(const struct topts *o, const char *ref, int n, char **files) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  struct img_err err = {0};
  char hex[IMG_HEX_LEN + 1], name[IMG_MAX_NAME + 1] = "", ver[129];
  if (img_store_open(img_store_path(o->store), false, &s, &err) < 0 || img_store_resolve(s, ref, hex, &err) < 0)
    return tfail("signature add %s: %s", ref, err.msg);
  if (strncmp(ref, "sha256:", 7) && !strchr(ref, '@') && img_ref_parse(ref, name, ver) < 0)
    name[0] = '\0';
  _cleanup_free_ struct trust_dsse *env = malloc(sizeof *env);
  if (!env)
    return tfail("out of memory");
  for (int i = 0; i < n; i++) {
    _cleanup_free_ char *text = NULL;
    size_t len;
    struct trust_statement st;
    int r = read_small_file(files[i], TRUST_DSSE_MAX_TEXT, &text, &len);
    if (r < 0)
      return tfail("%s: %s", files[i], r == -EFBIG ? "not a signature envelope (too large)" : strerror(-r));
    if (trust_dsse_decode(text, len, env, &err) < 0)
      return tfail("%s: %s", files[i], err.msg);
    if (strcmp(env->payload_type, TRUST_PAYLOAD_TYPE))
      return tfail("%s: payloadType is not %s", files[i], TRUST_PAYLOAD_TYPE);
    if (trust_statement_decode(env->payload, env->payload_len, &st, &err) < 0)
      return tfail("%s: %s", files[i], err.msg);
    if (strcmp(st.digest, hex))
      return tfail("%s: the signature is over sha256:%.12s, not %s (sha256:%.12s)", files[i], st.digest, ref, hex);
    if (name[0] && strcmp(st.name, name))
      return tfail("%s: the signature names %s, not %s", files[i], st.name, name);
    if (trust_store_add(s, hex, &st, text, &err) < 0)
      return tfail("%s: %s", files[i], err.msg);
    log_signature(s, &st, true);
    printf("added %s:%" PRIu64 " channel %s key %.16s to sha256:%s\n", st.name, st.version, st.channel,
           st.keyid, hex);
  }
  reverify(s, o->policy, hex);
  return 0;
}

/* policy ---------------------------------------------------------------- */

static int load_policy(const struct topts *o, struct trust_policy **ret) {
  struct img_err err = {0};
  if (trust_policy_load(trust_policy_path(o->policy), ret, &err) < 0)
    return tfail("%s", err.msg), -1;
  return 0;
}

static int save_and_reverify(const struct topts *o, struct trust_policy *p, const char *what) {
  struct img_err err = {0};
  if (trust_policy_save(p, &err) < 0)
    return tfail("%s", err.msg);
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (img_store_open(img_store_path(o->store), false, &s, NULL) == 0) {
    json_object *f = json_object_new_object();
    json_object_object_add(f, "change", json_object_new_string(what));
    json_object_object_add(f, "file", json_object_new_string(trust_policy_file(p)));
    json_object_object_add(f, "policy", json_object_new_string(trust_policy_digest(p)));
    (void)trust_log(s, "policy", f);
    int r = trust_verdict_all(s, p, &err);
    if (r < 0)
      fprintf(stderr, "secret-image: note: re-verifying the stored images: %s\n", err.msg);
  }
  printf("%s: %s\n", trust_policy_file(p), what);
  return 0;
}

static int read_pub(const char *path, uint8_t pk[32], char keyid[TRUST_KEYID_LEN + 1]) {
  _cleanup_free_ char *text = NULL;
  size_t len;
  struct img_err err = {0};
  int r = read_small_file(path, TRUST_KEY_MAX_TEXT, &text, &len);
  if (r < 0)
    return tfail("%s: %s", path, r == -EFBIG ? "not a public key file (too large)" : strerror(-r)), -1;
  if (trust_pub_parse(text, len, pk, keyid, &err) < 0)
    return tfail("%s: %s", path, err.msg), -1;
  return 0;
}

static int cmd_policy(const struct topts *o, int n, char **a) {
  _cleanup_(trust_policy_freep) struct trust_policy *p = NULL;
  struct img_err err = {0};
  char what[512];
  if (n < 1)
    return tfail("policy: trust, untrust, require, enforce, grace, warn, show or scan");
  const char *v = a[0];
  if (!strcmp(v, "show") && n == 1) {
    if (load_policy(o, &p) < 0)
      return 1;
    json_object *j = trust_policy_json(p);
    if (o->json) {
      printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
      return 0;
    }
    const char *req = trust_policy_required(p);
    char w[32], g[32];
    trust_duration_format(trust_policy_warn(p), w, sizeof w);
    trust_duration_format(trust_policy_grace(p), g, sizeof g);
    printf("policy    %s%s\nenforce   %s\nrequire   %s\nwarn      %s before expiry\ngrace     %s\n",
           trust_policy_file(p), trust_policy_exists(p) ? "" : " (absent)",
           trust_policy_enforced(p, NULL) ? "on" : "off", req ? req : "(none)", w, g);
    json_object *rules = trust_json_get(j, "rules", json_type_array);
    for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
      json_object *r = json_object_array_get_idx(rules, i);
      json_object *ks = trust_json_get(r, "keys", json_type_array);
      printf("rule      %s channel %s threshold %" PRId64 " keys", json_object_get_string(trust_json_get(r, "pattern", json_type_string)),
             json_object_get_string(trust_json_get(r, "channel", json_type_string)),
             json_object_get_int64(trust_json_get(r, "threshold", json_type_int)));
      for (size_t k = 0; k < json_object_array_length(ks); k++)
        printf(" %.16s", json_object_get_string(json_object_array_get_idx(ks, k)));
      printf("\n");
    }
    json_object *rev = trust_json_get(j, "revoked", json_type_array);
    for (size_t i = 0; rev && i < json_object_array_length(rev); i++)
      printf("revoked   %s\n", json_object_get_string(json_object_array_get_idx(rev, i)));
    return 0;
  }
  if (load_policy(o, &p) < 0)
    return 1;
  if (!strcmp(v, "trust") && n == 2) {
    uint8_t pk[32];
    char keyid[TRUST_KEYID_LEN + 1];
    if (!o->key || !o->channel)
      return tfail("policy trust PATTERN --key FILE.pub --channel CHANNEL [--threshold K]");
    if (read_pub(o->key, pk, keyid) < 0)
      return 1;
    if (trust_policy_trust(p, a[1], o->channel, pk, keyid, o->threshold, &err) < 0)
      return tfail("policy trust: %s", err.msg);
    snprintf(what, sizeof what, "trust key %.16s for %s on channel %s%s", keyid, a[1], o->channel,
             o->threshold ? " (threshold set)" : "");
  } else if (!strcmp(v, "untrust") && n == 2) {
    char keyid[TRUST_KEYID_LEN + 1];
    uint8_t pk[32];
    if (trust_keyid_valid(a[1]))
      snprintf(keyid, sizeof keyid, "%s", a[1]);
    else if (read_pub(a[1], pk, keyid) < 0)
      return 1;
    int r = trust_policy_untrust(p, keyid, &err);
    if (r < 0 && r != -ENOENT)
      return tfail("policy untrust: %s", err.msg);
    snprintf(what, sizeof what, "untrust key %.16s (revoked%s)", keyid, r == -ENOENT ? "; it was not trusted" : "");
  } else if (!strcmp(v, "require") && n == 2) {
    if (trust_policy_require(p, a[1], &err) < 0)
      return tfail("policy require: %s", err.msg);
    snprintf(what, sizeof what, "require channel %s", a[1]);
  } else if (!strcmp(v, "enforce") && n == 2 && (!strcmp(a[1], "on") || !strcmp(a[1], "off"))) {
    if (trust_policy_set_enforce(p, !strcmp(a[1], "on"), &err) < 0)
      return tfail("policy enforce: %s", err.msg);
    snprintf(what, sizeof what, "enforce %s", a[1]);
  } else if ((!strcmp(v, "grace") || !strcmp(v, "warn")) && n == 2) {
    int64_t secs;
    if (trust_duration_parse(a[1], &secs) < 0)
      return tfail("policy %s: expected a duration such as 7d, 12h or 0, got \"%s\"", v, a[1]);
    if (trust_policy_set_seconds(p, v, secs, &err) < 0)
      return tfail("policy %s: %s", v, err.msg);
    snprintf(what, sizeof what, "%s %s", v, a[1]);
  } else {
    return tfail("policy: trust PATTERN --key FILE.pub --channel C [--threshold K] | untrust KEY-ID|FILE.pub | "
                 "require CHANNEL | enforce on|off | grace DURATION | warn DURATION | show [--json]");
  }
  return save_and_reverify(o, p, what);
}

/* inspect and ls ------------------------------------------------------- */

struct inspect_ctx {
  json_object *a;
  const struct trust_verdict *v;
};

static const struct trust_signer *find_signer(const struct trust_verdict *v, const struct trust_statement *st) {
  for (size_t i = 0; v && i < v->n_claims; i++) {
    const struct trust_claim *c = &v->claims[i];
    if (c->version != st->version || strcmp(c->name, st->name) || strcmp(c->channel, st->channel))
      continue;
    for (size_t j = 0; j < c->n_signers; j++)
      if (!strcmp(c->signers[j].keyid, st->keyid))
        return &c->signers[j];
  }
  return NULL;
}

static int inspect_cb(void *ctx, const struct trust_dsse *env, const struct trust_statement *st, const char *why) {
  struct inspect_ctx *x = ctx;
  (void)env;
  json_object *o = json_object_new_object();
  if (!st) {
    json_object_object_add(o, "status", json_object_new_string("malformed"));
    json_object_object_add(o, "detail", json_object_new_string(why ? why : "?"));
    json_object_array_add(x->a, o);
    return 0;
  }
  char t[32], d[80];
  snprintf(d, sizeof d, "sha256:%s", st->digest);
  json_object_object_add(o, "name", json_object_new_string(st->name));
  json_object_object_add(o, "version", json_object_new_int64((int64_t)st->version));
  json_object_object_add(o, "channel", json_object_new_string(st->channel));
  json_object_object_add(o, "signer", json_object_new_string(st->keyid));
  fmt_time(st->issued, t);
  json_object_object_add(o, "issued", json_object_new_string(t));
  fmt_time(st->expires, t);
  json_object_object_add(o, "expires", json_object_new_string(t));
  json_object_object_add(o, "expired", json_object_new_boolean(st->expires <= (int64_t)time(NULL)));
  const struct trust_signer *g = find_signer(x->v, st);
  json_object_object_add(o, "status", json_object_new_string(g ? trust_sig_status_name(g->status)
                                                                   : x->v ? trust_sig_status_name(TRUST_SIG_OTHER_DIGEST)
                                                                          : "not-verified"));
  json_object_object_add(o, "counts", json_object_new_boolean(g && g->counts));
  json_object_array_add(x->a, o);
  return 0;
}

json_object *secret_image_trust_inspect(struct img_store *s, const char *hex, const char *policy) {
  _cleanup_(trust_policy_freep) struct trust_policy *p = NULL;
  _cleanup_free_ struct trust_verdict *v = calloc(1, sizeof *v);
  struct img_err err = {0};
  bool have = v && trust_policy_load(trust_policy_path(policy), &p, &err) == 0 &&
              trust_verdict_get(s, p, hex, v, &err) == 0;
  if (!have && err.msg[0])
    fprintf(stderr, "secret-image: note: signatures not checked against the policy: %s\n", err.msg);
  struct inspect_ctx x = {json_object_new_array(), have ? v : NULL};
  (void)trust_store_each(s, hex, inspect_cb, &x);
  return x.a;
}

struct warn_ctx {
  const char *ref;
  int64_t now, window;
};

static int warn_cb(void *ctx, const struct trust_dsse *env, const struct trust_statement *st, const char *why) {
  struct warn_ctx *x = ctx;
  (void)env, (void)why;
  if (!st || st->expires - x->now >= x->window)
    return 0;
  char t[32], left[32];
  fmt_time(st->expires, t);
  trust_duration_format(st->expires - x->now, left, sizeof left);
  if (st->expires <= x->now)
    fprintf(stderr, "secret-image: warning: %s: the signature by %.16s for %s (version %" PRIu64 ") expired at %s\n",
            x->ref, st->keyid, st->channel, st->version, t);
  else
    fprintf(stderr, "secret-image: warning: %s: the signature by %.16s for %s (version %" PRIu64 ") expires in %s (%s)\n",
            x->ref, st->keyid, st->channel, st->version, left, t);
  return 0;
}

void secret_image_trust_ls_warn(struct img_store *s, const struct img_entry *v, size_t n, const char *policy) {
  _cleanup_(trust_policy_freep) struct trust_policy *p = NULL;
  int64_t window = TRUST_DEFAULT_WARN;
  if (trust_policy_load(trust_policy_path(policy), &p, NULL) == 0)
    window = trust_policy_warn(p);
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = !strcmp(v[i].hex, v[j].hex);
    if (seen)
      continue;
    struct warn_ctx x = {v[i].ref[0] ? v[i].ref : v[i].hex, (int64_t)time(NULL), window};
    (void)trust_store_each(s, v[i].hex, warn_cb, &x);
  }
}

int secret_image_trust_main(int argc, char **argv) {
  int v = 1;
  while (v < argc && argv[v][0] == '-') /* global options before the verb */
    v += ((!strcmp(argv[v], "--store") || !strcmp(argv[v], "--policy")) && v + 1 < argc) ? 2 : 1;
  if (v >= argc || (strcmp(argv[v], "key") && strcmp(argv[v], "sign") && strcmp(argv[v], "policy") &&
                      strcmp(argv[v], "signature")))
    return -1;
  struct topts o = {.expires = DEFAULT_EXPIRY};
  enum { O_STORE = 256, O_POLICY, O_OUT, O_KEY, O_CHANNEL, O_PASS, O_KDF, O_EXPIRES, O_THRESHOLD, O_JSON };
  static const struct option lo[] = {{"store", required_argument, NULL, O_STORE},
                                     {"policy", required_argument, NULL, O_POLICY},
                                     {"out", required_argument, NULL, O_OUT},
                                     {"key", required_argument, NULL, O_KEY},
                                     {"channel", required_argument, NULL, O_CHANNEL},
                                     {"passphrase-file", required_argument, NULL, O_PASS},
                                     {"kdf-cost", required_argument, NULL, O_KDF},
                                     {"expires", required_argument, NULL, O_EXPIRES},
                                     {"threshold", required_argument, NULL, O_THRESHOLD},
                                     {"json", no_argument, NULL, O_JSON},
                                     {NULL, 0, NULL, 0}};
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_STORE: o.store = optarg; break;
    case O_POLICY: o.policy = optarg; break;
    case O_OUT: o.out = optarg; break;
    case O_KEY: o.key = optarg; break;
    case O_CHANNEL: o.channel = optarg; break;
    case O_PASS: o.pass_file = optarg; break;
    case O_KDF: o.kdf = optarg; break;
    case O_JSON: o.json = true; break;
    case O_EXPIRES:
      if (trust_duration_parse(optarg, &o.expires) < 0 || o.expires <= 0)
        return tfail("--expires: expected a duration such as 90d, 12h or 30s, got \"%s\"", optarg);
      break;
    case O_THRESHOLD: {
      errno = 0;
      long t = strtol(optarg, &end, 10);
      if (errno || *end || t < 1 || t > TRUST_MAX_THRESHOLD)
        return tfail("--threshold: expected 1..%d, got \"%s\"", TRUST_MAX_THRESHOLD, optarg);
      o.threshold = (int)t;
      break;
    }
    default: return tfail("unknown option (see secret-image(1))"), 2;
    }
  }
  if (sodium_init() < 0)
    return tfail("libsodium failed to initialise");
  int n = argc - optind;
  char **a = argv + optind;
  if (!strcmp(a[0], "key") && n == 3 && !strcmp(a[1], "generate"))
    return cmd_key_generate(&o, a[2]);
  if (!strcmp(a[0], "sign") && n == 2)
    return cmd_sign(&o, a[1]);
  if (!strcmp(a[0], "policy"))
    return cmd_policy(&o, n - 1, a + 1);
  if (!strcmp(a[0], "signature") && n >= 4 && !strcmp(a[1], "add"))
    return cmd_signature_add(&o, a[2], n - 3, a + 3);
  fprintf(stderr, "usage: secret-image key generate NAME [--out DIR] [--kdf-cost C] [--passphrase-file F]\n"
                  "       secret-image sign NAME:VERSION --key F.key --channel C [--expires D] [--passphrase-file F]\n"
                  "       secret-image [--policy F] policy trust PATTERN --key F.pub --channel C [--threshold K]\n"
                  "       secret-image [--policy F] policy untrust KEY-ID|F.pub | require C | enforce on|off |\n"
                  "                                 grace D | warn D | show [--json]\n"
                  "       secret-image signature add REF FILE.dsse...\n");
  return 2;
}
