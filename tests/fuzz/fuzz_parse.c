/* tests/fuzz/fuzz_parse.c — libFuzzer target: segloss_config_parse on arbitrary text, and
   segloss_config_format of what it accepts into buffers of every awkward size.
   Build: clang -fsanitize=fuzzer,address,undefined (tests/reliability.mk links it against
   tests/impl.c built with -fsanitize=fuzzer-no-link,address,undefined).
   Input: byte 0 picks the err buffer size (0 with NULL, 0, 1, 2, 5, 17, 64, 300), byte 1 the
   weights given to format (none, or 1..8 classes); the rest is the text (NUL-terminated copy).
   Oracle (abort() on violation, so libFuzzer saves the input):
     - never a crash or a sanitizer report; err, when size > 0, is NUL-terminated in its size;
     - on error *cfg is untouched byte for byte, the status is SEGLOSS_ERR_PARSE;
     - on success the config is valid for segloss_compute (enum, every parameter finite >= 0);
     - format returns the full length (snprintf semantics) for sizes 0, 1, 2, 7, len, len+1
       and a random one, writes at most size bytes, NUL-terminates, and is a prefix of the full
       text; the full text without weights parses back to an equivalent config: the same loss
       type and, bit for bit, every parameter the printout shows for that type (the printout
       has no line for ignore_index, reduction, flags: those take the loss's defaults; it has
       the activation, a sigmoid focal term's alpha (negative: "none", any negative back), a
       softmax CE term's label smoothing, generalized_dice's include_background and per_sample);
       with weights, a type that prints them is refused (class weights are not text) naming
       "Class weights", a type that does not print them round-trips as without; a sigmoid ce or
       weighted_ce given the weights as pos_weight is refused naming "Pos weight". */
#include "../../segloss.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) { fprintf(stderr, "fuzz_parse: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static int prints_gamma(segloss_loss_type t) { return t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE; }
static int prints_smooth(segloss_loss_type t)
{
    return t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY || t == SEGLOSS_GENERALIZED_DICE;
}
static int prints_weights(segloss_loss_type t)
{
    return t != SEGLOSS_DICE && t != SEGLOSS_TVERSKY && t != SEGLOSS_GENERALIZED_DICE;
}
static int fsame(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }
static int valid_param(float v) { return v >= 0.0f && v <= 3.4028234663852886e38f; }

static void check_valid(const segloss_config *c)
{
    REQUIRE((unsigned)c->loss_type < SEGLOSS_LOSS_COUNT);
    REQUIRE((unsigned)c->reduction <= SEGLOSS_SUM);
    REQUIRE(valid_param(c->focal_gamma) && valid_param(c->focal_weight) && valid_param(c->dice_weight));
    REQUIRE(valid_param(c->dice_smooth) && valid_param(c->tversky_alpha) && valid_param(c->tversky_beta));
    REQUIRE(!(c->loss_type == SEGLOSS_FOCAL_DICE && c->focal_weight == 0.0f && c->dice_weight == 0.0f));
    REQUIRE(c->class_weights == NULL);
    REQUIRE((c->use_class_weighting == 0 || c->use_class_weighting == 1) && (c->include_background == 0 || c->include_background == 1));
    REQUIRE((c->per_sample == 0 || c->per_sample == 1) && (c->check_finite == 0 || c->check_finite == 1));
    REQUIRE(c->activation == SEGLOSS_SOFTMAX || c->activation == SEGLOSS_SIGMOID);
    REQUIRE(c->label_smoothing >= 0.0f && c->label_smoothing <= 1.0f);
    REQUIRE(c->focal_alpha <= 1.0f && c->focal_alpha >= -3.4028234663852886e38f); /* finite; < 0: none */
    REQUIRE(c->pos_weight == NULL);
    REQUIRE(!((c->loss_type == SEGLOSS_FOCAL || c->loss_type == SEGLOSS_FOCAL_DICE) && c->activation == SEGLOSS_SOFTMAX &&
              c->focal_gamma > 0.0f && c->label_smoothing > 0.0f)); /* segloss_compute refuses it */
    REQUIRE(!(c->label_smoothing > 0.0f && (c->activation == SEGLOSS_SIGMOID || c->loss_type == SEGLOSS_DICE ||
                                            c->loss_type == SEGLOSS_TVERSKY || c->loss_type == SEGLOSS_GENERALIZED_DICE)));
    REQUIRE(!signbit(c->label_smoothing)); /* -0 is read as 0, the printout's */
}

/* format into buffers of several sizes; returns the full text (malloc'd) */
static char *format_all(const segloss_config *cfg, const float *w, int64_t c, unsigned salt)
{
    int len = segloss_config_format(cfg, w, c, NULL, 0), k;
    char *full;
    size_t sizes[7];
    REQUIRE(len > 0);
    full = (char *)malloc((size_t)len + 1);
    REQUIRE(segloss_config_format(cfg, w, c, full, (size_t)len + 1) == len && strlen(full) == (size_t)len);
    sizes[0] = 0; sizes[1] = 1; sizes[2] = 2; sizes[3] = 7; sizes[4] = (size_t)len; sizes[5] = (size_t)len + 1;
    sizes[6] = salt % ((unsigned)len + 2);
    for (k = 0; k < 7; k++) {
        size_t n = sizes[k];
        char *b = (char *)malloc(n + 1);
        memset(b, 'Q', n + 1);
        REQUIRE(segloss_config_format(cfg, w, c, n ? b : NULL, n) == len);
        REQUIRE(b[n] == 'Q'); /* never past size (ASan also guards the malloc'd size) */
        if (n > 0) {
            size_t got = strlen(b);
            REQUIRE(got == (n - 1 < (size_t)len ? n - 1 : (size_t)len));
            REQUIRE(memcmp(b, full, got) == 0);
        }
        free(b);
    }
    return full;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t err_sizes[8] = { 0, 0, 1, 2, 5, 17, 64, 300 };
    segloss_config cfg, before, back;
    segloss_status st;
    char *text, *err;
    size_t esz;
    int null_err, nw;
    float w[8];
    if (size < 2) return 0;
    esz = err_sizes[data[0] & 7];
    null_err = (data[0] & 7) == 0;
    nw = (data[1] >> 4) % 9; /* 0: no weights */
    text = (char *)malloc(size - 1);
    memcpy(text, data + 2, size - 2);
    text[size - 2] = 0;
    err = null_err ? NULL : (char *)malloc(esz ? esz : 1);
    if (err) memset(err, 'E', esz ? esz : 1);
    memset(&cfg, 0x5A, sizeof cfg);
    before = cfg;
    st = segloss_config_parse(text, &cfg, err, esz);
    if (err && esz > 0) REQUIRE(memchr(err, 0, esz) != NULL);
    if (err && esz == 0) REQUIRE(err[0] == 'E'); /* size 0: not one byte written */
    if (st != SEGLOSS_OK) {
        REQUIRE(st == SEGLOSS_ERR_PARSE);
        REQUIRE(memcmp(&cfg, &before, sizeof cfg) == 0);
        if (err && esz >= 17) REQUIRE(err[0] != 0); /* a message */
    } else {
        char *full;
        int k;
        check_valid(&cfg);
        full = format_all(&cfg, NULL, 0, (unsigned)data[1] * 131u + (unsigned)size);
        memset(&back, 0x33, sizeof back);
        st = segloss_config_parse(full, &back, NULL, 0);
        REQUIRE(st == SEGLOSS_OK);
        REQUIRE(back.loss_type == cfg.loss_type);
        if (prints_gamma(cfg.loss_type)) REQUIRE(fsame(back.focal_gamma, cfg.focal_gamma));
        if (cfg.loss_type == SEGLOSS_FOCAL_DICE)
            REQUIRE(fsame(back.focal_weight, cfg.focal_weight) && fsame(back.dice_weight, cfg.dice_weight));
        if (cfg.loss_type == SEGLOSS_TVERSKY)
            REQUIRE(fsame(back.tversky_alpha, cfg.tversky_alpha) && fsame(back.tversky_beta, cfg.tversky_beta));
        if (prints_smooth(cfg.loss_type)) REQUIRE(fsame(back.dice_smooth, cfg.dice_smooth));
        REQUIRE(back.activation == cfg.activation);
        if (prints_gamma(cfg.loss_type) && cfg.activation == SEGLOSS_SIGMOID)
            REQUIRE(cfg.focal_alpha < 0.0f ? back.focal_alpha < 0.0f : fsame(back.focal_alpha, cfg.focal_alpha));
        if (prints_weights(cfg.loss_type) && cfg.activation == SEGLOSS_SOFTMAX)
            REQUIRE(fsame(back.label_smoothing, cfg.label_smoothing));
        if (cfg.loss_type == SEGLOSS_GENERALIZED_DICE)
            REQUIRE(back.include_background == cfg.include_background && back.per_sample == cfg.per_sample);
        free(full);
        if (nw > 0) {
            char msg[200];
            for (k = 0; k < nw; k++) {
                unsigned b = size > (size_t)(2 + k) ? data[2 + k] : 7u;
                w[k] = b < 200 ? (float)b / 7.0f : b < 230 ? 1e30f : b < 250 ? 1e-30f : 0.0f;
            }
            full = format_all(&cfg, w, nw, (unsigned)size);
            st = segloss_config_parse(full, &back, msg, sizeof msg);
            if (prints_weights(cfg.loss_type)) REQUIRE(st == SEGLOSS_ERR_PARSE && strstr(msg, "Class weights") != NULL);
            else REQUIRE(st == SEGLOSS_OK && back.loss_type == cfg.loss_type);
            free(full);
            if (cfg.activation == SEGLOSS_SIGMOID && (cfg.loss_type == SEGLOSS_CE || cfg.loss_type == SEGLOSS_WEIGHTED_CE)) {
                segloss_config pc = cfg;
                pc.pos_weight = w;
                full = format_all(&pc, NULL, nw, (unsigned)size + 7u);
                st = segloss_config_parse(full, &back, msg, sizeof msg);
                REQUIRE(st == SEGLOSS_ERR_PARSE && strstr(msg, "Pos weight") != NULL);
                free(full);
            }
        }
    }
    /* NULL arguments: never a crash */
    REQUIRE(segloss_config_parse(text, NULL, err, esz) == SEGLOSS_ERR_NULL);
    free(text);
    free(err);
    return 0;
}
