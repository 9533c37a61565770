/* segloss.h v0.1.0 — segmentation losses with exact gradients, SIMD, one header.
   https://example.invalid/segloss — MIT licence at the end of this file.

   GENERATED FILE: `make segloss.h` assembles it from kernels/, whose segloss.h is this file's
   skeleton: each `#include "part.h"` below is replaced by that part, once. Edit kernels/.

   DO THIS in exactly one C or C++ file:

       #define SEGLOSS_IMPLEMENTATION
       #include "segloss.h"

   and include "segloss.h" without the define everywhere else. Then:

       segloss_config cfg;
       segloss_input in;
       segloss_result r;
       segloss_config_init(&cfg, SEGLOSS_FOCAL_DICE);           // the loss guide's defaults
       cfg.ignore_index = 255;                                  // uint8 labels, 255 = ignore
       in.logits = logits;  in.labels = labels;  in.label_type = SEGLOSS_LABEL_U8;
       in.n = N;  in.c = C;  in.s = H * W;  in.layout = SEGLOSS_NCHW;  // logits N x C x H x W
       segloss_status st = segloss_compute(&cfg, &in, grad, &r);   // grad: NULL = loss only
       if (st != SEGLOSS_OK) {                                  // what, where, and the fix
           char msg[256];
           fprintf(stderr, "%s\n", segloss_error_message(st, &cfg, &in, &r, msg, sizeof msg));
       }

   Installed instead (make install, pkg-config, CMake's segloss::segloss): docs/install.md.

   CONTENTS                                                      part (kernels/)
       1. Compile-time options                                   segloss.h (this comment)
       2. API: configuration, input, result, errors              api.h
       3. API: one call                    (segloss_compute)
       4. API: two phases for chunks, threads, machines (segloss_accumulate ...)
       5. API: class weights, text, printout, metrics, advice
       6. API: SIMD paths, threads         (segloss_active_isa, segloss_set_threads ...)
       7. Semantics: formulas, defaults, peers, numbers, errors
       8. Implementation (SEGLOSS_IMPLEMENTATION only):
          system headers, compiler and platform macros, block sizes   base.h
          chunk runner: the thread pool, the caller's parallel-for    threads.h
          vector vocabularies, one per ISA; each compiles the kernels isa_scalar.h (the contract),
                                                                       isa_avx2.h, isa_avx512.h,
                                                                       isa_neon.h
          path table, CPU detection, the active path                  dispatch.h
          validation, the phases, segloss_compute, two-phase API      driver.h
          loss names, configuration text, the printout                text.h
          label counts, class weights, confusion, metrics, advisor    metrics.h
          the kernels, written once over the vocabulary               loss_kernels.h (softmax),
                                                 sigmoid_kernels.h (sigmoid; softmax targets)
       9. Licence

   1. COMPILE-TIME OPTIONS (define before including)
       SEGLOSS_IMPLEMENTATION  in one file: emit the implementation.
       SEGLOSS_STATIC          everywhere: all functions static (private to one file).
       SEGLOSS_NO_SIMD         implementation file: scalar path only.
       SEGLOSS_NO_AVX512       implementation file: drop the AVX-512 path (smaller, faster build).
       SEGLOSS_HEADER_FILE     implementation file: this header's name if renamed (it re-includes
                               itself once per ISA); default "segloss.h".
       SEGLOSS_MALLOC/FREE     implementation file: allocator for segloss_compute's scratch
                               (both or neither). Kernels never allocate.
       SEGLOSS_STREAM_BYTES    implementation file: gradients of at least this many bytes
                               (default 16 MiB) are written with non-temporal stores on x86,
                               around the caches; define it larger to keep them cached.
                               NCHW needs 16-byte aligned class planes for it: the gradient
                               as malloc returns it, and S a multiple of 4.
       SEGLOSS_NO_THREADS      implementation file: no built-in thread pool (no <pthread.h>);
                               every call runs on its calling thread, or on the caller's pool
                               (segloss_set_parallel_for). Windows builds have no pool either.
       SEGLOSS_PARALLEL_MIN    implementation file: calls of fewer positions (default 65536)
                               never use threads. Runtime: segloss_set_threads(k), or the
                               environment variable SEGLOSS_THREADS (default 1 thread).
   The implementation file must not include SIMDe before segloss.h, and should be compiled with
   baseline flags (no -mavx2) if the program must run on CPUs without AVX2. It needs C99 or
   later, or C++ (an #error says so; files that only include the declarations may be C89), and
   SIMDe's headers (https://github.com/simd-everywhere/simde; Debian/Ubuntu: apt install
   libsimde-dev) unless SEGLOSS_NO_SIMD. Without SIMDe the build stops at an #error that says
   so, rather than falling back to the scalar path: that would make every call 20-50x slower
   with nothing to say why. Define SEGLOSS_NO_SIMD to choose the scalar path knowingly.

   RECENT REVISIONS
       unreleased  the sigmoid activation (BCE with pos_weight, torchvision's focal, Dice family
                   per channel) with labels or per-channel targets; label smoothing; weight
                   maps; generalized_dice; segloss_compute_unreduced (reduction='none');
                   segloss_isa_count, segloss_isa_name; segloss_error_message; make install,
                   pkg-config and CMake packages; threads: segloss_set_threads,
                   SEGLOSS_THREADS, segloss_set_parallel_for (bit-identical for any count).
       0.1.0       the six losses, exact gradients, two-phase API, SIMD dispatch.
       See CHANGELOG.md.
*/
#ifndef SEGLOSS__KERNEL_PASS

/* ---- begin kernels/api.h ---- */
/* ---- kernels/api.h: the public API (sections 2-6) and its semantics (section 7) -------- */
#ifndef SEGLOSS_H_INCLUDED
#define SEGLOSS_H_INCLUDED

/* The implementation needs C99 (it and SIMDe use it throughout: inline, declarations in for
   loops); as C89 it failed with 2,469 errors. Say why once instead, and drop the
   implementation so that this is the only error. The declarations alone compile as C89, so a
   C89 file may still include segloss.h without SEGLOSS_IMPLEMENTATION. MSVC's C compiler
   defines no __STDC_VERSION__ unless given /std:c11, yet compiles this C99. */
#if defined(SEGLOSS_IMPLEMENTATION) && !defined(__cplusplus) && !defined(_MSC_VER) && \
    (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 199901L)
#error "segloss needs C99 or later (or C++) in the file that defines SEGLOSS_IMPLEMENTATION"
#undef SEGLOSS_IMPLEMENTATION
#endif

#include <stddef.h>
#include <stdint.h>

/* The one place that defines the version: SEGLOSS_VERSION_STRING, segloss.pc, the CMake
   package's version file and CMakeLists.txt's project() are derived from these three lines
   (tests/consumers/version.sh checks them and CHANGELOG.md against each other). */
#define SEGLOSS_VERSION_MAJOR 0
#define SEGLOSS_VERSION_MINOR 1
#define SEGLOSS_VERSION_PATCH 0
#define SEGLOSS_VERSION_NUMBER (SEGLOSS_VERSION_MAJOR * 10000 + SEGLOSS_VERSION_MINOR * 100 + SEGLOSS_VERSION_PATCH)
#define SEGLOSS__STR_(x) #x
#define SEGLOSS__STR(x) SEGLOSS__STR_(x)
#define SEGLOSS_VERSION_STRING \
    SEGLOSS__STR(SEGLOSS_VERSION_MAJOR) "." SEGLOSS__STR(SEGLOSS_VERSION_MINOR) "." SEGLOSS__STR(SEGLOSS_VERSION_PATCH)

#ifdef SEGLOSS_STATIC
#define SEGLOSSDEF static
#else
#define SEGLOSSDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 2. configuration, input, result, errors ------------------------------------------- */

typedef enum segloss_loss_type {
    SEGLOSS_CE = 0,          /* 'ce'          cross entropy                                  */
    SEGLOSS_WEIGHTED_CE,     /* 'weighted_ce' CE with (automatic inverse-frequency) weights  */
    SEGLOSS_FOCAL,           /* 'focal'       focal loss, gamma                              */
    SEGLOSS_DICE,            /* 'dice'        soft Dice, smooth                              */
    SEGLOSS_FOCAL_DICE,      /* 'focal_dice'  focal_weight*focal + dice_weight*dice          */
    SEGLOSS_TVERSKY,         /* 'tversky'     alpha on false positives, beta on false neg.   */
    SEGLOSS_GENERALIZED_DICE,/* 'generalized_dice' Dice with class weights 1/G_c^2 (MONAI)     */
    SEGLOSS_LOSS_MAX_ENUM = 0x7FFFFFFF /* any int is a value: C++ may pass garbage safely */
} segloss_loss_type;
#define SEGLOSS_LOSS_COUNT 7

/* What segloss_input.labels holds: one class index per position (LABEL_*), or a target per
   channel of the logits' shape and layout (TARGET_*: uint8 0/1 masks, float32 in [0, 1]). */
typedef enum segloss_label_type {
    SEGLOSS_LABEL_U8 = 0, SEGLOSS_LABEL_I32, SEGLOSS_LABEL_I64,
    SEGLOSS_TARGET_U8,       /* sigmoid: multilabel / region masks, 0 or 1 per element         */
    SEGLOSS_TARGET_F32,      /* sigmoid: soft targets in [0, 1]; softmax: class probabilities  */
    SEGLOSS_LABEL_MAX_ENUM = 0x7FFFFFFF
} segloss_label_type;
typedef enum segloss_activation {
    SEGLOSS_SOFTMAX = 0,     /* one class per position: p = softmax over the C channels        */
    SEGLOSS_SIGMOID,         /* every channel its own binary problem: p_c = sigmoid(z_c)        */
    SEGLOSS_ACTIVATION_MAX_ENUM = 0x7FFFFFFF
} segloss_activation;
typedef enum segloss_layout { SEGLOSS_NCHW = 0, SEGLOSS_NHWC, SEGLOSS_LAYOUT_MAX_ENUM = 0x7FFFFFFF } segloss_layout;
typedef enum segloss_reduction { SEGLOSS_MEAN = 0, SEGLOSS_SUM, SEGLOSS_REDUCTION_MAX_ENUM = 0x7FFFFFFF } segloss_reduction;

/* Field names are the loss guide's. Fill with segloss_config_init, then change what you need. */
typedef struct segloss_config {
    segloss_loss_type loss_type;
    float focal_gamma;          /* gamma >= 0; focal and focal_dice                        */
    float focal_weight;         /* focal_dice: weight of the focal term  (>= 0)             */
    float dice_weight;          /* focal_dice: weight of the Dice term   (>= 0, not both 0) */
    float dice_smooth;          /* s >= 0; dice, focal_dice, tversky                        */
    float tversky_alpha;        /* weight of false positives (>= 0)                         */
    float tversky_beta;         /* weight of false negatives (>= 0)                         */
    int use_class_weighting;    /* automatic inverse-frequency weights when class_weights==NULL */
    const float *class_weights; /* C weights (>= 0, finite) or NULL; CE-family terms only   */
    int64_t ignore_index;       /* label value that takes no part (default -100)            */
    int include_background;     /* 0: class 0 left out of the Dice/Tversky class mean       */
    int per_sample;             /* Dice/Tversky per sample, then averaged (MONAI default)   */
    segloss_reduction reduction;/* SEGLOSS_MEAN (default) or SEGLOSS_SUM                    */
    int check_finite;           /* 1: reject non-finite logits, reporting the first position */
    segloss_activation activation; /* SEGLOSS_SOFTMAX (default) or SEGLOSS_SIGMOID             */
    float label_smoothing;      /* softmax CE term: epsilon in [0, 1] (PyTorch's)           */
    const float *pos_weight;    /* sigmoid CE: C weights of the positives (>= 0) or NULL     */
    float focal_alpha;          /* sigmoid focal: torchvision's alpha in [0, 1]; < 0: none   */
    const float *weight_map;    /* a weight (>= 0, finite) per position of the call's input,
                                   at n*S + s as its labels (U-Net border weights), or NULL  */
} segloss_config;

/* Logits are float32 N x C x S (S = all spatial dims flattened).
   NCHW: element (n,c,s) at (n*C + c)*S + s.   NHWC: at (n*S + s)*C + c.
   Labels: one class per (n,s) at n*S + s, as uint8, int32 or int64; or (sigmoid) targets per
   element, at the logits' index. */
typedef struct segloss_input {
    const float *logits;
    const void *labels;
    segloss_label_type label_type;
    int64_t n, c, s;
    segloss_layout layout;
} segloss_input;

typedef struct segloss_result {
    double loss;            /* the configured loss                                           */
    double ce_term;         /* CE / weighted CE / focal term (unweighted by focal_weight)    */
    double dice_term;       /* Dice or Tversky term (unweighted by dice_weight)              */
    int64_t valid;          /* number of positions whose label is not ignore_index            */
    int64_t bad_position;   /* SEGLOSS_ERR_LABEL: first offending label, at n*S+s (a
                               per-channel target: its element index);
                               SEGLOSS_ERR_NONFINITE: first offending logit (element index);
                               SEGLOSS_ERR_WEIGHTS from the weight map: its position, n*S+s;
                               otherwise -1                                                  */
} segloss_result;

typedef enum segloss_status {
    SEGLOSS_OK = 0,
    SEGLOSS_ERR_NULL,        /* a required pointer is NULL                                   */
    SEGLOSS_ERR_SHAPE,       /* n, c or s zero or negative, c > INT32_MAX, or logits of n*c*s
                                floats larger than any address space (2^57 bytes on 64-bit)  */
    SEGLOSS_ERR_ENUM,        /* unknown loss type, label type, layout or reduction           */
    SEGLOSS_ERR_PARAM,       /* a parameter is NaN, infinite or out of its domain            */
    SEGLOSS_ERR_WEIGHTS,     /* a class weight, pos_weight or weight-map value is negative or
                                not finite                                                    */
    SEGLOSS_ERR_LABEL,       /* a label outside [0, C) that is not ignore_index; a per-channel
                                target outside [0, 1] (TARGET_U8: not 0 or 1)                 */
    SEGLOSS_ERR_NONFINITE,   /* check_finite: a logit is NaN or infinite                      */
    SEGLOSS_ERR_ALIAS,       /* grad overlaps logits without being exactly the same buffer    */
    SEGLOSS_ERR_STATS,       /* statistics buffer does not match the configuration / slice  */
    SEGLOSS_ERR_NOMEM,       /* scratch allocation failed                                     */
    SEGLOSS_ERR_ISA,         /* unknown SIMD path, or one this CPU cannot run                 */
    SEGLOSS_ERR_PARSE,       /* configuration text: unknown key or bad value                  */
    SEGLOSS_ERR_BUILD,       /* the implementation was compiled with flags that break its
                                arithmetic (fast-math): its self-test failed at first use     */
    SEGLOSS_STATUS_MAX_ENUM = 0x7FFFFFFF
} segloss_status;

SEGLOSSDEF void segloss_config_init(segloss_config *cfg, segloss_loss_type loss_type);
SEGLOSSDEF const char *segloss_status_string(segloss_status status);
/* The error of a call in words: what is wrong, where, and the likely fix, e.g.
       label 255 at sample 0, position 17 is not a class (C = 4 classes: 0..3) and not
       ignore_index (-100): if 255 marks pixels to ignore, set ignore_index = 255
   Pass the call's status and arguments; cfg, in and r may each be NULL (it then says what it
   can; without r it finds a bad label or logit again in in). Positions are those of `in` (for a
   two-phase slice, from the slice's start). Writes at most size bytes including the
   terminating 0 (truncating) and returns buf; buf NULL or size 0 writes nothing. */
SEGLOSSDEF char *segloss_error_message(segloss_status status, const segloss_config *cfg, const segloss_input *in,
                                       const segloss_result *r, char *buf, size_t size);
SEGLOSSDEF const char *segloss_loss_name(segloss_loss_type loss_type);      /* "focal_dice"; NULL if unknown */
SEGLOSSDEF segloss_status segloss_loss_from_name(const char *name, segloss_loss_type *out);
SEGLOSSDEF int segloss_version(void);                                        /* SEGLOSS_VERSION_NUMBER */
/* The layout this library was compiled with, for bindings that declare the structs themselves
   (python/segloss): the offset of `field` in struct `type` ("segloss_config", "focal_gamma"),
   its size when field is NULL, -1 for a name it does not know. A binding that finds a mismatch
   refuses to load rather than pass misplaced fields. */
SEGLOSSDEF int64_t segloss_abi_offset(const char *type, const char *field);

/* ---- 3. one call ----------------------------------------------------------------------- */

/* Loss of the whole batch and, when grad != NULL, dL/dlogits in the logits' layout.
   out is required. grad may be the logits buffer itself (in place); any other overlap is
   SEGLOSS_ERR_ALIAS. Everything is validated before anything is written: on error grad is
   untouched and *out only reports the error (loss, ce_term and dice_term NaN, valid 0,
   bad_position the offending position or -1); *out is untouched only when out itself or cfg
   or in is NULL. */
SEGLOSSDEF segloss_status segloss_compute(const segloss_config *cfg, const segloss_input *in,
                                          float *grad, segloss_result *out);

/* segloss_compute that also writes the loss's unreduced terms (PyTorch's and MONAI's
   reduction='none') into terms, segloss_unreduced_len(cfg, in) floats (0: cfg or in invalid, or
   focal_dice):
     ce, weighted_ce, focal   the term of every position, w[y] m_i l_i at n*S + s (sigmoid: of
                              every element, w_c m_i l_ic at the logits' index); 0 where ignored
     dice, tversky            1 - D for every (sample, class in K) at n*|K| + k, per_sample or
                              not (per_sample = 0: |K| values, the batch's)
     generalized_dice         1 - GD of every sample (per_sample = 0: one value)
   focal_dice has no unreduced form (SEGLOSS_ERR_PARAM). grad and *out are as segloss_compute's
   (the gradient of the configured reduction). terms is written only on success. */
SEGLOSSDEF int64_t segloss_unreduced_len(const segloss_config *cfg, const segloss_input *in);
SEGLOSSDEF segloss_status segloss_compute_unreduced(const segloss_config *cfg, const segloss_input *in,
                                                    float *grad, float *terms, segloss_result *out);

/* ---- 4. two phases ---------------------------------------------------------------------
   Dice and Tversky need sums over the whole batch before any gradient exists. Split the batch
   into slices (whole samples, or for NHWC also a range of positions within one sample), then:
       segloss_stats st = { N, C, buf };    buf: segloss_stats_len(&cfg, N, C) doubles, zeroed
       segloss_accumulate(&cfg, &slice, first_sample, &st);        for every slice, any order
       (add buf element-wise across threads/machines, in a fixed order for fixed bits: e.g.
        MPI_Allgather, then add in rank order; MPI_Allreduce's order is not promised)
       segloss_finish(&cfg, &st, &result);                         loss of the whole batch
       segloss_backward(&cfg, &slice, first_sample, &st, grad);    gradient of each slice
   first_sample is the index in the batch of the slice's first sample. segloss_compute runs
   exactly these phases (it folds the CE-family loss into the backward pass: for CE and focal,
   and for focal_dice's focal term when it computes a gradient). */
typedef struct segloss_stats {
    int64_t n, c;           /* batch the statistics describe                               */
    double *sum;            /* segloss_stats_len(cfg, n, c) doubles: sums, so add them up   */
} segloss_stats;

SEGLOSSDEF int64_t segloss_stats_len(const segloss_config *cfg, int64_t n, int64_t c); /* 0 if invalid */
SEGLOSSDEF segloss_status segloss_accumulate(const segloss_config *cfg, const segloss_input *slice,
                                             int64_t first_sample, segloss_stats *stats);
/* Errors are reported in *out as by segloss_compute (untouched when cfg, stats or out is NULL). */
SEGLOSSDEF segloss_status segloss_finish(const segloss_config *cfg, const segloss_stats *stats,
                                         segloss_result *out);
SEGLOSSDEF segloss_status segloss_backward(const segloss_config *cfg, const segloss_input *slice,
                                           int64_t first_sample, const segloss_stats *stats, float *grad);

/* One pass over the logits for the CE family, as segloss_compute makes. Two calls pair up:
       segloss_accumulate_labels(&cfg, &slice, first_sample, &st);   for every slice
       (add buf across threads/machines as above)
       segloss_finish(&cfg, &st, &result);               the loss without the CE-family term
       double part = 0;
       segloss_backward_loss(&cfg, &slice, first_sample, &st, grad, &part);  every slice
       (add the parts across slices/machines: loss = result.loss + sum of parts)
   segloss_accumulate_labels gathers what the gradient needs before it exists, and no more:
   for ce, weighted_ce and focal only the per-class label counts (the labels are read, the
   logits are not); for focal_dice with focal_weight > 0 every statistic but the focal term;
   otherwise (dice, tversky, focal_dice with focal_weight 0) exactly segloss_accumulate's.
   segloss_finish on these statistics reports the loss without the CE-family term (ce_term 0;
   valid and dice_term as usual). segloss_backward_loss is segloss_backward that also adds
   into *loss the slice's share of focal_weight * the CE-family term (the whole loss for ce,
   weighted_ce and focal; 0 where segloss_accumulate_labels gathered the term itself): the
   shares of all slices add up to that term, normalised over the whole batch (the weights
   and sum_V w[y] come from the statistics). The CE-family term alone is sum / focal_weight.
   Use the two as a pair: with segloss_accumulate's statistics segloss_finish already reports
   the whole loss, and the parts must not be added to it. Sums in a fixed
   order give fixed bits: add the parts in slice order (segloss_compute adds them in chunk
   order, so its loss may differ in the last bits). loss NULL: SEGLOSS_ERR_NULL. */
SEGLOSSDEF segloss_status segloss_accumulate_labels(const segloss_config *cfg, const segloss_input *slice,
                                                    int64_t first_sample, segloss_stats *stats);
SEGLOSSDEF segloss_status segloss_backward_loss(const segloss_config *cfg, const segloss_input *slice,
                                                int64_t first_sample, const segloss_stats *stats, float *grad,
                                                double *loss);

/* ---- 5. class weights, text, printout, metrics, advice --------------------------------- */

typedef enum segloss_weighting {
    SEGLOSS_WEIGHT_INVERSE = 0,   /* |V| / n_c                           (the default)       */
    SEGLOSS_WEIGHT_MEDIAN,        /* median_k(f_k) / f_c                 (Eigen & Fergus 2015) */
    SEGLOSS_WEIGHT_INV_SQRT,      /* sqrt(|V| / n_c)                                          */
    SEGLOSS_WEIGHT_EFFECTIVE,     /* (1 - b) / (1 - b^n_c), b = 0.9999, mean-normalised (Cui 2019) */
    SEGLOSS_WEIGHT_MAX_ENUM = 0x7FFFFFFF
} segloss_weighting;

/* Count labels per class over valid positions, adding into counts[C] (accumulates across calls). */
SEGLOSSDEF segloss_status segloss_label_histogram(const segloss_input *in, int64_t ignore_index,
                                                  int64_t *counts);
/* Class weights from counts; a class with count 0 gets weight 0. */
SEGLOSSDEF segloss_status segloss_class_weights(segloss_weighting method, const int64_t *counts,
                                                int64_t c, float *weights);
/* The weights segloss_compute would use for this config and input (all 1 when unweighted). */
SEGLOSSDEF segloss_status segloss_weights_for(const segloss_config *cfg, const segloss_input *in,
                                              float *weights);

/* Parse the text users write: "loss_type='focal', focal_gamma=2.0, use_class_weighting=True,"
   Commas or newlines, optional quotes, True/False/1/0, '#' comments. Starts from the loss's
   defaults (segloss_config_init), then applies the keys. On error, err (if not NULL) receives a
   message naming the key or value. */
SEGLOSSDEF segloss_status segloss_config_parse(const char *text, segloss_config *cfg,
                                               char *err, size_t err_size);
/* The "Loss Configuration:" block. weights: C values or NULL (no weights line). Returns the
   length it needs (like snprintf); writes at most size bytes including the terminating 0. */
SEGLOSSDEF int segloss_config_format(const segloss_config *cfg, const float *weights, int64_t c,
                                     char *buf, size_t size);

/* Confusion counts over valid positions, prediction = argmax (ties: lowest class). Adds into
   confusion[C*C], row = true class, column = predicted (accumulates across calls). */
SEGLOSSDEF segloss_status segloss_confusion(const segloss_input *in, int64_t ignore_index,
                                            int64_t *confusion);

typedef struct segloss_class_metrics {
    double recall, precision, iou, dice;  /* NaN where 0/0                                    */
    int64_t tp, fp, fn;
} segloss_class_metrics;
/* Per-class metrics from confusion[C*C]; returns mean IoU over classes whose IoU is not NaN. */
SEGLOSSDEF double segloss_metrics(const int64_t *confusion, int64_t c, segloss_class_metrics *per_class);
/* The per-class table (Recall, Precision, IoU, flag). names: C strings or NULL ("class k"). */
SEGLOSSDEF int segloss_metrics_format(const segloss_class_metrics *m, int64_t c,
                                      const char *const *names, char *buf, size_t size);

typedef struct segloss_advice {
    segloss_config config;       /* suggested configuration (class_weights NULL)             */
    char reason[160];            /* one line: why                                             */
} segloss_advice;
/* The loss guide's decision tree and troubleshooting. counts: C label counts (NULL = unknown),
   metrics: C per-class metrics (NULL = none yet), current: the config in use (NULL = none),
   diverged: the loss went NaN or exploded. */
SEGLOSSDEF void segloss_advise(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                               const segloss_config *current, int diverged, segloss_advice *out);

/* ---- 6. SIMD paths, threads ------------------------------------------------------------ */

/* "avx512", "avx2", "sse2", "neon" or "scalar": the path calls take now. */
SEGLOSSDEF const char *segloss_active_isa(void);
/* Force a path by name (NULL or "auto": the best this CPU runs). Refuses one the CPU cannot
   run or that was not compiled in (SEGLOSS_ERR_ISA). The environment variable SEGLOSS_ISA
   does the same at first use. */
SEGLOSSDEF segloss_status segloss_set_isa(const char *name);
/* Whether a path is compiled in and runnable here. */
SEGLOSSDEF int segloss_isa_supported(const char *name);
/* The paths compiled in, best first: names 0 .. segloss_isa_count() - 1 (NULL past the end).
   Some may not run on this CPU: ask segloss_isa_supported. Tests and benchmarks loop over
   these rather than naming paths. */
SEGLOSSDEF int segloss_isa_count(void);
SEGLOSSDEF const char *segloss_isa_name(int i);

/* Threads (section 7, THREADS; docs/threads.md). Every entry point (segloss_compute, the
   two-phase calls, segloss_confusion, segloss_label_histogram) cuts its work into chunks fixed
   by the shape alone and adds their partial sums in chunk order: results are bit-identical
   for any thread count and any pool. Calls of fewer than SEGLOSS_PARALLEL_MIN positions
   (default 65536) run on the calling thread.
   segloss_set_threads(k): the built-in pool's size, the calling thread included (1 = none);
   0 = the environment variable SEGLOSS_THREADS, read at first use (unset: 1). Process-wide,
   safe to call at any time (a call in flight may take it up midway: same bits).
   segloss_get_threads(): the count calls use now.
   A parallel-for of the caller's own pool (OpenMP, TBB, PyTorch's intra-op pool, oneDNN's or
   XNNPACK's style): segloss_set_parallel_for(fn, ctx) makes every call that has more than one
   chunk call fn(ctx, task, task_ctx, count), which must run task(task_ctx, i) exactly once for
   every i in [0, count), on any threads, in any order, and return when all have returned. It
   takes precedence over segloss_set_threads; fn NULL restores the built-in pool. Without
   POSIX threads (Windows; SEGLOSS_NO_THREADS) there is no built-in pool, and set it before
   other threads make calls. */
typedef void (*segloss_parallel_for_fn)(void *ctx, void (*task)(void *task_ctx, int64_t i), void *task_ctx,
                                        int64_t count);
SEGLOSSDEF void segloss_set_threads(int k);
SEGLOSSDEF int segloss_get_threads(void);
SEGLOSSDEF void segloss_set_parallel_for(segloss_parallel_for_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
/* ======================================================================================== */
/* 7. SEMANTICS                                                                              */
/* ======================================================================================== */
/*
   SOFTMAX   p[c] = exp(z[c] - m) / sum_k exp(z[k] - m), m = max_k z[k]; exp of an unshifted
             logit is never formed. V = positions whose label != ignore_index; ignored positions
             take no part in any loss, statistic or metric, and get gradient 0.

   LOSSES    with weights w[c] (all 1 unless given or automatic), g = one-hot label (never formed),
             I_c = sum_V p[c] g[c], P_c = sum_V p[c], G_c = sum_V g[c], FP = P - I, FN = G - I:
       ce           sum_V -w[y] log p[y] / sum_V w[y]     (ce and weighted_ce are one formula;
       weighted_ce  the same, automatic weights on         they differ only in the default of
                                                           use_class_weighting)
       focal        sum_V -w[y] (1 - p[y])^gamma log p[y] / sum_V w[y]
       dice         1 - mean_{c in K} (2 I_c + s) / (P_c + G_c + s)
       focal_dice   focal_weight * focal + dice_weight * dice   (weights: focal term only)
       tversky      1 - mean_{c in K} (I_c + s) / (I_c + alpha FP_c + beta FN_c + s)
     K = all classes, or 1..C-1 when include_background = 0. Dice/Tversky sum over the whole
     batch ("batch Dice"); per_sample computes them per sample and averages over (n, c in K).
     SEGLOSS_SUM drops the divisions: sum_V w[y] term for the CE family, sum over (groups, K)
     of (1 - D) for Dice/Tversky. A Dice/Tversky ratio whose denominator is 0 (s = 0 and a
     class neither present nor predicted) counts as 1, with zero gradient; so does, with
     per_sample, a sample without valid positions (MONAI's convention). No valid position:
     loss 0, gradient 0, valid 0. Class weights do not apply to dice and tversky.

       generalized_dice  1 - (2 sum_{c in K} v_c I_c + s) / (sum_{c in K} v_c (P_c + G_c) + s),
                    v_c = 1 / G_c^2, and where G_c = 0, v_c = the largest finite v of the group
                    (0 if none): MONAI's GeneralizedDiceLoss(w_type='square', smooth_nr = s,
                    smooth_dr = s); per_sample: per sample, then the mean over samples.

   SIGMOID   (activation = SEGLOSS_SIGMOID) every channel is its own binary problem, p_c =
             sigmoid(z_c), an element = (position, channel). Targets t: integer labels (C = 1:
             t = label in {0, 1}; C >= 2: t_c = [label = c], one-vs-rest; ignore_index as
             above) or per-channel targets (SEGLOSS_TARGET_U8 0/1, SEGLOSS_TARGET_F32 in
             [0, 1]; every element valid). With softplus(x) = log(1 + e^x), formed stably:
       ce           sum_{V,c} w_c m_i l_ic / (C sum_V m_i),  l = pw_c t softplus(-z) + (1 - t)
                    softplus(z)   (PyTorch binary_cross_entropy_with_logits(pos_weight = pw))
       weighted_ce  ce with pw_c = (sum_V m_i (1 - t_ic)) / (sum_V m_i t_ic) (1 where no
                    positive) unless pos_weight is given: under the sigmoid use_class_weighting
                    (weighted_ce's default) makes pos_weight automatic, not class_weights
       focal        as ce with l = a_t u^gamma BCE(z, t), u = 1 - p_t = t (1 - p) + (1 - t) p,
                    a_t = alpha t + (1 - alpha)(1 - t) (1 when focal_alpha < 0): torchvision's
                    sigmoid_focal_loss; pos_weight is refused (SEGLOSS_ERR_PARAM)
       dice, tversky, focal_dice, generalized_dice  the formulas above with p = sigmoid(z), g =
                    t, channel by channel (MONAI DiceLoss(sigmoid=True))
     SUM drops the division. Class weights w_c (class_weights, NULL = 1) weight channels' CE
     terms; the mean is over valid elements, as PyTorch's, not over the weights. valid counts
     positions (a TARGET_* input: all n*s).
     Softmax needs C >= 2: with one channel, use the sigmoid (SEGLOSS_ERR_PARAM says so).

   PROBABILITY TARGETS  (softmax, ce and weighted_ce, SEGLOSS_TARGET_F32 or _U8 per element;
             other softmax losses refuse per-channel targets, SEGLOSS_ERR_PARAM):
             l_i = sum_c w_c t'_c (-log p_c), t' = (1 - eps) t + eps / C, and the mean is
             sum_i m_i l_i / sum_i m_i, over positions: F.cross_entropy(z, t, weight = w,
             label_smoothing = eps) with a probability target (no weights in the denominator,
             unlike class indices; without class weights and with targets summing to 1, a
             one-hot target gives the loss of its class index). Automatic weights: sum m / G_c.

   LABEL SMOOTHING  epsilon (softmax, CE-family term with gamma = 0): each position's CE term
             becomes (1 - eps) w[y] (-log p_y) + (eps / C) sum_c w[c] (-log p_c), over the same
             sum_V w[y] as before: F.cross_entropy(weight = w, ignore_index = i,
             label_smoothing = eps). eps > 0 is refused (SEGLOSS_ERR_PARAM) where nothing
             would be smoothed: under the sigmoid, without a CE-family term, or with a focal
             term (gamma > 0).

   WEIGHT MAP  m_i >= 0 per position (1 when weight_map is NULL), indexed as the labels of the
             call's input (for a two-phase slice: from the slice's start). Softmax CE family:
             sum_V m_i w[y] l_i / sum_V m_i w[y]. Sigmoid CE family: as above. Dice family:
             I_c = sum_V m_i p_c g_c, P_c = sum_V m_i p_c, G_c = sum_V m_i g_c (MONAI's masked
             Dice is the 0/1 map). A map of ones gives the same bits as no map. PyTorch's
             (F.cross_entropy(reduction='none') * m).mean() is SEGLOSS_SUM's loss / (N S).
             Automatic weights count m_i instead of 1 per position.

   DEFAULTS  (segloss_config_init, the loss guide's) gamma 2, focal_weight 0.5, dice_weight 0.5,
             smooth 1, alpha 0.7, beta 0.3, ignore_index -100 (use 255 with uint8 labels),
             include_background 1, per_sample 0, mean; use_class_weighting 1 for weighted_ce;
             softmax, label_smoothing 0, pos_weight NULL, focal_alpha 0.25 (torchvision's).
   AUTOMATIC WEIGHTS  w[c] = |V| / n_c over the valid labels of the call (of the whole batch
             in the two-phase API), 0 for a class with n_c = 0: 80/10/7/3 % gives
             [1.25 10.0 14.3 33.3]. segloss_weights_for returns them; segloss_class_weights
             computes them (and median-frequency, inverse-sqrt, effective-number) from counts
             accumulated over a dataset, to pass as class_weights.

   GRADIENTS are exact derivatives of the loss above w.r.t. the logits:
       CE family    dL/dz_k = w[y] ff (p_k - [k = y]) / sum_V w[y],
                    ff = q^gamma (1 + gamma p_y r), q = 1 - p_y = sum_{c != y} p_c (no
                    cancellation), r = -log(p_y) / q (-> 1 as q -> 0): finite for every
                    gamma >= 0; integral gamma <= 16 uses products, not pow. The label's
                    entry is formed as -w[y] ff q / sum_V w[y], never from p_y - 1.
       Dice/Tversky dL/dp_c(i) = A_c + B_c [y_i = c] from the batch sums, then through the
                    softmax: dL/dz_k = p_k (d_k - sum_j p_j d_j), d = dL/dp, formed without
                    the cancelling subtraction: with r the class of the largest logit and
                    D' = sum_j p_j (A_j - A_r) (so sum_j p_j d_j = A_r + D' + p_y B_y),
                        k != y   p_k ((A_k - A_r) + f - D' - p_y B_y)
                        k = y    p_y ((A_y - A_r) + q B_y - D') - f q
                    where f = w[y] ff / sum_V w[y] is focal_dice's CE term (0 for dice and
                    tversky). A_r - A_r is 0 and D', q are sums of small terms, so the cost
                    stays O(C) per position.
       Accuracy     each entry is a few roundings away from the numbers it is made of, of
                    size sigma_k = f |p_k - [k = y]| + min(p_k, 1 - p_k) (2 max_c |A_c| + |B_y|):
                    where the softmax is confident (p -> 1) the label's entry and the confident
                    class's keep their relative accuracy (within 1e-6 of float64 at
                    p >= 1 - 1e-6). An entry loses relative digits only where those numbers
                    cancel in exact arithmetic (e.g. A_k - A_r of two nearly equal float32
                    coefficients); its error then stays below 32 u sigma_k (u = 2^-24;
                    tests/unit/test_confident.cpp; measured at most 4 u sigma_k).

   PEERS     PyTorch F.cross_entropy(weight=w, ignore_index=-100, reduction='mean') = weighted_ce
             with class_weights = w (or ce). MONAI DiceLoss(softmax=True, to_onehot_y=True,
             include_background=b, smooth_nr=s, smooth_dr=s, batch=False) = dice with per_sample
             = 1, include_background = b; MONAI's 2I + s / (P + G + s) uses the same smoothing
             in numerator and denominator; MONAI's default smooth is 1e-5 (ours 1, the guide's).
             MONAI TverskyLoss(alpha=a, beta=b) = tversky (alpha on FP, beta on FN) with
             per_sample = 1. nnU-Net's 2-D default soft Dice is batch Dice (per_sample = 0),
             background excluded (include_background = 0), smooth 1e-5, combined with CE:
             focal_dice with focal_gamma 0, focal_weight 1, dice_weight 1 (nnU-Net's Dice term
             is -D rather than 1 - D: the same gradient, a constant offset in the loss).
             Focal: Lin et al. 2017 without alpha balancing; set class_weights for alpha.
             F.cross_entropy(weight=w, ignore_index=i, label_smoothing=e) = ce with class_weights
             w, label_smoothing e; (F.cross_entropy(..., reduction='none') * m).sum() /
             (m * w[y]).sum() = ce with weight_map m; reduction='none' = segloss_compute_unreduced.
             Sigmoid (activation = SEGLOSS_SIGMOID):
               F.binary_cross_entropy_with_logits(z, t, pos_weight=pw) = ce, pos_weight pw (C
                 values, as pw.view(1, C, 1, 1))
               torchvision.ops.sigmoid_focal_loss(z, t, alpha=a, gamma=g, reduction='mean') =
                 focal, focal_alpha a (negative: none), focal_gamma g
               MONAI DiceLoss(sigmoid=True, batch=b) / TverskyLoss(sigmoid=True) with smooth_nr
                 = smooth_dr = s = dice / tversky, per_sample = !b, dice_smooth s; targets as
                 one-hot (to_onehot_y) from labels, or TARGET_U8/F32 masks (MONAI's multilabel,
                 nnU-Net's regions: focal_dice, focal_gamma 0, focal_alpha -1 = BCE + Dice)
               MONAI GeneralizedDiceLoss(w_type='square', batch=b, sigmoid=True / softmax=True)
                 = generalized_dice (either activation), per_sample = !b
               smp DiceLoss(mode='binary'/'multilabel', smooth=s) = dice under the sigmoid,
                 per_sample 0, except that smp gives a class absent from the batch loss 0.

   NUMBERS   float32 arithmetic, sums in 16 float lanes flushed to double every block of at
             most 256 positions (loss terms enter the lanes scaled by 1/16, so finite terms never
             overflow); in the tests the loss is within 3e-7 relative of a float64 reference
             and the gradient within 7.4e-7 of its largest entry. exp,
             log and log1p are vectorised (max 1.01, 0.83 and 1.26 ULP over every float the
             kernels feed them; below exp's domain, e^x < 2^-126, it returns a number in
             (0, 2^-126], never 0). Paths: avx512, avx2, neon (and scalar, written with fmaf) run
             one sequence of fused operations and one summation order, so their losses and
             gradients are bit-identical, on x86 and on ARM alike; sse2 has no FMA and agrees
             within 2e-6. NaN logits give NaN out at their positions' terms (and so a NaN loss)
             and never crash or read out of bounds; a logit of -inf is a class that cannot
             occur (p < 2^-126); +inf gives NaN. check_finite = 1 rejects non-finite logits instead.
             These hold whatever flags the implementation file is compiled with: under gcc's
             fast-math flags it is compiled with IEEE arithmetic all the same; clang's
             -ffast-math/-Ofast are refused at compile time, and the clang modes no macro
             reveals (-fassociative-math) by a self-test at first use: every call that takes a
             configuration then returns SEGLOSS_ERR_BUILD.

   THREADS   All functions are reentrant: any threads may make any calls at once, on shared
             inputs (they are only read) and distinct outputs (grad, stats, result, counts).
             Two calls on one stats buffer (accumulate into it, or backward from it while
             another thread accumulates) must be ordered by the caller. The SIMD path and the
             thread count are resolved once on first use, safely when many threads make their
             first call at once; segloss_set_isa and segloss_set_threads change them for every
             thread, for calls that start afterwards. Inside a call, chunks of whole blocks of
             one sample (16384 positions for C <= 16; 2^18 logits, at least 256 positions,
             above) each sum into partial buffers of their own, added in chunk order: the
             loss, statistics and gradient are the same bits for every thread count, pool
             and scheduling, on each path (and the FMA paths agree with each other). The
             built-in pool serves one call at a time: a call that finds it busy runs on its
             own thread (same bits). segloss_set_parallel_for's fn is called from the calling
             thread of a call; it may be called by several threads at once. After fork() the
             child starts a fresh pool. Labels, counts and confusion matrices are exact
             integers: their chunking is free and needs no order.
*/
#endif /* SEGLOSS_H_INCLUDED */
/* ---- end kernels/api.h ---- */

#ifdef SEGLOSS_IMPLEMENTATION
/* IEEE arithmetic whatever the file's flags: -ffast-math, -Ofast or -ffinite-math-only would
   fold the exp's rounding step ((x + 1.5*2^23) - 1.5*2^23) and the NaN tests, and so give
   wrong losses and miss NaN logits and parameters. GCC's optimize pragma undoes them all;
   clang's float_control pragma undoes -ffinite-math-only (its intrinsics carry the flags of
   the place they were first parsed, so segloss.h must come before them) but not the
   reassociation in -ffast-math, which is refused here; where no macro reveals it
   (-fassociative-math, -ffast-math -fno-finite-math-only) dispatch.h's self-test does. */
#if defined(__clang__)
#if defined(__FAST_MATH__)
/* clang's pragma restores IEEE semantics for operators but not for builtins such as fma. */
#error "segloss: clang cannot compile the implementation under -ffast-math/-Ofast: compile the file that defines SEGLOSS_IMPLEMENTATION without them (other files may keep them)"
#endif
#if defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__ && \
    (defined(__IMMINTRIN_H) || defined(__XMMINTRIN_H) || defined(__EMMINTRIN_H) || defined(__ARM_NEON_H))
#error "segloss: with -ffinite-math-only, include segloss.h before <immintrin.h>/<arm_neon.h> in the implementation file"
#endif
#pragma float_control(precise, on, push)
#elif defined(__GNUC__) && (defined(__FAST_MATH__) || defined(__ASSOCIATIVE_MATH__) || \
    defined(__RECIPROCAL_MATH__) || defined(__NO_SIGNED_ZEROS__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__))
#define SEGLOSS__GCC_NO_FAST_MATH
#pragma GCC push_options
#pragma GCC optimize("no-fast-math")
#endif

/* ---- begin kernels/base.h ---- */
/* ======================================================================================== */
/* 8. IMPLEMENTATION                                                                         */
/* ======================================================================================== */
/* ---- kernels/base.h: system headers, compiler and platform macros, the kernels' arguments - */
#ifndef SEGLOSS__BASE_H
#define SEGLOSS__BASE_H

/* Every system header comes first: a header first parsed inside a target region (isa_*.h)
   would tie its inline functions to that ISA, and a later plain-flags user would then call
   AVX code on any CPU, or fail to inline across the mismatch. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#if defined(SEGLOSS_MALLOC) != defined(SEGLOSS_FREE)
#error "segloss: define both SEGLOSS_MALLOC and SEGLOSS_FREE, or neither"
#endif
#ifndef SEGLOSS_MALLOC
#define SEGLOSS_MALLOC(sz) malloc(sz)
#define SEGLOSS_FREE(p) free(p)
#endif
#ifndef SEGLOSS_HEADER_FILE
#define SEGLOSS_HEADER_FILE "segloss.h"
#endif

#ifdef SEGLOSS_STATIC
#define SEGLOSS__API static
#else
#define SEGLOSS__API
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SEGLOSS__PRIVATE static __attribute__((unused))
#define SEGLOSS__VINLINE static inline __attribute__((always_inline, unused))
#define SEGLOSS__NOINLINE __attribute__((noinline))
#define SEGLOSS__PRAGMA(x) _Pragma(#x)
#define SEGLOSS__UNROLL SEGLOSS__PRAGMA(GCC unroll 16)
#else
#define SEGLOSS__PRIVATE static
#define SEGLOSS__VINLINE static __forceinline
#define SEGLOSS__NOINLINE __declspec(noinline)
#define SEGLOSS__UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER)
#define SEGLOSS__RESTRICT __restrict
#else
#define SEGLOSS__RESTRICT
#endif
/* Fetch the line holding p into the caches; a hint, never a fault. */
#if defined(__GNUC__) || defined(__clang__)
#define SEGLOSS__PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define SEGLOSS__PREFETCH(p) ((void)(p))
#endif
#define SEGLOSS__CAT_(a, b) a##b
#define SEGLOSS__CAT(a, b) SEGLOSS__CAT_(a, b)

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define SEGLOSS__X86 1
#else
#define SEGLOSS__X86 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64) || defined(__ARM_NEON)
#define SEGLOSS__ARM 1
#else
#define SEGLOSS__ARM 0
#endif
#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__)) && !defined(SEGLOSS_NO_SIMD)
#define SEGLOSS__HAVE_AVX2 1
#if !defined(SEGLOSS_NO_AVX512)
#define SEGLOSS__HAVE_AVX512 1
#endif
#elif SEGLOSS__ARM && defined(SEGLOSS_TEST_X86_API_ON_ARM)
#define SEGLOSS__HAVE_AVX2 1   /* tests only: the AVX2- and AVX-512-API kernels, which SIMDe */
#define SEGLOSS__HAVE_AVX512 1 /* maps to NEON: the only place the AVX-512 kernels can run here */
#endif
#if (SEGLOSS__X86 || SEGLOSS__ARM) && !defined(SEGLOSS_NO_SIMD)
#define SEGLOSS__HAVE_NEON_API 1 /* native NEON on ARM, SIMDe over SSE2 on x86 ("sse2") */
#endif
#if SEGLOSS__X86
#include <immintrin.h>
#if defined(__GNUC__) || defined(__clang__)
#include <cpuid.h>
#endif
#endif

/* Positions per kernel call. A multiple of 16: the kernels sum in 16 virtual lanes (position
   i of a block goes to lane i % 16) whatever the vector width, and combine the lanes in one
   fixed tree, so every FMA path sums in the same order. */
#define SEGLOSS__BLOCK 256
#define SEGLOSS__LANES 16
/* Loss terms enter the float lanes scaled by 1/16 (exact): a lane adds 16 per block, so any
   finite per-position loss sums without overflow. */
#define SEGLOSS__LOSS_SCALE 0.0625f
/* Class-planar block buffers on the stack (NHWC transposes, the kernels' exponentials) hold
   this many floats: blocks have fewer positions when C > 16, so that they fit. */
#define SEGLOSS__TBUF 4096
/* Labels are counted with vector compares up to this many classes, above with small integer
   histograms up to SEGLOSS__HIST classes (a power of two), above that one by one. */
#define SEGLOSS__VCOUNT 8
#define SEGLOSS__HIST 64

/* Arguments of one kernel call: one block of positions of one sample, class-planar. */
typedef struct segloss__args {
    const float *z;      /* logits of class c at z[c * zs + i], i < npos                    */
    float *g;            /* gradient, same addressing with gs (may equal z: in place)       */
    int64_t zs, gs;
    const int32_t *y;    /* label per position, -1 = ignored; padded with -1 to a x16       */
    const float *w;      /* grad/loss: the CE-family term's coefficient per class, or NULL   */
    int npos, c;
    int ce;              /* the loss has a CE-family term (else its terms are not computed)  */
    float gamma;         /* focal gamma (0 = cross entropy)                                   */
    int gamma_int;       /* gamma as an integer 1..16, or 0 when gamma is 0 or not integral   */
    const float *A, *B;  /* Dice/Tversky: dL/dp_c(i) = A[c] + B[c] * [y_i == c]; NULL = none  */
    double *sum_l, *sum_i, *sum_p; /* stats: per-class sums of focal term, p_c at y = c, p_c */
    double *loss;        /* grad with loss: adds sum of w[y] * focal term                      */
    int stream;          /* grad: write aligned vectors with non-temporal stores              */
    int alias;           /* the planes alias in the cache (segloss__planes_alias): phase 1 reads */
                         /* each logit once (its second read from the park), phase 3 writes    */
                         /* plane after plane                                                  */
    int prefetch;        /* > 0: phase 1 prefetches each logit this many floats ahead (the next */
                         /* block of many NCHW planes read from DRAM)                          */
    /* the sigmoid kernel (sigmoid_kernels.h) */
    const float *t;      /* per-channel targets, class c at t[c * ts + i]; NULL: from the labels */
    int64_t ts;
    const float *m;      /* weight of position i (weight map); NULL: 1                          */
    const float *sk;     /* 4C CE coefficients: gradient/loss (negative, positive terms), then   */
                         /* the unreduced terms' (negative, positive)                          */
    float alpha;         /* focal alpha; < 0: none                                              */
    int focal;           /* the CE-family term is the sigmoid focal term (else BCE)             */
    int dice;            /* stats: a Dice-family term wants I and P                             */
    double *sum_lp;      /* stats: per-class sums of BCE's positive part                        */
    float *each;         /* unreduced terms, same addressing with es (NULL: not wanted; softmax: */
    int64_t es;          /* one per position, at each[i])                                       */
    float each_scale;    /* softmax: what undoes w's normalisation in the unreduced terms       */
    /* softmax label smoothing eps: sw[c] = -(eps / C) w_c (NULL: none), eps_c = eps / C, eps_sum
       = sum_c w_c, eps_w = eps_c eps_sum (w: the normalised coefficients); stats: sum_s[c] +=
       sum_V m (-log p_c) */
    const float *sw;
    float eps, eps_c, eps_sum, eps_w;
    double *sum_s;
} segloss__args;

typedef void (*segloss__kernel_fn)(const segloss__args *);
enum { SEGLOSS__TO_ROWS, SEGLOSS__TO_PLANES, SEGLOSS__TO_ROWS_NT };
typedef struct segloss__isa_table {
    const char *name;
    segloss__kernel_fn stats;      /* per-class L, I, P                                       */
    segloss__kernel_fn grad;       /* gradient; with a->loss != NULL also the weighted loss    */
    int (*labels)(const segloss_input *in, int64_t ignore, int64_t pos, int n, int32_t *y, int64_t *cnt, int classes,
                  int check);
    void (*vmath)(int op, const float *x, float *y, int64_t n); /* exp/log/log1p, for the tests */
    /* NHWC rows <-> class planes, dir one of these (see the kernel) */
    void (*transpose)(const float *src, float *dst, int64_t ps, int np, int c, int dir);
    void (*argmax)(const float *z, int64_t zs, int np, int c, float *idx); /* confusion counts */
    segloss__kernel_fn sigmoid;    /* sigmoid statistics (a->sum_i) or backward               */
    segloss__kernel_fn soft_targets; /* softmax with per-channel targets: statistics or backward */
} segloss__isa_table;

/* Gradients of at least this many bytes are written around the caches (non-temporal stores,
   x86): they would only evict the logits and labels still to be read, and the write skips
   reading each line first. Smaller ones stay in cache for the caller's next step. */
#ifndef SEGLOSS_STREAM_BYTES
#define SEGLOSS_STREAM_BYTES (16u << 20)
#endif

/* Orders non-temporal stores before whatever the caller does next. */
SEGLOSS__PRIVATE void segloss__sfence(void)
{
#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("sfence" ::: "memory");
#endif
}

/* dst[0, n) = src[0, n), with non-temporal stores where x86 has them (the 16-byte aligned
   middle): an NHWC gradient's rows, transposed in a stack buffer, on their way out. */
SEGLOSS__PRIVATE void segloss__stream_copy(float *dst, const float *src, int64_t n)
{
#if SEGLOSS__X86 && !defined(SEGLOSS_NO_SIMD)
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 15); i++) dst[i] = src[i];
    for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = src[i];
#else
    memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

/* Copies np positions of C classes, position i class c from src[i * si + c * sc] to
   dst[i * di + c * dc]: what the kernels' NHWC transposes leave over. Small C is a constant,
   so that the class loop unrolls. */
SEGLOSS__VINLINE void segloss__copy_c(const float *src, int64_t si, int64_t sc, float *dst, int64_t di, int64_t dc,
                                     int np, const int C)
{
    int i, c;
    for (i = 0; i < np; i++)
        for (c = 0; c < C; c++) dst[i * di + c * dc] = src[i * si + c * sc];
}
SEGLOSS__PRIVATE void segloss__copy_strided(const float *src, int64_t si, int64_t sc, float *dst, int64_t di,
                                             int64_t dc, int np, int C)
{
    switch (C) {
    case 1: segloss__copy_c(src, si, sc, dst, di, dc, np, 1); break;
    case 2: segloss__copy_c(src, si, sc, dst, di, dc, np, 2); break;
    case 3: segloss__copy_c(src, si, sc, dst, di, dc, np, 3); break;
    case 4: segloss__copy_c(src, si, sc, dst, di, dc, np, 4); break;
    default: segloss__copy_c(src, si, sc, dst, di, dc, np, C); break;
    }
}

/* ---- SIMD regions. Each kernels/isa_*.h opens its ISA's region, includes SIMDe's view of
   that ISA, defines the vocabulary and re-includes this header to instantiate the kernels. */
#if !defined(SEGLOSS_NO_SIMD) && defined(SIMDE_X86_AVX_H) && !defined(SIMDE_X86_AVX2_NATIVE)
#error "segloss: in the implementation file, include segloss.h before any SIMDe header"
#endif
#if !SEGLOSS__X86
#define SEGLOSS__TARGET_BEGIN(t)
#define SEGLOSS__TARGET_END
#elif defined(__clang__)
#define SEGLOSS__TARGET_BEGIN(t) SEGLOSS__PRAGMA(clang attribute push(__attribute__((target(t))), apply_to = function))
#define SEGLOSS__TARGET_END SEGLOSS__PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define SEGLOSS__TARGET_BEGIN(t) SEGLOSS__PRAGMA(GCC push_options) SEGLOSS__PRAGMA(GCC target(t))
#define SEGLOSS__TARGET_END SEGLOSS__PRAGMA(GCC pop_options)
#endif
/* Without SIMDe the first include below stopped the build at "simde/x86/sse4.2.h: No such
   file" with no hint. An #error instead, and not a silent fall back to the scalar path: that
   would make every call 20-50x slower with nothing to say why. The SIMD paths are then
   dropped, so that this is the only error. (__has_include: gcc 5, clang; elsewhere the
   include's own error.) */
#if defined(SEGLOSS__HAVE_NEON_API) && defined(__has_include)
#if !__has_include(<simde/x86/sse4.2.h>) || !__has_include(<simde/arm/neon.h>)
#error "segloss: SIMDe not found: install it (Debian/Ubuntu: apt install libsimde-dev) or add its include path, or define SEGLOSS_NO_SIMD for the scalar path only (20-50x slower)"
#undef SEGLOSS__HAVE_NEON_API
#undef SEGLOSS__HAVE_AVX2
#undef SEGLOSS__HAVE_AVX512
#endif
#endif
#if SEGLOSS__X86 && defined(SEGLOSS__HAVE_NEON_API)
#include <simde/x86/sse4.2.h> /* the 128-bit x86 API at the user's flags, before any region */
#endif

#endif /* SEGLOSS__BASE_H */
/* ---- end kernels/base.h ---- */
/* ---- begin kernels/threads.h ---- */
/* ---- kernels/threads.h: the chunk runner: a built-in pool, or the caller's parallel-for ---- */
#ifndef SEGLOSS__THREADS_H
#define SEGLOSS__THREADS_H

/* Every entry point cuts its work into chunks fixed by the shape alone (driver.h, metrics.h),
   each with its own partial sums, combined in chunk order afterwards: the bits never depend on
   how many threads ran the chunks, nor on which thread ran which, nor in what order. This part
   only runs chunks: segloss__parallel_for(task, ctx, count) calls task(ctx, i) once for every
   i < count and returns when all have returned. It hands them to

     - the caller's parallel-for, when one is set (segloss_set_parallel_for);
     - else the built-in pool of segloss_set_threads(k) threads (the calling thread is one of
       them): POSIX threads, created at the first call that needs them and kept, waiting on a
       condition variable. One call uses the pool at a time; a call that finds it busy (another
       thread's call) runs its chunks on its own thread instead, with the same result;
     - else, and always for one chunk, the calling thread, in order.

   SEGLOSS_NO_THREADS, Windows and other systems without <pthread.h>: no pool (the hook still
   works). */

#if !defined(SEGLOSS_NO_THREADS) && !defined(_WIN32) && \
    (defined(__unix__) || defined(__unix) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))
#define SEGLOSS__POOL 1
#include <pthread.h>
#else
#define SEGLOSS__POOL 0
#endif

/* Positions below which a call runs on the calling thread alone, whatever the setting: CE on
   2 threads vs 1 (make bench-scaling, 2 vCPUs) was 0.86 x at 32K positions, 1.10 x at 64K,
   1.29 x at 128K: 64K is the break-even. */
#ifndef SEGLOSS_PARALLEL_MIN
#define SEGLOSS_PARALLEL_MIN (1 << 16)
#endif
/* The most threads segloss_set_threads and SEGLOSS_THREADS may ask for. */
#define SEGLOSS__MAX_THREADS 256

typedef void (*segloss__task_fn)(void *task_ctx, int64_t i);

#if SEGLOSS__POOL
#define SEGLOSS__ALOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define SEGLOSS__ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else
#define SEGLOSS__ALOAD(p) (*(p))
#define SEGLOSS__ASTORE(p, v) (*(p) = (v))
#endif

/* The setting: 0 = not read yet (SEGLOSS_THREADS at first use), else the thread count. */
static int segloss__threads_set;
/* The caller's parallel-for and its context, set together under segloss__hook_lock. */
static segloss_parallel_for_fn segloss__hook_fn;
static void *segloss__hook_ctx;

SEGLOSS__PRIVATE int segloss__clamp_threads(long k)
{
    return k < 1 ? 1 : k > SEGLOSS__MAX_THREADS ? SEGLOSS__MAX_THREADS : (int)k;
}

SEGLOSS__PRIVATE int segloss__threads_wanted(void)
{
    int k = SEGLOSS__ALOAD(&segloss__threads_set);
    if (!k) { /* racing first calls read the same variable and store the same value */
        const char *env = getenv("SEGLOSS_THREADS");
        k = env && *env ? segloss__clamp_threads(strtol(env, NULL, 10)) : 1;
        SEGLOSS__ASTORE(&segloss__threads_set, k);
    }
    return k;
}

SEGLOSS__API void segloss_set_threads(int k)
{
    SEGLOSS__ASTORE(&segloss__threads_set, k > 0 ? segloss__clamp_threads(k) : 0);
}

SEGLOSS__API int segloss_get_threads(void) { return segloss__threads_wanted(); }

#if SEGLOSS__POOL
static pthread_mutex_t segloss__hook_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct segloss__pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t tid[SEGLOSS__MAX_THREADS];
    int workers;            /* threads besides the caller                                     */
    int busy;               /* a call is using the pool (or resizing it)                      */
    int stop;               /* workers: leave                                                 */
    segloss__task_fn task;  /* the current job: task(ctx, i) for i < count                    */
    void *ctx;
    int64_t count, next, finished;
} segloss__pool;

static segloss__pool segloss__the_pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                                           PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0, NULL, NULL, 0, 0, 0 };

/* Take chunks until none is left; called with mu held, returns with mu held. */
SEGLOSS__PRIVATE void segloss__pool_drain(segloss__pool *p)
{
    while (p->next < p->count) {
        const int64_t i = p->next++;
        segloss__task_fn task = p->task;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        task(ctx, i);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->count) pthread_cond_signal(&p->done);
    }
}

SEGLOSS__PRIVATE void *segloss__pool_worker(void *arg)
{
    segloss__pool *p = (segloss__pool *)arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next >= p->count) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        segloss__pool_drain(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* A child of fork() has only the thread that forked: forget the workers (they are not there)
   and start the pool afresh. */
SEGLOSS__PRIVATE void segloss__pool_atfork_child(void)
{
    segloss__pool *p = &segloss__the_pool;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = p->busy = p->stop = 0;
    p->count = p->next = p->finished = 0;
    pthread_mutex_init(&segloss__hook_lock, NULL);
}

/* With mu held and busy set: stop the workers, then start k - 1 new ones. */
SEGLOSS__PRIVATE void segloss__pool_resize(segloss__pool *p, int k)
{
    static int atfork_done;
    int i, old = p->workers;
    if (!atfork_done) { /* under mu, busy: once */
        pthread_atfork(NULL, NULL, segloss__pool_atfork_child);
        atfork_done = 1;
    }
    if (old) {
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < old; i++) pthread_join(p->tid[i], NULL);
        pthread_mutex_lock(&p->mu);
        p->stop = 0;
    }
    p->workers = 0;
    for (i = 0; i < k - 1; i++) {
        if (pthread_create(&p->tid[i], NULL, segloss__pool_worker, p) != 0) break; /* fewer threads */
        p->workers++;
    }
}
#endif /* SEGLOSS__POOL */

SEGLOSS__API void segloss_set_parallel_for(segloss_parallel_for_fn fn, void *ctx)
{
#if SEGLOSS__POOL
    pthread_mutex_lock(&segloss__hook_lock);
#endif
    segloss__hook_fn = fn;
    segloss__hook_ctx = fn ? ctx : NULL;
#if SEGLOSS__POOL
    pthread_mutex_unlock(&segloss__hook_lock);
#endif
}

/* Run task(ctx, i) for every i < count. positions: the work's size, for the threshold. */
SEGLOSS__PRIVATE void segloss__parallel_for(segloss__task_fn task, void *ctx, int64_t count, int64_t positions)
{
    segloss_parallel_for_fn fn;
    void *hctx;
    int64_t i;
    int k;
    if (count > 1 && positions >= SEGLOSS_PARALLEL_MIN) {
#if SEGLOSS__POOL
        pthread_mutex_lock(&segloss__hook_lock);
#endif
        fn = segloss__hook_fn;
        hctx = segloss__hook_ctx;
#if SEGLOSS__POOL
        pthread_mutex_unlock(&segloss__hook_lock);
#endif
        if (fn) {
            fn(hctx, task, ctx, count);
            return;
        }
        k = segloss__threads_wanted();
#if SEGLOSS__POOL
        if (k > 1) {
            segloss__pool *p = &segloss__the_pool;
            pthread_mutex_lock(&p->mu);
            if (!p->busy) {
                p->busy = 1;
                if (p->workers != k - 1) segloss__pool_resize(p, k);
                p->task = task;
                p->ctx = ctx;
                p->next = p->finished = 0;
                p->count = count;
                pthread_cond_broadcast(&p->work);
                segloss__pool_drain(p);
                while (p->finished < p->count) pthread_cond_wait(&p->done, &p->mu);
                p->count = p->next = 0;
                p->task = NULL;
                p->ctx = NULL;
                p->busy = 0;
                pthread_mutex_unlock(&p->mu);
                return;
            }
            pthread_mutex_unlock(&p->mu); /* another call has it: run here */
        }
#else
        (void)k;
#endif
    }
    for (i = 0; i < count; i++) task(ctx, i);
}

#endif /* SEGLOSS__THREADS_H */
/* ---- end kernels/threads.h ---- */
/* ---- begin kernels/isa_avx2.h ---- */
/* ---- kernels/isa_avx2.h: the vocabulary (isa_scalar.h) for AVX2 + FMA, 8 lanes --------- */
#ifndef SEGLOSS__ISA_AVX2_H
#define SEGLOSS__ISA_AVX2_H
#ifdef SEGLOSS__HAVE_AVX2
/* SIMDe picks native code from SIMDE_X86_*_NATIVE when it parses a header, and sets them only
   from the compiler's flags, which are the user's baseline here. We set them by hand for this
   region only, all three (AVX2 implies AVX, and we want FMA); without them SIMDe would compile
   its portable fallbacks, slow and not fused. On ARM (tests) SIMDe maps the API to NEON. */
#if SEGLOSS__X86 && !defined(SIMDE_X86_AVX2_NATIVE)
#define SEGLOSS__SET_AVX2 1
#define SIMDE_X86_AVX_NATIVE
#define SIMDE_X86_AVX2_NATIVE
#define SIMDE_X86_FMA_NATIVE
#endif
SEGLOSS__TARGET_BEGIN("avx,avx2,fma")
#include <simde/x86/avx2.h>
#include <simde/x86/fma.h>
typedef simde__m256 segloss__avx2_f;
typedef simde__m256i segloss__avx2_i;
typedef simde__m256 segloss__avx2_m;
#define SEGLOSS__avx2_W 8
SEGLOSS__VINLINE simde__m256 segloss__avx2_set1(float a) { return simde_mm256_set1_ps(a); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_load(const float *p) { return simde_mm256_loadu_ps(p); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_loadn(const float *p, int n)
{ float t[8] = {0, 0, 0, 0, 0, 0, 0, 0}; memcpy(t, p, (size_t)n * sizeof(float)); return simde_mm256_loadu_ps(t); }
SEGLOSS__VINLINE void segloss__avx2_store(float *p, simde__m256 a) { simde_mm256_storeu_ps(p, a); }
SEGLOSS__VINLINE void segloss__avx2_storen(float *p, simde__m256 a, int n)
{ float t[8]; simde_mm256_storeu_ps(t, a); memcpy(p, t, (size_t)n * sizeof(float)); }
/* Non-temporal, p 16-byte aligned (what malloc gives): two 128-bit halves, which the write-
   combining buffer joins as it would one 256-bit store. */
SEGLOSS__VINLINE void segloss__avx2_stream(float *p, simde__m256 a)
{
    simde_mm_stream_ps(p, simde_mm256_castps256_ps128(a));
    simde_mm_stream_ps(p + 4, simde_mm256_extractf128_ps(a, 1));
}
SEGLOSS__VINLINE simde__m256 segloss__avx2_add(simde__m256 a, simde__m256 b) { return simde_mm256_add_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_sub(simde__m256 a, simde__m256 b) { return simde_mm256_sub_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_mul(simde__m256 a, simde__m256 b) { return simde_mm256_mul_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_div(simde__m256 a, simde__m256 b) { return simde_mm256_div_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_fma(simde__m256 a, simde__m256 b, simde__m256 c) { return simde_mm256_fmadd_ps(a, b, c); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_max(simde__m256 a, simde__m256 b) { return simde_mm256_max_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_lt(simde__m256 a, simde__m256 b) { return simde_mm256_cmp_ps(a, b, SIMDE_CMP_LT_OQ); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_ord(simde__m256 a) { return simde_mm256_cmp_ps(a, a, SIMDE_CMP_ORD_Q); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_mor(simde__m256 a, simde__m256 b) { return simde_mm256_or_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_mandn(simde__m256 a, simde__m256 b) { return simde_mm256_andnot_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_sel(simde__m256 m, simde__m256 a, simde__m256 b) { return simde_mm256_blendv_ps(b, a, m); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_loadi(const int32_t *p) { return simde_mm256_loadu_si256((const simde__m256i *)(const void *)p); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_loadu8(const uint8_t *p) { return simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64((const simde__m128i *)(const void *)p)); }
SEGLOSS__VINLINE void segloss__avx2_storei(int32_t *p, simde__m256i a) { simde_mm256_storeu_si256((simde__m256i *)(void *)p, a); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_set1i(int32_t a) { return simde_mm256_set1_epi32(a); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_ieq(simde__m256i a, simde__m256i b) { return simde_mm256_castsi256_ps(simde_mm256_cmpeq_epi32(a, b)); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_igt(simde__m256i a, simde__m256i b) { return simde_mm256_castsi256_ps(simde_mm256_cmpgt_epi32(a, b)); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_imask(simde__m256 m) { return simde_mm256_castps_si256(m); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_asint(simde__m256 a) { return simde_mm256_castps_si256(a); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_asflt(simde__m256i a) { return simde_mm256_castsi256_ps(a); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_iadd(simde__m256i a, simde__m256i b) { return simde_mm256_add_epi32(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_iand(simde__m256i a, simde__m256i b) { return simde_mm256_and_si256(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_ior(simde__m256i a, simde__m256i b) { return simde_mm256_or_si256(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_iandn(simde__m256i a, simde__m256i b) { return simde_mm256_andnot_si256(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_shl23(simde__m256i a) { return simde_mm256_slli_epi32(a, 23); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_shr23(simde__m256i a) { return simde_mm256_srli_epi32(a, 23); }
/* 4x4 transposes within each 128-bit half (their own inverse) */
SEGLOSS__VINLINE void segloss__avx2_tr4(simde__m256 v[4])
{
    const simde__m256 t0 = simde_mm256_unpacklo_ps(v[0], v[1]), t1 = simde_mm256_unpackhi_ps(v[0], v[1]);
    const simde__m256 t2 = simde_mm256_unpacklo_ps(v[2], v[3]), t3 = simde_mm256_unpackhi_ps(v[2], v[3]);
    v[0] = simde_mm256_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[1] = simde_mm256_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
    v[2] = simde_mm256_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[3] = simde_mm256_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
}
/* rows4: W rows of 4 floats, row r at p + r * s, as 4 vectors: v[c] lane r = p[r * s + c].
   unrows4 writes them back, row by row in increasing order (rows may overlap, s < 4), with nt
   non-temporally (rows 16-byte aligned). Vector k carries rows k and k + 4, so the transposes
   order them. */
SEGLOSS__VINLINE void segloss__avx2_rows4(const float *p, int64_t s, simde__m256 v[4])
{
    int k;
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) v[k] = simde_mm256_loadu2_m128(p + (k + 4) * s, p + k * s);
    segloss__avx2_tr4(v);
}
/* one 128-bit row, plain or non-temporal (p 16-byte aligned); the AVX-512 unrows4 uses it too */
SEGLOSS__VINLINE void segloss__avx2_row(float *p, simde__m128 a, const int nt)
{
    if (nt) simde_mm_stream_ps(p, a);
    else simde_mm_storeu_ps(p, a);
}
SEGLOSS__VINLINE void segloss__avx2_unrows4(float *p, int64_t s, simde__m256 v[4], const int nt)
{
    int k;
    segloss__avx2_tr4(v);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + k * s, simde_mm256_castps256_ps128(v[k]), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 4) * s, simde_mm256_extractf128_ps(v[k], 1), nt);
}
/* deint2: W rows of 2 floats, held as 2 vectors of W contiguous floats, to v[c] lane r =
   class c of row r; int2 is its inverse. */
SEGLOSS__VINLINE void segloss__avx2_deint2(simde__m256 v[2])
{
    const simde__m256 a = v[0], b = v[1];
    /* per 128-bit half: rows 0, 1, 4, 5 | 2, 3, 6, 7; the 64-bit permute restores the order */
    v[0] = simde_mm256_castpd_ps(simde_mm256_permute4x64_pd(
        simde_mm256_castps_pd(simde_mm256_shuffle_ps(a, b, SIMDE_MM_SHUFFLE(2, 0, 2, 0))), SIMDE_MM_SHUFFLE(3, 1, 2, 0)));
    v[1] = simde_mm256_castpd_ps(simde_mm256_permute4x64_pd(
        simde_mm256_castps_pd(simde_mm256_shuffle_ps(a, b, SIMDE_MM_SHUFFLE(3, 1, 3, 1))), SIMDE_MM_SHUFFLE(3, 1, 2, 0)));
}
SEGLOSS__VINLINE void segloss__avx2_int2(simde__m256 v[2])
{
    const simde__m256 lo = simde_mm256_unpacklo_ps(v[0], v[1]), hi = simde_mm256_unpackhi_ps(v[0], v[1]);
    v[0] = simde_mm256_permute2f128_ps(lo, hi, 0x20);
    v[1] = simde_mm256_permute2f128_ps(lo, hi, 0x31);
}
/* sum16 (see the scalar one): acc[0] holds lanes 0-7, acc[1] lanes 8-15. In registers: lanes
   stored as vectors and read back as scalars would stall each read on store forwarding. */
SEGLOSS__VINLINE double segloss__avx2_sum4d(simde__m256d t) /* (t0 + t2) + (t1 + t3) */
{
    const simde__m128d h = simde_mm_add_pd(simde_mm256_castpd256_pd128(t), simde_mm256_extractf128_pd(t, 1));
    return simde_mm_cvtsd_f64(h) + simde_mm_cvtsd_f64(simde_mm_unpackhi_pd(h, h));
}
SEGLOSS__VINLINE double segloss__avx2_sum16(const simde__m256 acc[2])
{
    const simde__m256d lo = simde_mm256_add_pd(simde_mm256_cvtps_pd(simde_mm256_castps256_ps128(acc[0])),
                                               simde_mm256_cvtps_pd(simde_mm256_castps256_ps128(acc[1])));
    const simde__m256d hi = simde_mm256_add_pd(simde_mm256_cvtps_pd(simde_mm256_extractf128_ps(acc[0], 1)),
                                               simde_mm256_cvtps_pd(simde_mm256_extractf128_ps(acc[1], 1)));
    return segloss__avx2_sum4d(simde_mm256_add_pd(lo, hi)); /* lane i + lane i+8, then t[i] + t[i+4] */
}
#define SEGLOSS__ISA avx2
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
SEGLOSS__TARGET_END
/* What follows is compiled at the user's flags again. */
#ifdef SEGLOSS__SET_AVX2
#undef SEGLOSS__SET_AVX2
#undef SIMDE_X86_AVX_NATIVE
#undef SIMDE_X86_AVX2_NATIVE
#undef SIMDE_X86_FMA_NATIVE
#endif
#endif /* SEGLOSS__HAVE_AVX2 */
#endif /* SEGLOSS__ISA_AVX2_H */
/* ---- end kernels/isa_avx2.h ---- */
/* ---- begin kernels/isa_avx512.h ---- */
/* ---- kernels/isa_avx512.h: the vocabulary (isa_scalar.h) for AVX-512F, 16 lanes, k masks  */
#ifndef SEGLOSS__ISA_AVX512_H
#define SEGLOSS__ISA_AVX512_H
#ifdef SEGLOSS__HAVE_AVX512
/* Native SIMDe for this region, as in isa_avx2.h: AVX-512F, and the AVX2 trio it implies
   where the user's flags did not already give it. */
#if SEGLOSS__X86 && !defined(SIMDE_X86_AVX512F_NATIVE)
#define SEGLOSS__SET_AVX512 1
#define SIMDE_X86_AVX512F_NATIVE
#endif
#if SEGLOSS__X86 && !defined(SIMDE_X86_AVX2_NATIVE)
#define SEGLOSS__SET_AVX512_AVX2 1
#define SIMDE_X86_AVX_NATIVE
#define SIMDE_X86_AVX2_NATIVE
#define SIMDE_X86_FMA_NATIVE
#endif
/* The target string and the detection in kernels/dispatch.h must name the same features. */
SEGLOSS__TARGET_BEGIN("avx512f,avx,avx2,fma")
#if defined(__GNUC__) && !defined(__clang__)
/* GCC 12's own avx512fintrin.h self-initialises _mm512_undefined_*(): a false positive in C++ */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* SIMDe's AVX-512 header brings <complex.h> in strict C; its macro I must not reach the user. */
#ifndef I
#define SEGLOSS__UNDEF_I
#endif
#include <simde/x86/avx512.h>
#ifdef SEGLOSS__UNDEF_I
#undef SEGLOSS__UNDEF_I
#undef I
#endif
typedef simde__m512 segloss__avx512_f;
typedef simde__m512i segloss__avx512_i;
typedef simde__mmask16 segloss__avx512_m;
#define SEGLOSS__avx512_W 16
SEGLOSS__VINLINE simde__m512 segloss__avx512_set1(float a) { return simde_mm512_set1_ps(a); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_load(const float *p) { return simde_mm512_loadu_ps(p); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_loadn(const float *p, int n)
{ float t[16] = {0}; memcpy(t, p, (size_t)n * sizeof(float)); return simde_mm512_loadu_ps(t); }
SEGLOSS__VINLINE void segloss__avx512_store(float *p, simde__m512 a) { simde_mm512_storeu_ps(p, a); }
SEGLOSS__VINLINE void segloss__avx512_storen(float *p, simde__m512 a, int n)
{ float t[16]; simde_mm512_storeu_ps(t, a); memcpy(p, t, (size_t)n * sizeof(float)); }
SEGLOSS__VINLINE void segloss__avx512_stream(float *p, simde__m512 a) /* p 16-byte aligned, see AVX2 */
{
#if defined(SIMDE_X86_AVX512F_NATIVE)
    if (!((uintptr_t)p & 63)) {
        _mm512_stream_ps(p, a);
    } else {
        _mm_stream_ps(p, _mm512_extractf32x4_ps(a, 0));
        _mm_stream_ps(p + 4, _mm512_extractf32x4_ps(a, 1));
        _mm_stream_ps(p + 8, _mm512_extractf32x4_ps(a, 2));
        _mm_stream_ps(p + 12, _mm512_extractf32x4_ps(a, 3));
    }
#else
    simde_mm512_storeu_ps(p, a);
#endif
}
SEGLOSS__VINLINE simde__m512 segloss__avx512_add(simde__m512 a, simde__m512 b) { return simde_mm512_add_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_sub(simde__m512 a, simde__m512 b) { return simde_mm512_sub_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_mul(simde__m512 a, simde__m512 b) { return simde_mm512_mul_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_div(simde__m512 a, simde__m512 b) { return simde_mm512_div_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_fma(simde__m512 a, simde__m512 b, simde__m512 c) { return simde_mm512_fmadd_ps(a, b, c); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_max(simde__m512 a, simde__m512 b) { return simde_mm512_max_ps(a, b); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_lt(simde__m512 a, simde__m512 b) { return simde_mm512_cmp_ps_mask(a, b, SIMDE_CMP_LT_OQ); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_ord(simde__m512 a) { return simde_mm512_cmp_ps_mask(a, a, SIMDE_CMP_ORD_Q); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_mor(simde__mmask16 a, simde__mmask16 b) { return (simde__mmask16)(a | b); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_mandn(simde__mmask16 a, simde__mmask16 b) { return (simde__mmask16)(~a & b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_sel(simde__mmask16 m, simde__m512 a, simde__m512 b) { return simde_mm512_mask_blend_ps(m, b, a); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_loadi(const int32_t *p) { return simde_mm512_loadu_si512((const void *)p); }
/* SIMDe 0.7.4 has no 512-bit cvtepu8_epi32: two 256-bit halves (vpmovzxbd ymm is AVX2) */
SEGLOSS__VINLINE simde__m512i segloss__avx512_loadu8(const uint8_t *p)
{
    simde__m256i lo = simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64((const simde__m128i *)(const void *)p));
    simde__m256i hi = simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64((const simde__m128i *)(const void *)(p + 8)));
    return simde_mm512_inserti64x4(simde_mm512_castsi256_si512(lo), hi, 1);
}
SEGLOSS__VINLINE void segloss__avx512_storei(int32_t *p, simde__m512i a) { simde_mm512_storeu_si512((void *)p, a); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_set1i(int32_t a) { return simde_mm512_set1_epi32(a); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_ieq(simde__m512i a, simde__m512i b) { return simde_mm512_cmpeq_epi32_mask(a, b); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_igt(simde__m512i a, simde__m512i b) { return simde_mm512_cmpgt_epi32_mask(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_imask(simde__mmask16 m) { return simde_mm512_maskz_mov_epi32(m, simde_mm512_set1_epi32(-1)); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_asint(simde__m512 a) { return simde_mm512_castps_si512(a); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_asflt(simde__m512i a) { return simde_mm512_castsi512_ps(a); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_iadd(simde__m512i a, simde__m512i b) { return simde_mm512_add_epi32(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_iand(simde__m512i a, simde__m512i b) { return simde_mm512_and_si512(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_ior(simde__m512i a, simde__m512i b) { return simde_mm512_or_si512(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_iandn(simde__m512i a, simde__m512i b) { return simde_mm512_andnot_si512(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_shl23(simde__m512i a) { return simde_mm512_slli_epi32(a, 23); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_shr23(simde__m512i a) { return simde_mm512_srli_epi32(a, 23); }
/* as for AVX2: vector k carries rows k, k + 4, k + 8, k + 12 */
SEGLOSS__VINLINE void segloss__avx512_tr4(simde__m512 v[4])
{
    const simde__m512 t0 = simde_mm512_unpacklo_ps(v[0], v[1]), t1 = simde_mm512_unpackhi_ps(v[0], v[1]);
    const simde__m512 t2 = simde_mm512_unpacklo_ps(v[2], v[3]), t3 = simde_mm512_unpackhi_ps(v[2], v[3]);
    v[0] = simde_mm512_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[1] = simde_mm512_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
    v[2] = simde_mm512_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[3] = simde_mm512_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
}
SEGLOSS__VINLINE void segloss__avx512_rows4(const float *p, int64_t s, simde__m512 v[4])
{
    int k;
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) {
        simde__m512 x = simde_mm512_castps128_ps512(simde_mm_loadu_ps(p + k * s));
        x = simde_mm512_insertf32x4(x, simde_mm_loadu_ps(p + (k + 4) * s), 1);
        x = simde_mm512_insertf32x4(x, simde_mm_loadu_ps(p + (k + 8) * s), 2);
        v[k] = simde_mm512_insertf32x4(x, simde_mm_loadu_ps(p + (k + 12) * s), 3);
    }
    segloss__avx512_tr4(v);
}
SEGLOSS__VINLINE void segloss__avx512_unrows4(float *p, int64_t s, simde__m512 v[4], const int nt)
{
    int k;
    segloss__avx512_tr4(v);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + k * s, simde_mm512_extractf32x4_ps(v[k], 0), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 4) * s, simde_mm512_extractf32x4_ps(v[k], 1), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 8) * s, simde_mm512_extractf32x4_ps(v[k], 2), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 12) * s, simde_mm512_extractf32x4_ps(v[k], 3), nt);
}
/* as for AVX2 */
SEGLOSS__VINLINE void segloss__avx512_deint2(simde__m512 v[2])
{
    const simde__m512 a = v[0], b = v[1];
    const simde__m512i even = simde_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    v[0] = simde_mm512_permutex2var_ps(a, even, b);
    v[1] = simde_mm512_permutex2var_ps(a, simde_mm512_add_epi32(even, simde_mm512_set1_epi32(1)), b);
}
SEGLOSS__VINLINE void segloss__avx512_int2(simde__m512 v[2])
{
    const simde__m512 a = v[0], b = v[1];
    const simde__m512i lo = simde_mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    v[0] = simde_mm512_permutex2var_ps(a, lo, b);
    v[1] = simde_mm512_permutex2var_ps(a, simde_mm512_add_epi32(lo, simde_mm512_set1_epi32(8)), b);
}
/* the AVX2 sum16 of the two 256-bit halves */
SEGLOSS__VINLINE double segloss__avx512_sum16(const simde__m512 acc[1])
{
    const simde__m256 h[2] = {simde_mm512_castps512_ps256(acc[0]),
                              simde_mm256_castpd_ps(simde_mm512_extractf64x4_pd(simde_mm512_castps_pd(acc[0]), 1))};
    return segloss__avx2_sum16(h);
}
#define SEGLOSS__ISA avx512
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
SEGLOSS__TARGET_END
/* What follows is compiled at the user's flags again. */
#ifdef SEGLOSS__SET_AVX512
#undef SEGLOSS__SET_AVX512
#undef SIMDE_X86_AVX512F_NATIVE
#endif
#ifdef SEGLOSS__SET_AVX512_AVX2
#undef SEGLOSS__SET_AVX512_AVX2
#undef SIMDE_X86_AVX_NATIVE
#undef SIMDE_X86_AVX2_NATIVE
#undef SIMDE_X86_FMA_NATIVE
#endif
#endif /* SEGLOSS__HAVE_AVX512 */
#endif /* SEGLOSS__ISA_AVX512_H */
/* ---- end kernels/isa_avx512.h ---- */
/* ---- begin kernels/isa_neon.h ---- */
/* ---- kernels/isa_neon.h: the vocabulary (isa_scalar.h) for the NEON API, 4 lanes: native
        on aarch64, SIMDe over SSE2 on x86 (the "sse2" path) ------------------------------- */
#ifndef SEGLOSS__ISA_NEON_H
#define SEGLOSS__ISA_NEON_H
#ifdef SEGLOSS__HAVE_NEON_API
#include <simde/arm/neon.h>
typedef simde_float32x4_t segloss__neon_f;
typedef simde_int32x4_t segloss__neon_i;
typedef simde_uint32x4_t segloss__neon_m;
#define SEGLOSS__neon_W 4
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_set1(float a) { return simde_vdupq_n_f32(a); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_load(const float *p) { return simde_vld1q_f32(p); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_loadn(const float *p, int n)
{ float t[4] = {0, 0, 0, 0}; memcpy(t, p, (size_t)n * sizeof(float)); return simde_vld1q_f32(t); }
SEGLOSS__VINLINE void segloss__neon_store(float *p, simde_float32x4_t a) { simde_vst1q_f32(p, a); }
SEGLOSS__VINLINE void segloss__neon_storen(float *p, simde_float32x4_t a, int n)
{ float t[4]; simde_vst1q_f32(t, a); memcpy(p, t, (size_t)n * sizeof(float)); }
/* a non-temporal store on x86 (p 16-byte aligned); aarch64 has no such hint worth its cost */
SEGLOSS__VINLINE void segloss__neon_stream(float *p, simde_float32x4_t a)
{
#if defined(SIMDE_X86_SSE_NATIVE) && !defined(SIMDE_ARM_NEON_A32V7_NATIVE)
    _mm_stream_ps(p, a);
#else
    simde_vst1q_f32(p, a);
#endif
}
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_add(simde_float32x4_t a, simde_float32x4_t b) { return simde_vaddq_f32(a, b); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_sub(simde_float32x4_t a, simde_float32x4_t b) { return simde_vsubq_f32(a, b); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_mul(simde_float32x4_t a, simde_float32x4_t b) { return simde_vmulq_f32(a, b); }
/* SIMDe 0.7.4 has no vdivq_f32; both targets have an IEEE vector divide. */
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_div(simde_float32x4_t a, simde_float32x4_t b)
{
#if defined(SIMDE_ARM_NEON_A64V8_NATIVE)
    return vdivq_f32(a, b);
#elif defined(SIMDE_X86_SSE_NATIVE)
    return _mm_div_ps(a, b);
#else
    float x[4], y[4];
    int i;
    simde_vst1q_f32(x, a);
    simde_vst1q_f32(y, b);
    for (i = 0; i < 4; i++) x[i] /= y[i];
    return simde_vld1q_f32(x);
#endif
}
/* Fused on aarch64; on SSE2 SIMDe computes a*b rounded, then +c: the one unfused path. */
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_fma(simde_float32x4_t a, simde_float32x4_t b, simde_float32x4_t c) { return simde_vfmaq_f32(c, a, b); }
/* NEON max propagates NaN from either side; x86 returns b. Either way a NaN in b survives. */
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_max(simde_float32x4_t a, simde_float32x4_t b) { return simde_vmaxq_f32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_lt(simde_float32x4_t a, simde_float32x4_t b) { return simde_vcltq_f32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_ord(simde_float32x4_t a) { return simde_vceqq_f32(a, a); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_mor(simde_uint32x4_t a, simde_uint32x4_t b) { return simde_vorrq_u32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_mandn(simde_uint32x4_t a, simde_uint32x4_t b) { return simde_vbicq_u32(b, a); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_sel(simde_uint32x4_t m, simde_float32x4_t a, simde_float32x4_t b) { return simde_vbslq_f32(m, a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_loadi(const int32_t *p) { return simde_vld1q_s32(p); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_loadu8(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return simde_vreinterpretq_s32_u32(simde_vmovl_u16(simde_vget_low_u16(simde_vmovl_u8(simde_vcreate_u8(w)))));
}
SEGLOSS__VINLINE void segloss__neon_storei(int32_t *p, simde_int32x4_t a) { simde_vst1q_s32(p, a); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_set1i(int32_t a) { return simde_vdupq_n_s32(a); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_ieq(simde_int32x4_t a, simde_int32x4_t b) { return simde_vceqq_s32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_igt(simde_int32x4_t a, simde_int32x4_t b) { return simde_vcgtq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_imask(simde_uint32x4_t m) { return simde_vreinterpretq_s32_u32(m); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_asint(simde_float32x4_t a) { return simde_vreinterpretq_s32_f32(a); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_asflt(simde_int32x4_t a) { return simde_vreinterpretq_f32_s32(a); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_iadd(simde_int32x4_t a, simde_int32x4_t b) { return simde_vaddq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_iand(simde_int32x4_t a, simde_int32x4_t b) { return simde_vandq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_ior(simde_int32x4_t a, simde_int32x4_t b) { return simde_vorrq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_iandn(simde_int32x4_t a, simde_int32x4_t b) { return simde_vbicq_s32(b, a); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_shl23(simde_int32x4_t a) { return simde_vshlq_n_s32(a, 23); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_shr23(simde_int32x4_t a)
{ return simde_vreinterpretq_s32_u32(simde_vshrq_n_u32(simde_vreinterpretq_u32_s32(a), 23)); }
/* rows4/unrows4 as for AVX2: four rows, one 4x4 transpose (its own inverse) */
SEGLOSS__VINLINE void segloss__neon_tr4(simde_float32x4_t v[4])
{
    const simde_float32x4_t t0 = simde_vzip1q_f32(v[0], v[2]), t1 = simde_vzip2q_f32(v[0], v[2]);
    const simde_float32x4_t t2 = simde_vzip1q_f32(v[1], v[3]), t3 = simde_vzip2q_f32(v[1], v[3]);
    v[0] = simde_vzip1q_f32(t0, t2);
    v[1] = simde_vzip2q_f32(t0, t2);
    v[2] = simde_vzip1q_f32(t1, t3);
    v[3] = simde_vzip2q_f32(t1, t3);
}
SEGLOSS__VINLINE void segloss__neon_rows4(const float *p, int64_t s, simde_float32x4_t v[4])
{
    int k;
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) v[k] = simde_vld1q_f32(p + k * s);
    segloss__neon_tr4(v);
}
SEGLOSS__VINLINE void segloss__neon_unrows4(float *p, int64_t s, simde_float32x4_t v[4], const int nt)
{
    int k;
    segloss__neon_tr4(v);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) {
        if (nt) segloss__neon_stream(p + k * s, v[k]);
        else simde_vst1q_f32(p + k * s, v[k]);
    }
}
/* deint2/int2 as for AVX2 */
SEGLOSS__VINLINE void segloss__neon_deint2(simde_float32x4_t v[2])
{
    const simde_float32x4_t a = v[0], b = v[1];
    v[0] = simde_vuzp1q_f32(a, b);
    v[1] = simde_vuzp2q_f32(a, b);
}
SEGLOSS__VINLINE void segloss__neon_int2(simde_float32x4_t v[2])
{
    const simde_float32x4_t a = v[0], b = v[1];
    v[0] = simde_vzip1q_f32(a, b);
    v[1] = simde_vzip2q_f32(a, b);
}
/* as for AVX2; acc[k] holds lanes 4k to 4k+3. widen_add: a + b in double, lanes 0-1 in *lo,
   lanes 2-3 in *hi. */
SEGLOSS__VINLINE void segloss__neon_widen_add(simde_float32x4_t a, simde_float32x4_t b, simde_float64x2_t *lo,
                                             simde_float64x2_t *hi)
{
    *lo = simde_vaddq_f64(simde_vcvt_f64_f32(simde_vget_low_f32(a)), simde_vcvt_f64_f32(simde_vget_low_f32(b)));
    *hi = simde_vaddq_f64(simde_vcvt_f64_f32(simde_vget_high_f32(a)), simde_vcvt_f64_f32(simde_vget_high_f32(b)));
}
SEGLOSS__VINLINE double segloss__neon_sum16(const simde_float32x4_t acc[4])
{
    simde_float64x2_t t01, t23, t45, t67, h;
    segloss__neon_widen_add(acc[0], acc[2], &t01, &t23); /* t[i] = lane i + lane i+8 */
    segloss__neon_widen_add(acc[1], acc[3], &t45, &t67);
    h = simde_vaddq_f64(simde_vaddq_f64(t01, t45), simde_vaddq_f64(t23, t67)); /* (t0+t4)+(t2+t6), (t1+t5)+(t3+t7) */
    return simde_vgetq_lane_f64(h, 0) + simde_vgetq_lane_f64(h, 1);
}
#define SEGLOSS__ISA neon
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
#endif /* SEGLOSS__HAVE_NEON_API */
#endif /* SEGLOSS__ISA_NEON_H */
/* ---- end kernels/isa_neon.h ---- */
/* ---- begin kernels/isa_scalar.h ---- */
/* ---- kernels/isa_scalar.h: the vector vocabulary's contract, and its scalar reference ---- */
#ifndef SEGLOSS__ISA_SCALAR_H
#define SEGLOSS__ISA_SCALAR_H
/* THE VOCABULARY. The kernels (loss_kernels.h) are written once over these types and ops;
   each isa_*.h defines them as segloss__<isa>_<op> and then compiles the kernels with them.
   Every vocabulary must give these exact results, so that the FMA paths agree bit for bit.

   types   f: W floats   i: W int32   m: W-lane mask (all-ones/zero lanes, a k register on
           AVX-512, an int here);  SEGLOSS__<isa>_W: the lane count W (16 divides by W).
   memory  load/store: W floats, unaligned.  loadn/storen(p, n): the first n < W lanes (the
           others read as 0, never touched).  stream: store around the caches where the ISA
           has it (x86; p 16-byte aligned), a plain store elsewhere.  loadi/storei: W int32.
           loadu8: W bytes, zero-extended to int32.
   float   add sub mul div: IEEE, one rounding.  fma(a, b, c) = a*b + c with ONE rounding
           (the sse2 path alone rounds twice: it has no FMA).  set1(x): x in every lane.
           max(a, b): a if a > b, else b; so a NaN in b always survives, a NaN in a only on NEON.
   masks   lt(a, b): a < b, false where either is NaN.  ord(a): a is not NaN.  mor: a | b.
           mandn(a, b): b and not a.  sel(m, a, b): a where m, else b.
   int     set1i, iadd (wraps), iand, ior, iandn(a, b) = ~a & b, ieq and igt (to masks),
           imask (mask to int32 -1/0), shl23 / shr23 (logical shifts), asint / asflt (bit casts).
   shapes  rows4(p, s, v): W rows of 4 floats at p + r*s into v[c] lane r = class c of row r;
           unrows4(p, s, v, nt) writes them back row by row in increasing order (rows may
           overlap, s < 4), non-temporal when nt.  deint2/int2: the same for rows of 2 floats
           held as 2 contiguous vectors, in place.
   sums    sum16(acc): the 16 lane sums of a block (acc holds 16 / W vectors) combined in double
           in one tree: t[i] = lane i + lane i+8, then t[i] + t[i+4], then (t0 + t2) + (t1 + t3).
           No other order is allowed: it is what makes the paths' sums identical.

   The scalar vocabulary below is the reference: one lane, fmaf for fma. */
typedef float segloss__scalar_f;
typedef int32_t segloss__scalar_i;
typedef int segloss__scalar_m;
#define SEGLOSS__scalar_W 1
SEGLOSS__VINLINE float segloss__scalar_set1(float a) { return a; }
SEGLOSS__VINLINE float segloss__scalar_load(const float *p) { return *p; }
SEGLOSS__VINLINE float segloss__scalar_loadn(const float *p, int n) { return n > 0 ? *p : 0.0f; }
SEGLOSS__VINLINE void segloss__scalar_store(float *p, float a) { *p = a; }
SEGLOSS__VINLINE void segloss__scalar_storen(float *p, float a, int n) { if (n > 0) *p = a; }
SEGLOSS__VINLINE void segloss__scalar_stream(float *p, float a) { *p = a; }
SEGLOSS__VINLINE float segloss__scalar_add(float a, float b) { return a + b; }
SEGLOSS__VINLINE float segloss__scalar_sub(float a, float b) { return a - b; }
SEGLOSS__VINLINE float segloss__scalar_mul(float a, float b) { return a * b; }
SEGLOSS__VINLINE float segloss__scalar_div(float a, float b) { return a / b; }
SEGLOSS__VINLINE float segloss__scalar_fma(float a, float b, float c) { return fmaf(a, b, c); }
/* max returns b when either is NaN, like x86 maxps: NaN in b propagates. */
SEGLOSS__VINLINE float segloss__scalar_max(float a, float b) { return a > b ? a : b; }
SEGLOSS__VINLINE int segloss__scalar_lt(float a, float b) { return a < b; }
SEGLOSS__VINLINE int segloss__scalar_ord(float a) { return a == a; }
SEGLOSS__VINLINE int segloss__scalar_mor(int a, int b) { return a | b; }
SEGLOSS__VINLINE int segloss__scalar_mandn(int a, int b) { return !a && b; }
SEGLOSS__VINLINE float segloss__scalar_sel(int m, float a, float b) { return m ? a : b; }
SEGLOSS__VINLINE int32_t segloss__scalar_loadi(const int32_t *p) { return *p; }
SEGLOSS__VINLINE int32_t segloss__scalar_loadu8(const uint8_t *p) { return *p; }
SEGLOSS__VINLINE void segloss__scalar_storei(int32_t *p, int32_t a) { *p = a; }
SEGLOSS__VINLINE int32_t segloss__scalar_set1i(int32_t a) { return a; }
SEGLOSS__VINLINE int segloss__scalar_ieq(int32_t a, int32_t b) { return a == b; }
SEGLOSS__VINLINE int segloss__scalar_igt(int32_t a, int32_t b) { return a > b; }
SEGLOSS__VINLINE int32_t segloss__scalar_imask(int m) { return -m; }
SEGLOSS__VINLINE int32_t segloss__scalar_asint(float a) { int32_t r; memcpy(&r, &a, 4); return r; }
SEGLOSS__VINLINE float segloss__scalar_asflt(int32_t a) { float r; memcpy(&r, &a, 4); return r; }
SEGLOSS__VINLINE int32_t segloss__scalar_iadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
SEGLOSS__VINLINE int32_t segloss__scalar_iand(int32_t a, int32_t b) { return a & b; }
SEGLOSS__VINLINE int32_t segloss__scalar_ior(int32_t a, int32_t b) { return a | b; }
SEGLOSS__VINLINE int32_t segloss__scalar_iandn(int32_t a, int32_t b) { return ~a & b; }
SEGLOSS__VINLINE int32_t segloss__scalar_shl23(int32_t a) { return (int32_t)((uint32_t)a << 23); }
SEGLOSS__VINLINE int32_t segloss__scalar_shr23(int32_t a) { return (int32_t)((uint32_t)a >> 23); }
SEGLOSS__VINLINE void segloss__scalar_rows4(const float *p, int64_t s, float v[4])
{ (void)s; v[0] = p[0]; v[1] = p[1]; v[2] = p[2]; v[3] = p[3]; }
SEGLOSS__VINLINE void segloss__scalar_unrows4(float *p, int64_t s, float v[4], const int nt)
{ (void)s; (void)nt; p[0] = v[0]; p[1] = v[1]; p[2] = v[2]; p[3] = v[3]; }
/* sum16: the sixteen lane sums of a block combined in the one canonical tree: (i, i+8), then
   (i, i+4), (i, i+2), (i, i+1), in double. Every vocabulary's sum16 does these same adds, in
   registers, so the order never depends on the vector width. */
SEGLOSS__VINLINE double segloss__scalar_sum16(const float acc[16])
{
    double t[8];
    int i;
    for (i = 0; i < 8; i++) t[i] = (double)acc[i] + (double)acc[i + 8];
    for (i = 0; i < 4; i++) t[i] += t[i + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}
SEGLOSS__VINLINE void segloss__scalar_deint2(float v[2]) { (void)v; } /* one row: already in place */
SEGLOSS__VINLINE void segloss__scalar_int2(float v[2]) { (void)v; }
#define SEGLOSS__ISA scalar
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
#endif /* SEGLOSS__ISA_SCALAR_H */
/* ---- end kernels/isa_scalar.h ---- */
/* ---- begin kernels/dispatch.h ---- */
/* ---- kernels/dispatch.h: the paths compiled in (best first), what this CPU runs, the active one */
#ifndef SEGLOSS__DISPATCH_H
#define SEGLOSS__DISPATCH_H

#define SEGLOSS__ENTRY(name, isa) \
    { name, segloss__stats__##isa, segloss__grad__##isa, segloss__labels__##isa, segloss__vmath__##isa, segloss__transpose__##isa, \
      segloss__argmax__##isa, segloss__sigmoid__##isa, segloss__soft_targets__##isa }
SEGLOSS__PRIVATE const segloss__isa_table segloss__isa_list[] = {
#if defined(SEGLOSS__HAVE_AVX512) && SEGLOSS__X86
    SEGLOSS__ENTRY("avx512", avx512),
#endif
#if defined(SEGLOSS__HAVE_AVX2) && SEGLOSS__X86
    SEGLOSS__ENTRY("avx2", avx2),
#endif
#ifdef SEGLOSS__HAVE_NEON_API
    SEGLOSS__ENTRY(SEGLOSS__X86 ? "sse2" : "neon", neon),
#endif
#if defined(SEGLOSS__HAVE_AVX2) && !SEGLOSS__X86 /* tests only: x86 APIs over NEON, never the best */
    SEGLOSS__ENTRY("avx512", avx512),
    SEGLOSS__ENTRY("avx2", avx2),
#endif
    SEGLOSS__ENTRY("scalar", scalar),
};
#undef SEGLOSS__ENTRY
#define SEGLOSS__NISA ((int)(sizeof(segloss__isa_list) / sizeof(segloss__isa_list[0])))

#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__))
/* CPUID and XCR0 bits (Intel SDM vol. 2A, CPUID; vol. 1, 13.3 XCR0). */
#define SEGLOSS__CPUID1_ECX_FMA (1u << 12)
#define SEGLOSS__CPUID1_ECX_OSXSAVE (1u << 27) /* the OS saves extended state: xgetbv works */
#define SEGLOSS__CPUID1_ECX_AVX (1u << 28)
#define SEGLOSS__CPUID7_EBX_AVX2 (1u << 5)
#define SEGLOSS__CPUID7_EBX_AVX512F (1u << 16)
#define SEGLOSS__XCR0_YMM 0x06u  /* the OS saves XMM and YMM registers */
#define SEGLOSS__XCR0_ZMM 0xE6u  /* ... and the opmask, ZMM0-15 upper halves and ZMM16-31 */
/* 2: AVX-512F with OS ZMM state; 1: AVX2 + FMA with OS YMM state; 0: SSE2. xgetbv only runs
   when CPUID says the OS enabled XSAVE (it faults otherwise). */
SEGLOSS__PRIVATE int segloss__x86_level(void)
{
    const unsigned need1 = SEGLOSS__CPUID1_ECX_OSXSAVE | SEGLOSS__CPUID1_ECX_AVX | SEGLOSS__CPUID1_ECX_FMA;
    unsigned a, b, c, d, xcr0_lo, xcr0_hi;
    int level = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if ((c & need1) != need1) return 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & SEGLOSS__XCR0_YMM) != SEGLOSS__XCR0_YMM || __get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (b & SEGLOSS__CPUID7_EBX_AVX2) level = 1;
    if (level && (b & SEGLOSS__CPUID7_EBX_AVX512F) && (xcr0_lo & SEGLOSS__XCR0_ZMM) == SEGLOSS__XCR0_ZMM) level = 2;
    return level;
}
#endif

SEGLOSS__PRIVATE int segloss__cpu_runs(const char *name)
{
#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__))
    if (!strcmp(name, "avx512")) return segloss__x86_level() >= 2;
    if (!strcmp(name, "avx2")) return segloss__x86_level() >= 1;
#endif
    (void)name;
    return 1; /* scalar; sse2 is x86-64's baseline; NEON is mandatory on AArch64 */
}

/* Whether a forced path may run. SEGLOSS_UNSAFE_FORCE_ISA is for test builds only: it lets
   the qemu matrix prove that an AVX2 kernel really executes AVX2 (SIGILL on an older CPU). */
#ifdef SEGLOSS_UNSAFE_FORCE_ISA
#define SEGLOSS__MAY_FORCE(name) 1
#else
#define SEGLOSS__MAY_FORCE(name) segloss__cpu_runs(name)
#endif

SEGLOSS__PRIVATE const segloss__isa_table *segloss__find_isa(const char *name)
{
    int i;
    for (i = 0; i < SEGLOSS__NISA; i++)
        if (!strcmp(segloss__isa_list[i].name, name)) return &segloss__isa_list[i];
    return NULL;
}

SEGLOSS__PRIVATE const segloss__isa_table *segloss__best_isa(void)
{
    int i;
    for (i = 0; i < SEGLOSS__NISA; i++)
        if (segloss__cpu_runs(segloss__isa_list[i].name)) return &segloss__isa_list[i];
    return &segloss__isa_list[SEGLOSS__NISA - 1];
}

/* A path's exp, log and log1p on 3 x 512 fixed arguments, hashed (FNV-1a over the bits).
   They are exact functions of IEEE float arithmetic, the same on every FMA path. An optimiser
   allowed to reassociate changes them: clang does so under -fassociative-math or -ffast-math
   -fno-finite-math-only, which no macro reveals and no pragma undoes for its builtins, so such
   a build is caught here at first use, not trusted. The sse2 path is not checked: it has no
   FMA, and where the compiler's baseline has one (-march=native) it may contract its
   multiply-adds, legitimately, into bits of its own. */
#define SEGLOSS__SELFTEST_FMA 0xfa0d05a515f731a2ull /* avx512, avx2, neon, scalar */
SEGLOSS__PRIVATE uint64_t segloss__selftest_hash(const segloss__isa_table *t)
{
    float x[512], y[512];
    uint64_t h = 14695981039346656037ull;
    int op, i, k;
    for (op = 0; op < 3; op++) {
        for (i = 0; i < 512; i++)
            x[i] = op == 0 ? (float)-(i * 170 + i % 7) / 1024.0f               /* exp: [-85, 0], exact */
                 : op == 1 ? ldexpf(1.0f + (float)i / 512.0f, i % 64 - 32)   /* log: (0, inf)       */
                 : ldexpf((float)(i + 1) / 64.0f, -(i % 24));                /* log1p: u > 0        */
        t->vmath(op, x, y, 512);
        for (i = 0; i < 512; i++) {
            uint32_t b;
            memcpy(&b, &y[i], 4);
            for (k = 0; k < 4; k++) h = (h ^ ((b >> (8 * k)) & 0xFFu)) * 1099511628211ull;
        }
    }
    return h;
}

/* Whether every FMA path this CPU runs passes the self-test; worked out once (racing first calls
   work out the same answer). Where float expressions are evaluated in a wider format
   (FLT_EVAL_METHOD != 0: x87) the paths were never bit-identical, and nothing is checked. */
static int segloss__build_state; /* 0 not yet known, 1 sound, 2 broken */
SEGLOSS__PRIVATE int segloss__build_ok(void)
{
#if defined(__GNUC__) || defined(__clang__)
    int s = __atomic_load_n(&segloss__build_state, __ATOMIC_ACQUIRE);
#else
    int s = *(volatile int *)&segloss__build_state;
#endif
    if (!s) {
        int i;
        s = 1;
#if FLT_EVAL_METHOD == 0
        for (i = 0; i < SEGLOSS__NISA; i++) {
            const segloss__isa_table *t = &segloss__isa_list[i];
            if (strcmp(t->name, "sse2") && segloss__cpu_runs(t->name) && segloss__selftest_hash(t) != SEGLOSS__SELFTEST_FMA)
                s = 2;
        }
        if (s == 2)
            fprintf(stderr, "segloss: this build's float arithmetic is not IEEE (the implementation was compiled "
                            "with -fassociative-math or -ffast-math?): every call returns SEGLOSS_ERR_BUILD; compile "
                            "the file that defines SEGLOSS_IMPLEMENTATION without fast-math flags\n");
#else
        (void)i;
#endif
#if defined(__GNUC__) || defined(__clang__)
        __atomic_store_n(&segloss__build_state, s, __ATOMIC_RELEASE);
#else
        *(volatile int *)&segloss__build_state = s;
#endif
    }
    return s == 1;
}

/* Resolved once; racing first calls all store the same table, so no lock is needed. */
static const segloss__isa_table *segloss__active;
#if defined(__GNUC__) || defined(__clang__)
#define SEGLOSS__LOAD_ACTIVE() __atomic_load_n(&segloss__active, __ATOMIC_ACQUIRE)
#define SEGLOSS__STORE_ACTIVE(t) __atomic_store_n(&segloss__active, (t), __ATOMIC_RELEASE)
#else
#define SEGLOSS__LOAD_ACTIVE() (*(const segloss__isa_table *volatile *)&segloss__active)
#define SEGLOSS__STORE_ACTIVE(t) (*(const segloss__isa_table *volatile *)&segloss__active = (t))
#endif

SEGLOSS__PRIVATE const segloss__isa_table *segloss__table(void)
{
    const segloss__isa_table *t = SEGLOSS__LOAD_ACTIVE();
    if (!t) {
        const char *env = getenv("SEGLOSS_ISA");
        t = segloss__best_isa();
        if (env && *env && strcmp(env, "auto")) {
            const segloss__isa_table *e = segloss__find_isa(env);
            if (e && SEGLOSS__MAY_FORCE(env)) t = e;
            else fprintf(stderr, "segloss: SEGLOSS_ISA=%s is not available here; using %s\n", env, t->name);
        }
        SEGLOSS__STORE_ACTIVE(t);
    }
    return t;
}

SEGLOSS__API const char *segloss_active_isa(void) { return segloss__table()->name; }

SEGLOSS__API int segloss_isa_supported(const char *name)
{
    return name && segloss__find_isa(name) && segloss__cpu_runs(name);
}

SEGLOSS__API int segloss_isa_count(void) { return SEGLOSS__NISA; }

SEGLOSS__API const char *segloss_isa_name(int i) { return i >= 0 && i < SEGLOSS__NISA ? segloss__isa_list[i].name : NULL; }

SEGLOSS__API segloss_status segloss_set_isa(const char *name)
{
    const segloss__isa_table *t;
    if (!name || !strcmp(name, "auto")) {
        SEGLOSS__STORE_ACTIVE(segloss__best_isa());
        return SEGLOSS_OK;
    }
    t = segloss__find_isa(name);
    if (!t || !SEGLOSS__MAY_FORCE(name)) return SEGLOSS_ERR_ISA;
    SEGLOSS__STORE_ACTIVE(t);
    return SEGLOSS_OK;
}

#endif /* SEGLOSS__DISPATCH_H */
/* ---- end kernels/dispatch.h ---- */
/* ---- begin kernels/driver.h ---- */
/* ---- kernels/driver.h: validation, the phases over blocks, segloss_compute, two phases -- */
#ifndef SEGLOSS__DRIVER_H
#define SEGLOSS__DRIVER_H
/* ---- names, defaults, messages ---------------------------------------------------------- */

SEGLOSS__API int segloss_version(void) { return SEGLOSS_VERSION_NUMBER; }

#define SEGLOSS__FIELD(T, f) {#T, #f, (int64_t)offsetof(T, f)}
#define SEGLOSS__SIZE(T) {#T, NULL, (int64_t)sizeof(T)}
SEGLOSS__API int64_t segloss_abi_offset(const char *type, const char *field)
{
    static const struct { const char *type, *field; int64_t value; } layout[] = {
        SEGLOSS__SIZE(segloss_config), SEGLOSS__FIELD(segloss_config, loss_type),
        SEGLOSS__FIELD(segloss_config, focal_gamma), SEGLOSS__FIELD(segloss_config, focal_weight),
        SEGLOSS__FIELD(segloss_config, dice_weight), SEGLOSS__FIELD(segloss_config, dice_smooth),
        SEGLOSS__FIELD(segloss_config, tversky_alpha), SEGLOSS__FIELD(segloss_config, tversky_beta),
        SEGLOSS__FIELD(segloss_config, use_class_weighting), SEGLOSS__FIELD(segloss_config, class_weights),
        SEGLOSS__FIELD(segloss_config, ignore_index), SEGLOSS__FIELD(segloss_config, include_background),
        SEGLOSS__FIELD(segloss_config, per_sample), SEGLOSS__FIELD(segloss_config, reduction),
        SEGLOSS__FIELD(segloss_config, check_finite), SEGLOSS__FIELD(segloss_config, activation),
        SEGLOSS__FIELD(segloss_config, label_smoothing), SEGLOSS__FIELD(segloss_config, pos_weight),
        SEGLOSS__FIELD(segloss_config, focal_alpha), SEGLOSS__FIELD(segloss_config, weight_map),
        SEGLOSS__SIZE(segloss_input), SEGLOSS__FIELD(segloss_input, logits), SEGLOSS__FIELD(segloss_input, labels),
        SEGLOSS__FIELD(segloss_input, label_type), SEGLOSS__FIELD(segloss_input, n), SEGLOSS__FIELD(segloss_input, c),
        SEGLOSS__FIELD(segloss_input, s), SEGLOSS__FIELD(segloss_input, layout),
        SEGLOSS__SIZE(segloss_result), SEGLOSS__FIELD(segloss_result, loss), SEGLOSS__FIELD(segloss_result, ce_term),
        SEGLOSS__FIELD(segloss_result, dice_term), SEGLOSS__FIELD(segloss_result, valid),
        SEGLOSS__FIELD(segloss_result, bad_position),
        SEGLOSS__SIZE(segloss_stats), SEGLOSS__FIELD(segloss_stats, n), SEGLOSS__FIELD(segloss_stats, c),
        SEGLOSS__FIELD(segloss_stats, sum),
        SEGLOSS__SIZE(segloss_class_metrics), SEGLOSS__FIELD(segloss_class_metrics, recall),
        SEGLOSS__FIELD(segloss_class_metrics, precision), SEGLOSS__FIELD(segloss_class_metrics, iou),
        SEGLOSS__FIELD(segloss_class_metrics, dice), SEGLOSS__FIELD(segloss_class_metrics, tp),
        SEGLOSS__FIELD(segloss_class_metrics, fp), SEGLOSS__FIELD(segloss_class_metrics, fn),
        SEGLOSS__SIZE(segloss_advice), SEGLOSS__FIELD(segloss_advice, config), SEGLOSS__FIELD(segloss_advice, reason),
    };
    size_t i;
    if (!type) return -1;
    for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
        if (!strcmp(layout[i].type, type) &&
            (field ? layout[i].field && !strcmp(layout[i].field, field) : !layout[i].field))
            return layout[i].value;
    return -1;
}
#undef SEGLOSS__FIELD
#undef SEGLOSS__SIZE

SEGLOSS__API void segloss_config_init(segloss_config *cfg, segloss_loss_type loss_type)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->loss_type = loss_type;
    cfg->focal_gamma = 2.0f;
    cfg->focal_weight = 0.5f;
    cfg->dice_weight = 0.5f;
    cfg->dice_smooth = 1.0f;
    cfg->tversky_alpha = 0.7f;
    cfg->tversky_beta = 0.3f;
    cfg->use_class_weighting = loss_type == SEGLOSS_WEIGHTED_CE;
    cfg->class_weights = NULL;
    cfg->ignore_index = -100;
    cfg->include_background = 1;
    cfg->per_sample = 0;
    cfg->reduction = SEGLOSS_MEAN;
    cfg->check_finite = 0;
    cfg->activation = SEGLOSS_SOFTMAX;
    cfg->label_smoothing = 0.0f;
    cfg->pos_weight = NULL;
    cfg->focal_alpha = 0.25f;
    cfg->weight_map = NULL;
}

SEGLOSS__API const char *segloss_status_string(segloss_status s)
{
    switch (s) {
    case SEGLOSS_OK: return "ok";
    case SEGLOSS_ERR_NULL: return "a required pointer is NULL";
    case SEGLOSS_ERR_SHAPE: return "bad shape: n, c and s must be positive (s = every spatial dimension flattened) and n*c*s floats must fit in memory";
    case SEGLOSS_ERR_ENUM: return "unknown loss type, label type, layout, reduction or activation (use the SEGLOSS_ enumerators)";
    case SEGLOSS_ERR_PARAM: return "bad parameter: gamma, smooth, alpha, beta and the combination weights must be finite and >= 0, and focal_weight and dice_weight not both 0; label_smoothing and focal_alpha in [0, 1]; the softmax needs c >= 2 and class indices (start from segloss_config_init)";
    case SEGLOSS_ERR_WEIGHTS: return "bad weight: class_weights and pos_weight must hold C values, and weight_map n*s values, finite and >= 0";
    case SEGLOSS_ERR_LABEL: return "label out of range (not in [0, C) and not ignore_index): uint8 labels with 255 for 'ignore' need ignore_index = 255 (see result.bad_position, segloss_error_message)";
    case SEGLOSS_ERR_NONFINITE: return "non-finite logit (NaN or infinite, rejected by check_finite = 1; see result.bad_position)";
    case SEGLOSS_ERR_ALIAS: return "grad overlaps logits: pass the same buffer for in-place, or disjoint buffers (or n*c*s is larger than the buffers)";
    case SEGLOSS_ERR_STATS: return "statistics do not match: stats n/c, first_sample or slice out of range (size stats with segloss_stats_len)";
    case SEGLOSS_ERR_NOMEM: return "out of memory";
    case SEGLOSS_ERR_ISA: return "SIMD path unknown, not compiled in, or not supported by this CPU (see segloss_isa_supported)";
    case SEGLOSS_ERR_PARSE: return "configuration text: unknown key or bad value (segloss_config_parse's err names it)";
    case SEGLOSS_ERR_BUILD: return "this build's float arithmetic is not IEEE: compile the file that defines SEGLOSS_IMPLEMENTATION without -ffast-math, -Ofast or -fassociative-math";
    default: break;
    }
    return "unknown status";
}

/* ---- validation: everything is checked before anything is written ------------------------ */

#define SEGLOSS__IS_CE_FAMILY(t) ((t) == SEGLOSS_CE || (t) == SEGLOSS_WEIGHTED_CE || (t) == SEGLOSS_FOCAL)
#define SEGLOSS__HAS_CE_TERM(t) (SEGLOSS__IS_CE_FAMILY(t) || (t) == SEGLOSS_FOCAL_DICE)
#define SEGLOSS__HAS_DICE_TERM(t) \
    ((t) == SEGLOSS_DICE || (t) == SEGLOSS_FOCAL_DICE || (t) == SEGLOSS_TVERSKY || (t) == SEGLOSS_GENERALIZED_DICE)
#define SEGLOSS__HAS_GAMMA(t) ((t) == SEGLOSS_FOCAL || (t) == SEGLOSS_FOCAL_DICE)
#define SEGLOSS__DENSE(lt) ((lt) == SEGLOSS_TARGET_U8 || (lt) == SEGLOSS_TARGET_F32)

SEGLOSS__PRIVATE int segloss__nonneg(float v) { return v >= 0.0f && v <= FLT_MAX; } /* false for NaN */

/* label_smoothing: in [0, 1], and > 0 only for a softmax CE-family term without focusing (where
   nothing would be smoothed, it is refused rather than ignored) */
SEGLOSS__PRIVATE int segloss__bad_smoothing(const segloss_config *cfg)
{
    const float e = cfg->label_smoothing;
    if (!(e >= 0.0f && e <= 1.0f)) return 1;
    return e > 0.0f && (cfg->activation == SEGLOSS_SIGMOID || !SEGLOSS__HAS_CE_TERM(cfg->loss_type) ||
                        (SEGLOSS__HAS_GAMMA(cfg->loss_type) && cfg->focal_gamma != 0.0f));
}
/* focal_alpha, where it applies (the sigmoid focal term): at most 1, not NaN (< 0: none) */
SEGLOSS__PRIVATE int segloss__bad_alpha(const segloss_config *cfg)
{
    return cfg->activation == SEGLOSS_SIGMOID && SEGLOSS__HAS_GAMMA(cfg->loss_type) && !(cfg->focal_alpha <= 1.0f);
}

SEGLOSS__PRIVATE segloss_status segloss__check_config(const segloss_config *cfg)
{
    segloss_loss_type t;
    if (!cfg) return SEGLOSS_ERR_NULL;
    if (!segloss__build_ok()) return SEGLOSS_ERR_BUILD;
    t = cfg->loss_type;
    if ((unsigned)t >= SEGLOSS_LOSS_COUNT || (unsigned)cfg->reduction > SEGLOSS_SUM) return SEGLOSS_ERR_ENUM;
    if ((t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) && !segloss__nonneg(cfg->focal_gamma)) return SEGLOSS_ERR_PARAM;
    if (t == SEGLOSS_FOCAL_DICE &&
        (!segloss__nonneg(cfg->focal_weight) || !segloss__nonneg(cfg->dice_weight) ||
         (cfg->focal_weight == 0.0f && cfg->dice_weight == 0.0f)))
        return SEGLOSS_ERR_PARAM;
    if (SEGLOSS__HAS_DICE_TERM(t) && !segloss__nonneg(cfg->dice_smooth)) return SEGLOSS_ERR_PARAM;
    if (t == SEGLOSS_TVERSKY && (!segloss__nonneg(cfg->tversky_alpha) || !segloss__nonneg(cfg->tversky_beta)))
        return SEGLOSS_ERR_PARAM;
    if ((unsigned)cfg->activation > SEGLOSS_SIGMOID) return SEGLOSS_ERR_ENUM;
    if (segloss__bad_smoothing(cfg) || segloss__bad_alpha(cfg)) return SEGLOSS_ERR_PARAM;
    return SEGLOSS_OK;
}

/* The most bytes one buffer can span: 2^57 on 64-bit machines (x86-64 with 5-level paging has
   57-bit virtual addresses, aarch64 at most 52), else PTRDIFF_MAX, the largest object C allows.
   Logits of more bytes are a wrong shape, whatever the buffers: no such buffer exists. */
#define SEGLOSS__MAX_BYTES ((uint64_t)PTRDIFF_MAX >> 57 ? (uint64_t)1 << 57 : (uint64_t)PTRDIFF_MAX)

/* Bytes of the logits (and of a gradient) of a shape segloss__check_input accepted. */
SEGLOSS__PRIVATE uint64_t segloss__logit_bytes(const segloss_input *in)
{
    return (uint64_t)in->n * (uint64_t)in->c * (uint64_t)in->s * sizeof(float);
}

SEGLOSS__PRIVATE segloss_status segloss__check_input(const segloss_input *in)
{
    if (!in) return SEGLOSS_ERR_NULL;
    if ((unsigned)in->label_type > SEGLOSS_TARGET_F32 || (unsigned)in->layout > SEGLOSS_NHWC) return SEGLOSS_ERR_ENUM;
    if (in->n <= 0 || in->c <= 0 || in->s <= 0 || in->c > INT32_MAX) return SEGLOSS_ERR_SHAPE;
    /* n*s labels (int64 at most) and n*c*s floats within SEGLOSS__MAX_BYTES: no product
       overflows, here or later, and no shape claims more memory than can exist */
    if ((uint64_t)in->n > SEGLOSS__MAX_BYTES / sizeof(int64_t) / (uint64_t)in->s ||
        (uint64_t)(in->n * in->s) > SEGLOSS__MAX_BYTES / sizeof(float) / (uint64_t)in->c)
        return SEGLOSS_ERR_SHAPE;
    if (!in->logits || !in->labels) return SEGLOSS_ERR_NULL;
    /* nor logits that would run past the end of the address space from where they start */
    if (segloss__logit_bytes(in) > (uint64_t)(UINTPTR_MAX - (uintptr_t)in->logits)) return SEGLOSS_ERR_SHAPE;
    return SEGLOSS_OK;
}

/* What a configuration needs of C classes: valid class weights and pos_weight, and two or more
   classes for the softmax. The weight map and per-channel targets are checked with the labels. */
SEGLOSS__PRIVATE segloss_status segloss__check_weights(const segloss_config *cfg, int64_t c)
{
    const int sig = cfg->activation == SEGLOSS_SIGMOID;
    int64_t k;
    if (!sig && c == 1) return SEGLOSS_ERR_PARAM;
    if (cfg->class_weights && SEGLOSS__HAS_CE_TERM(cfg->loss_type))
        for (k = 0; k < c; k++)
            if (!segloss__nonneg(cfg->class_weights[k])) return SEGLOSS_ERR_WEIGHTS;
    if (cfg->pos_weight && sig && SEGLOSS__HAS_CE_TERM(cfg->loss_type)) {
        if (SEGLOSS__HAS_GAMMA(cfg->loss_type)) return SEGLOSS_ERR_PARAM; /* torchvision's focal has none */
        for (k = 0; k < c; k++)
            if (!segloss__nonneg(cfg->pos_weight[k])) return SEGLOSS_ERR_WEIGHTS;
    }
    return SEGLOSS_OK;
}
/* ... and of its input: per-channel targets under the softmax only for ce and weighted_ce
   (F.cross_entropy with probability targets) */
SEGLOSS__PRIVATE segloss_status segloss__check_fit(const segloss_config *cfg, const segloss_input *in)
{
    if (SEGLOSS__DENSE(in->label_type) && cfg->activation != SEGLOSS_SIGMOID &&
        cfg->loss_type != SEGLOSS_CE && cfg->loss_type != SEGLOSS_WEIGHTED_CE)
        return SEGLOSS_ERR_PARAM;
    return segloss__check_weights(cfg, in->c);
}

/* grad and the logits overlap (their byte ranges, as the shape gives them, share a byte) without
   being the same buffer. Compared by distance, which cannot wrap: the shape has been checked. */
SEGLOSS__PRIVATE segloss_status segloss__check_alias(const segloss_input *in, const float *grad)
{
    const uintptr_t a = (uintptr_t)in->logits, b = (uintptr_t)grad;
    const uint64_t dist = a < b ? (uint64_t)(b - a) : (uint64_t)(a - b);
    if (grad && grad != in->logits && dist < segloss__logit_bytes(in)) return SEGLOSS_ERR_ALIAS;
    return SEGLOSS_OK;
}

/* ---- labels ------------------------------------------------------------------------------ */

SEGLOSS__PRIVATE int64_t segloss__label(const segloss_input *in, int64_t i)
{
    switch (in->label_type) {
    case SEGLOSS_LABEL_U8: return ((const uint8_t *)in->labels)[i];
    case SEGLOSS_LABEL_I32: return ((const int32_t *)in->labels)[i];
    default: return ((const int64_t *)in->labels)[i];
    }
}

/* First label outside [0, C) that is not ignore_index, as a flat index n*S+s; -1 if none. */
#define SEGLOSS__BAD_LOOP(T)                                                                    \
    do {                                                                                        \
        const T *src = (const T *)in->labels;                                                   \
        for (i = 0; i < total; i++)                                                             \
            if ((uint64_t)(int64_t)src[i] >= (uint64_t)in->c && (int64_t)src[i] != ignore) return i; \
    } while (0)
SEGLOSS__PRIVATE int64_t segloss__bad_label(const segloss_input *in, int64_t ignore)
{
    int64_t i, total = in->n * in->s;
    switch (in->label_type) {
    case SEGLOSS_LABEL_U8: SEGLOSS__BAD_LOOP(uint8_t); break;
    case SEGLOSS_LABEL_I32: SEGLOSS__BAD_LOOP(int32_t); break;
    default: SEGLOSS__BAD_LOOP(int64_t); break;
    }
    return -1;
}

/* The first weight (position) or per-channel target (element) that segloss__scan_general
   rejects, or -1. */
SEGLOSS__PRIVATE int64_t segloss__bad_weight(const segloss_input *in, const float *map)
{
    int64_t i;
    for (i = 0; map && i < in->n * in->s; i++)
        if (!segloss__nonneg(map[i])) return i;
    return -1;
}
/* A per-channel target: in [0, 1] (NaN is not), and 0 or 1 for uint8 masks. */
SEGLOSS__PRIVATE int segloss__target_ok(float v, int u8) { return v >= 0.0f && v <= 1.0f && (!u8 || v == 0.0f || v == 1.0f); }
SEGLOSS__PRIVATE int64_t segloss__bad_target(const segloss_input *in)
{
    const int u8 = in->label_type == SEGLOSS_TARGET_U8;
    int64_t i;
    for (i = 0; SEGLOSS__DENSE(in->label_type) && i < in->n * in->c * in->s; i++) {
        const float v = u8 ? (float)((const uint8_t *)in->labels)[i] : ((const float *)in->labels)[i];
        if (!segloss__target_ok(v, u8)) return i;
    }
    return -1;
}

/* x is neither NaN nor infinite (a NaN compares false) */
SEGLOSS__PRIVATE int segloss__finite(float x) { return fabsf(x) <= FLT_MAX; }

/* First non-finite logit (element index) from `from` on; -1 if none. */
SEGLOSS__PRIVATE int64_t segloss__bad_logit(const segloss_input *in, int64_t from)
{
    int64_t i, total = in->n * in->c * in->s;
    for (i = from; i < total; i++)
        if (!segloss__finite(in->logits[i])) return i;
    return -1;
}

/* ---- errors in words: segloss_error_message --------------------------------------------- */

/* A message being written into buf[size]: appends while there is room, truncating. */
typedef struct segloss__msg {
    char *buf;
    size_t size, len;
} segloss__msg;

#if (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32)
__attribute__((format(printf, 2, 3)))
#endif
SEGLOSS__PRIVATE void segloss__say(segloss__msg *m, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (m->len + 1 >= m->size) return;
    va_start(ap, fmt);
    k = vsnprintf(m->buf + m->len, m->size - m->len, fmt, ap);
    va_end(ap);
    if (k > 0) m->len += (size_t)k < m->size - m->len ? (size_t)k : m->size - m->len - 1;
}

/* in as segloss__check_input judges it, except that logits may be NULL (labels suffice). */
SEGLOSS__PRIVATE int segloss__msg_input_ok(const segloss_input *in)
{
    segloss_input t;
    if (!in) return 0;
    t = *in;
    if (!t.logits) t.logits = (const float *)(const void *)in; /* only tested for NULL */
    return segloss__check_input(&t) == SEGLOSS_OK;
}

/* "C = 4 classes: 0..3" */
SEGLOSS__PRIVATE void segloss__say_classes(segloss__msg *m, int64_t c)
{
    if (c == 1) segloss__say(m, "C = 1 class: 0");
    else segloss__say(m, "C = %lld classes: 0..%lld", (long long)c, (long long)(c - 1));
}

SEGLOSS__PRIVATE void segloss__say_label(segloss__msg *m, const segloss_config *cfg, const segloss_input *in,
                                         const segloss_result *r)
{
    const int64_t ignore = cfg ? cfg->ignore_index : -100;
    int64_t pos = r ? r->bad_position : -1, v;
    segloss_input two;
    if (segloss__msg_input_ok(in) && SEGLOSS__DENSE(in->label_type)) {
        if ((pos = segloss__bad_target(in)) < 0) {
            segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_LABEL));
            return;
        }
        segloss__say(m, "target %g at element %lld is not %s: per-channel targets (SEGLOSS_TARGET_%s) are the "
                        "logits' shape, one per (sample, class, position)",
                     in->label_type == SEGLOSS_TARGET_U8 ? (double)((const uint8_t *)in->labels)[pos]
                                                         : (double)((const float *)in->labels)[pos],
                     (long long)pos, in->label_type == SEGLOSS_TARGET_U8 ? "0 or 1" : "in [0, 1]",
                     in->label_type == SEGLOSS_TARGET_U8 ? "U8, 0 or 1" : "F32, in [0, 1]");
        return;
    }
    if (segloss__msg_input_ok(in) && in->c == 1 && cfg && cfg->activation == SEGLOSS_SIGMOID) {
        two = *in; /* one sigmoid channel: labels 0 and 1 */
        two.c = 2;
        in = &two;
    }
    if (!segloss__msg_input_ok(in)) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_LABEL));
        if (pos >= 0) segloss__say(m, " at position %lld (n*S + s)", (long long)pos);
        return;
    }
    if (pos >= in->n * in->s) pos = -1;
    if (pos >= 0) {
        v = segloss__label(in, pos);
        if ((uint64_t)v < (uint64_t)in->c || (cfg && v == ignore)) pos = -1; /* r is not this call's */
    }
    if (pos < 0 && cfg) pos = segloss__bad_label(in, ignore);
    if (pos < 0) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_LABEL));
        return;
    }
    v = segloss__label(in, pos);
    segloss__say(m, "label %lld at sample %lld, position %lld is not a class (", (long long)v,
                 (long long)(pos / in->s), (long long)(pos % in->s));
    segloss__say_classes(m, in->c);
    if (cfg) segloss__say(m, ") and not ignore_index (%lld): ", (long long)ignore);
    else segloss__say(m, ") nor ignore_index: ");
    if (v >= in->c && !(v == 255 && in->label_type == SEGLOSS_LABEL_U8))
        segloss__say(m, "if %lld marks pixels to ignore, set ignore_index = %lld; if it is a class, c must be at "
                        "least %lld", (long long)v, (long long)v, (long long)v + 1);
    else
        segloss__say(m, "if %lld marks pixels to ignore, set ignore_index = %lld", (long long)v, (long long)v);
}

SEGLOSS__PRIVATE void segloss__say_nonfinite(segloss__msg *m, const segloss_input *in, const segloss_result *r)
{
    int64_t pos = r ? r->bad_position : -1, n, c, s;
    if (!segloss__msg_input_ok(in) || !in->logits) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_NONFINITE));
        if (pos >= 0) segloss__say(m, " at element %lld of the logits", (long long)pos);
        return;
    }
    if (pos < 0 || pos >= in->n * in->c * in->s || segloss__finite(in->logits[pos])) pos = segloss__bad_logit(in, 0);
    if (pos < 0) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_NONFINITE));
        return;
    }
    if (in->layout == SEGLOSS_NHWC) {
        c = pos % in->c;
        s = pos / in->c % in->s;
        n = pos / in->c / in->s;
    } else {
        s = pos % in->s;
        c = pos / in->s % in->c;
        n = pos / in->s / in->c;
    }
    segloss__say(m, "logit %g at sample %lld, class %lld, position %lld (element %lld of the %s logits) is not "
                    "finite (check_finite = 1): it comes from before the loss (a diverging model: lower the "
                    "learning rate; or NaN/inf in the data)",
                 (double)in->logits[pos], (long long)n, (long long)c, (long long)s, (long long)pos,
                 in->layout == SEGLOSS_NHWC ? "NHWC" : "NCHW");
}

/* The parameters of the sigmoid, smoothing and targets: 1 when one of them is the error. */
SEGLOSS__PRIVATE int segloss__say_param_modes(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    const int sig = cfg->activation == SEGLOSS_SIGMOID;
    const float e = cfg->label_smoothing;
    if (!(e >= 0.0f && e <= 1.0f))
        segloss__say(m, "label_smoothing = %g is out of its domain: it must be in [0, 1] (0, the default, is none)", (double)e);
    else if (e > 0.0f && sig)
        segloss__say(m, "label_smoothing = %g applies to the softmax: under the sigmoid give soft targets "
                        "(SEGLOSS_TARGET_F32) instead", (double)e);
    else if (segloss__bad_smoothing(cfg) && !SEGLOSS__HAS_CE_TERM(cfg->loss_type))
        segloss__say(m, "label_smoothing = %g with loss %s: smoothing applies to the cross-entropy term (ce, "
                        "weighted_ce, focal_dice with focal_gamma 0); set label_smoothing = 0", (double)e,
                     segloss_loss_name(cfg->loss_type));
    else if (segloss__bad_smoothing(cfg))
        segloss__say(m, "label_smoothing = %g with focal_gamma = %g: smoothing is defined for the cross entropy "
                        "(PyTorch's); set focal_gamma = 0 or label_smoothing = 0", (double)e, (double)cfg->focal_gamma);
    else if (segloss__bad_alpha(cfg))
        segloss__say(m, "focal_alpha = %g (sigmoid %s) is out of its domain: it must be in [0, 1], or negative for "
                        "none (torchvision's default is 0.25)", (double)cfg->focal_alpha, segloss_loss_name(cfg->loss_type));
    else if (sig && cfg->pos_weight && SEGLOSS__HAS_GAMMA(cfg->loss_type))
        segloss__say(m, "pos_weight does not apply to the sigmoid %s (torchvision's sigmoid_focal_loss has none): "
                        "use focal_alpha, or loss ce with pos_weight", segloss_loss_name(cfg->loss_type));
    else if (!sig && segloss__msg_input_ok(in) && in->c == 1)
        segloss__say(m, "c = 1 under the softmax: one class has p = 1 everywhere, so the loss is constant and its "
                        "gradient 0; for a binary problem with one logit channel set activation = SEGLOSS_SIGMOID "
                        "(activation='sigmoid'), or give two channels");
    else if (!sig && in && SEGLOSS__DENSE(in->label_type) && cfg->loss_type != SEGLOSS_CE &&
             cfg->loss_type != SEGLOSS_WEIGHTED_CE)
        segloss__say(m, "per-channel targets (label_type %s) under the softmax are probability targets of ce and "
                        "weighted_ce only (F.cross_entropy's); for %s give one class index per position, or set "
                        "activation = SEGLOSS_SIGMOID", in->label_type == SEGLOSS_TARGET_U8 ? "SEGLOSS_TARGET_U8" : "SEGLOSS_TARGET_F32",
                     segloss_loss_name(cfg->loss_type));
    else
        return 0;
    return 1;
}

/* The parameters segloss__check_config judges, in its order: name, value, default. */
SEGLOSS__PRIVATE void segloss__say_param(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    const segloss_loss_type t = cfg ? cfg->loss_type : SEGLOSS_CE;
    const char *name = NULL;
    float v = 0.0f, def = 0.0f;
    if (cfg && (t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) && !segloss__nonneg(cfg->focal_gamma))
        name = "focal_gamma", v = cfg->focal_gamma, def = 2.0f;
    else if (cfg && t == SEGLOSS_FOCAL_DICE && !segloss__nonneg(cfg->focal_weight))
        name = "focal_weight", v = cfg->focal_weight, def = 0.5f;
    else if (cfg && t == SEGLOSS_FOCAL_DICE && !segloss__nonneg(cfg->dice_weight))
        name = "dice_weight", v = cfg->dice_weight, def = 0.5f;
    else if (cfg && t == SEGLOSS_FOCAL_DICE && cfg->focal_weight == 0.0f && cfg->dice_weight == 0.0f) {
        segloss__say(m, "focal_weight = 0 and dice_weight = 0 (loss focal_dice): at least one of them must be > 0 "
                        "(the defaults are 0.5 and 0.5)");
        return;
    } else if (cfg && SEGLOSS__HAS_DICE_TERM(t) && !segloss__nonneg(cfg->dice_smooth))
        name = "dice_smooth", v = cfg->dice_smooth, def = 1.0f;
    else if (cfg && t == SEGLOSS_TVERSKY && !segloss__nonneg(cfg->tversky_alpha))
        name = "tversky_alpha", v = cfg->tversky_alpha, def = 0.7f;
    else if (cfg && t == SEGLOSS_TVERSKY && !segloss__nonneg(cfg->tversky_beta))
        name = "tversky_beta", v = cfg->tversky_beta, def = 0.3f;
    if (!name && cfg && segloss__say_param_modes(m, cfg, in)) return;
    if (!name && cfg && cfg->loss_type == SEGLOSS_FOCAL_DICE) {
        segloss__say(m, "focal_dice has no unreduced form (segloss_compute_unreduced): compute focal and dice "
                        "apart, or use segloss_compute");
        return;
    }
    if (!name) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_PARAM));
        return;
    }
    segloss__say(m, "%s = %g (loss %s) is out of its domain: it must be finite and >= 0 (the default is %g)", name,
                 (double)v, segloss_loss_name(t), (double)def);
}

SEGLOSS__PRIVATE void segloss__say_weights(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    int64_t k;
    if (cfg && cfg->class_weights && segloss__msg_input_ok(in))
        for (k = 0; k < in->c; k++)
            if (!segloss__nonneg(cfg->class_weights[k])) {
                segloss__say(m, "class_weights[%lld] = %g is not a weight: class weights must be finite and >= 0 "
                                "(0 leaves the class out of the CE term); class_weights holds C = %lld values",
                             (long long)k, (double)cfg->class_weights[k], (long long)in->c);
                return;
            }
    if (cfg && cfg->pos_weight && cfg->activation == SEGLOSS_SIGMOID && segloss__msg_input_ok(in))
        for (k = 0; k < in->c; k++)
            if (!segloss__nonneg(cfg->pos_weight[k])) {
                segloss__say(m, "pos_weight[%lld] = %g is not a weight: it must be finite and >= 0 (PyTorch's "
                                "pos_weight: negatives / positives); pos_weight holds C = %lld values",
                             (long long)k, (double)cfg->pos_weight[k], (long long)in->c);
                return;
            }
    if (cfg && cfg->weight_map && segloss__msg_input_ok(in) && (k = segloss__bad_weight(in, cfg->weight_map)) >= 0) {
        segloss__say(m, "weight_map[%lld] = %g (sample %lld, position %lld) is not a weight: the weight map's values "
                        "must be finite and >= 0 (0 leaves the position out); it holds n*s = %lld values",
                     (long long)k, (double)cfg->weight_map[k], (long long)(k / in->s), (long long)(k % in->s),
                     (long long)(in->n * in->s));
        return;
    }
    segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_WEIGHTS));
}

SEGLOSS__PRIVATE void segloss__say_shape(segloss__msg *m, const segloss_input *in)
{
    static const char *const fix = "check n (samples), c (classes) and s (positions per sample: every spatial "
                                   "dimension flattened, H*W)";
    if (!in) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_SHAPE));
        return;
    }
    if (in->n <= 0) segloss__say(m, "n = %lld: the batch needs at least 1 sample", (long long)in->n);
    else if (in->c <= 0) segloss__say(m, "c = %lld: at least 1 class is needed", (long long)in->c);
    else if (in->s <= 0)
        segloss__say(m, "s = %lld: a sample needs at least 1 position (s is every spatial dimension flattened, H*W)",
                     (long long)in->s);
    else if (in->c > INT32_MAX) segloss__say(m, "c = %lld: at most %ld classes", (long long)in->c, (long)INT32_MAX);
    else if ((uint64_t)in->n > SEGLOSS__MAX_BYTES / sizeof(int64_t) / (uint64_t)in->s ||
             (uint64_t)(in->n * in->s) > SEGLOSS__MAX_BYTES / sizeof(float) / (uint64_t)in->c) /* as check_input */
        segloss__say(m, "n x c x s = %lld x %lld x %lld = %.3g logits, %.3g bytes: more than any address space "
                        "(%.3g bytes): %s", (long long)in->n, (long long)in->c, (long long)in->s,
                     (double)in->n * (double)in->c * (double)in->s, (double)in->n * (double)in->c * (double)in->s * 4.0,
                     (double)SEGLOSS__MAX_BYTES, fix);
    else if (in->logits)
        segloss__say(m, "n x c x s = %lld x %lld x %lld logits (%llu bytes) from %p would run past the end of the "
                        "address space: %s", (long long)in->n, (long long)in->c, (long long)in->s,
                     (unsigned long long)segloss__logit_bytes(in), (const void *)in->logits, fix);
    else segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_SHAPE));
}

SEGLOSS__PRIVATE void segloss__say_enum(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    if (cfg && (unsigned)cfg->loss_type >= SEGLOSS_LOSS_COUNT)
        segloss__say(m, "loss_type = %d is not a loss: 0..6 are ce, weighted_ce, focal, dice, focal_dice, "
                        "tversky and generalized_dice (segloss_loss_from_name turns a name into one)", (int)cfg->loss_type);
    else if (cfg && (unsigned)cfg->reduction > SEGLOSS_SUM)
        segloss__say(m, "reduction = %d is neither SEGLOSS_MEAN (0) nor SEGLOSS_SUM (1)", (int)cfg->reduction);
    else if (cfg && (unsigned)cfg->activation > SEGLOSS_SIGMOID)
        segloss__say(m, "activation = %d is neither SEGLOSS_SOFTMAX (0) nor SEGLOSS_SIGMOID (1)", (int)cfg->activation);
    else if (in && (unsigned)in->label_type > SEGLOSS_TARGET_F32)
        segloss__say(m, "label_type = %d is not SEGLOSS_LABEL_U8 (0), SEGLOSS_LABEL_I32 (1), SEGLOSS_LABEL_I64 (2), "
                        "SEGLOSS_TARGET_U8 (3) or SEGLOSS_TARGET_F32 (4)", (int)in->label_type);
    else if (in && (unsigned)in->layout > SEGLOSS_NHWC)
        segloss__say(m, "layout = %d is neither SEGLOSS_NCHW (0) nor SEGLOSS_NHWC (1)", (int)in->layout);
    else segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_ENUM));
}

/* grad is not an argument: the message gives the logits' range, and where grad may lie. */
SEGLOSS__PRIVATE void segloss__say_alias(segloss__msg *m, const segloss_input *in)
{
    unsigned long long a, bytes;
    if (!segloss__msg_input_ok(in) || !in->logits) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_ALIAS));
        return;
    }
    a = (unsigned long long)(uintptr_t)in->logits;
    bytes = (unsigned long long)segloss__logit_bytes(in);
    segloss__say(m, "grad overlaps the logits at [0x%llx, 0x%llx) (n x c x s = %lld x %lld x %lld floats, %llu "
                    "bytes): pass grad = logits for in place, or a gradient of %llu bytes that starts at or after "
                    "0x%llx or ends at or before 0x%llx; if grad is a buffer of its own, n*c*s is larger than the "
                    "buffers: check n, c and s",
                 a, a + bytes, (long long)in->n, (long long)in->c, (long long)in->s, bytes, bytes, a + bytes, a);
}

SEGLOSS__PRIVATE void segloss__say_null(segloss__msg *m, const segloss_input *in)
{
    if (in && !in->logits) segloss__say(m, "in->logits is NULL: the logits are required (n*c*s floats)");
    else if (in && !in->labels) segloss__say(m, "in->labels is NULL: the labels are required (n*s of label_type)");
    else
        segloss__say(m, "%s: cfg, in or the result; in the two-phase calls also stats, stats->sum or grad",
                     segloss_status_string(SEGLOSS_ERR_NULL));
}

SEGLOSS__PRIVATE void segloss__say_isa(segloss__msg *m)
{
    int i;
    segloss__say(m, "%s: compiled in:", segloss_status_string(SEGLOSS_ERR_ISA));
    for (i = 0; i < segloss_isa_count(); i++)
        segloss__say(m, "%s %s%s", i ? "," : "", segloss_isa_name(i),
                     segloss_isa_supported(segloss_isa_name(i)) ? "" : " (not on this CPU)");
}

SEGLOSS__API char *segloss_error_message(segloss_status st, const segloss_config *cfg, const segloss_input *in,
                                         const segloss_result *r, char *buf, size_t size)
{
    segloss__msg m;
    if (!buf || !size) return buf;
    m.buf = buf;
    m.size = size;
    m.len = 0;
    buf[0] = '\0';
    switch (st) {
    case SEGLOSS_ERR_NULL: segloss__say_null(&m, in); break;
    case SEGLOSS_ERR_SHAPE: segloss__say_shape(&m, in); break;
    case SEGLOSS_ERR_ENUM: segloss__say_enum(&m, cfg, in); break;
    case SEGLOSS_ERR_PARAM: segloss__say_param(&m, cfg, in); break;
    case SEGLOSS_ERR_WEIGHTS: segloss__say_weights(&m, cfg, in); break;
    case SEGLOSS_ERR_LABEL: segloss__say_label(&m, cfg, in, r); break;
    case SEGLOSS_ERR_NONFINITE: segloss__say_nonfinite(&m, in, r); break;
    case SEGLOSS_ERR_ALIAS: segloss__say_alias(&m, in); break;
    case SEGLOSS_ERR_ISA: segloss__say_isa(&m); break;
    default:
        segloss__say(&m, "%s", segloss_status_string(st));
        if ((unsigned)st > SEGLOSS_ERR_BUILD) segloss__say(&m, " %d", (int)st);
        break;
    }
    return buf;
}

/* ---- statistics layout: per group g, 4 arrays of C doubles: G, L, I, P; after the groups, 3
   doubles: the number of valid positions, the sum of their weights (weight map; else 1 each),
   and that sum for positions with per-channel targets under the softmax (their CE's mean is
   over positions, as PyTorch's with probability targets).
   A group is a sample when per_sample applies to a Dice/Tversky term, else the whole batch.
   G: label counts, each label counted with its position's weight (sigmoid with C = 1: label 1's),
   or per-channel targets' weighted sums. L: the CE-family term's sums per class (of the label's
   class; sigmoid: of each channel; softmax targets: m t_c (-log p_c)). The sigmoid BCE (no Dice term) keeps its positive part
   t softplus(-z) apart, in I, so that pos_weight can scale it after the sums are known.
   With label smoothing, C more doubles after those two: sum_V m (-log p_c) per class. */

#define SEGLOSS__ST_N 0
#define SEGLOSS__ST_L 1
#define SEGLOSS__ST_I 2
#define SEGLOSS__ST_P 3
#define SEGLOSS__ST_TAIL 3 /* valid positions, sum of their weights, and that sum again for
                             softmax per-channel targets (PyTorch's mean over positions) */

/* ---- what a (valid) configuration asks of the passes, worked out once per call ------------- */

typedef struct segloss__plan {
    int ce;          /* a CE-family term: ce, weighted_ce, focal, and focal_dice's focal term  */
    int ce_only;     /* nothing else (ce, weighted_ce, focal): label counts, then one pass     */
    int dice;        /* a Dice or Tversky term                                                 */
    int tversky;
    int per_sample;  /* the Dice/Tversky term per sample: one statistics group per sample      */
    int mean;        /* SEGLOSS_MEAN                                                            */
    int gdl;         /* generalized Dice                                                        */
    int focal;       /* the CE-family term is focal (focal, focal_dice), whatever gamma         */
    int sig;         /* the sigmoid activation                                                  */
    float gamma;     /* focal gamma; 0 for cross entropy                                        */
    float eps;       /* label smoothing                                                         */
    double fw, dw;   /* focal_dice's weights of its two terms; 1 for every other loss           */
} segloss__plan;

SEGLOSS__PRIVATE segloss__plan segloss__plan_for(const segloss_config *cfg)
{
    const segloss_loss_type t = cfg->loss_type;
    segloss__plan p;
    p.ce_only = SEGLOSS__IS_CE_FAMILY(t);
    p.ce = SEGLOSS__HAS_CE_TERM(t);
    p.dice = SEGLOSS__HAS_DICE_TERM(t);
    p.tversky = t == SEGLOSS_TVERSKY;
    p.gdl = t == SEGLOSS_GENERALIZED_DICE;
    p.focal = SEGLOSS__HAS_GAMMA(t);
    p.sig = cfg->activation == SEGLOSS_SIGMOID;
    p.eps = cfg->label_smoothing;
    p.per_sample = cfg->per_sample && p.dice;
    p.mean = cfg->reduction == SEGLOSS_MEAN;
    p.gamma = t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE ? cfg->focal_gamma : 0.0f;
    p.fw = t == SEGLOSS_FOCAL_DICE ? cfg->focal_weight : 1.0;
    p.dw = t == SEGLOSS_FOCAL_DICE ? cfg->dice_weight : 1.0;
    return p;
}

/* Statistics groups for n samples, and the group of a slice's first sample (-1: the batch). */
SEGLOSS__PRIVATE int64_t segloss__groups(const segloss__plan *p, int64_t n) { return p->per_sample ? n : 1; }
/* the doubles after the groups' arrays */
SEGLOSS__PRIVATE int64_t segloss__extra(const segloss__plan *p, int64_t c) { return SEGLOSS__ST_TAIL + (p->eps > 0.0f ? c : 0); }
SEGLOSS__PRIVATE int64_t segloss__group0(const segloss__plan *p, int64_t first) { return p->per_sample ? first : -1; }

SEGLOSS__API int64_t segloss_stats_len(const segloss_config *cfg, int64_t n, int64_t c)
{
    segloss__plan p;
    int64_t g;
    if (segloss__check_config(cfg) != SEGLOSS_OK || n <= 0 || c <= 0 || c > INT32_MAX) return 0;
    p = segloss__plan_for(cfg);
    g = segloss__groups(&p, n);
    if (g > INT64_MAX / 8 / c) return 0;
    return g * 4 * c + segloss__extra(&p, c);
}

/* ---- the block runner: feeds a kernel one block of one sample at a time ------------------- */

typedef struct segloss__job {
    const segloss_input *in;
    int64_t ignore;
    segloss__kernel_fn fn;
    int ce;               /* the loss has a CE-family term                                     */
    float gamma;
    double *stats;        /* stats kernel: the group's arrays are at stats + g * 4C           */
    int64_t group0;       /* group of the slice's first sample (per-sample groups), or -1     */
    float *grad;          /* grad kernel                                                      */
    const float *wcoef;   /* grad: CE-family coefficient per class                            */
    const float *A, *B;   /* grad: Dice/Tversky coefficients, G x C (NULL: none)              */
    double *loss;         /* grad: add the weighted CE-family loss here (NULL: not wanted)    */
    int stream;           /* grad: non-temporal stores (NCHW planes; NHWC rows, see run)       */
    int sig;              /* the sigmoid kernel: its CE coefficients sk (4C), focal alpha      */
    int gamma_term;       /* sigmoid: the CE-family term is the focal term (else BCE)         */
    const float *sk;
    float alpha;
    int dice;             /* sigmoid stats: a Dice-family term (I and P wanted)               */
    float *each;          /* grad pass: the unreduced terms (NULL: not wanted)                 */
    const float *map;     /* the weight map (NULL: none)                                      */
    float each_scale;     /* softmax unreduced terms: the weights' normalisation, undone       */
    float eps;            /* label smoothing: grad with sw (C floats), stats into stats_s      */
    const float *sw;
    double *stats_s;
} segloss__job;

/* Positions per block for C classes: SEGLOSS__BLOCK, fewer when C > 16 so that a block's
   class planes fit SEGLOSS__TBUF floats (a multiple of 16 while that leaves 16 or more). */
SEGLOSS__PRIVATE int segloss__block_len(int64_t C)
{
    return C <= SEGLOSS__TBUF / SEGLOSS__BLOCK ? SEGLOSS__BLOCK
         : C <= SEGLOSS__TBUF / SEGLOSS__LANES ? (int)(SEGLOSS__TBUF / C) & ~(SEGLOSS__LANES - 1)
         : C <= SEGLOSS__TBUF ? (int)(SEGLOSS__TBUF / C) : 1;
}

/* Whether the logits (and as many gradient bytes) are at least SEGLOSS_STREAM_BYTES: past the
   caches, where the gradient is streamed and many planes are prefetched. */
SEGLOSS__PRIVATE int segloss__past_caches(const segloss_input *in)
{
    return (uint64_t)in->n * (uint64_t)in->c * (uint64_t)in->s * sizeof(float) >= (uint64_t)SEGLOSS_STREAM_BYTES;
}

/* Whether NCHW class planes S floats apart crowd the cache sets: with 64-byte lines and 4 KiB
   per way (64 sets: x86 and most ARM L1s), more than 4 of the C classes' lines of a position in
   one set. S a multiple of 1024 (every power-of-two image from 32x32 up) puts all C in one set:
   past its ways each class's line is evicted before its next use (the second read of phase 1,
   the next store of a gradient written position by position). */
SEGLOSS__PRIVATE int segloss__planes_alias(int64_t S, int C)
{
    int count[64] = {0}, c, worst = 0;
    for (c = 0; c < C; c++) {
        const int set = (int)((((uint64_t)c * (uint64_t)S) >> 4) & 63); /* (c * S * 4 / 64) mod 64 */
        if (++count[set] > worst) worst = count[set];
    }
    return worst > 4;
}

/* ---- chunks: the unit of work of every thread ----------------------------------------------
   A chunk is a run of whole blocks of one sample: SEGLOSS__CHUNK positions when C <= 16, else
   enough blocks for 2^18 logits (at least 256 positions), by the shape alone. Each chunk sums
   into partial buffers of its own (starting from 0), and the partials are added into the
   statistics in chunk order (sample by sample, position order within one): the same bits for
   any number of threads, any pool and any order of running. */
#define SEGLOSS__CHUNK 16384
SEGLOSS__PRIVATE int64_t segloss__chunk_len(int64_t C)
{
    const int64_t B = segloss__block_len(C);
    int64_t want = C <= 16 ? SEGLOSS__CHUNK : (int64_t)(1 << 18) / C;
    if (want < 256) want = 256;
    return (want + B - 1) / B * B;
}

typedef struct segloss__chunking {
    int64_t len, per_sample, count; /* positions per chunk, chunks per sample, chunks        */
    int64_t samples;                /* > 1: a chunk is this many whole samples (small S)     */
} segloss__chunking;

/* Chunks of len positions; with multi, samples shorter than half a chunk are grouped, whole,
   into chunks of about len positions (allowed where the chunk's sums are one group's). */
SEGLOSS__PRIVATE segloss__chunking segloss__chunks(const segloss_input *in, int64_t len, int multi)
{
    segloss__chunking k;
    k.len = len;
    k.samples = multi && in->s <= len / 2 ? len / in->s : 1;
    k.per_sample = (in->s + len - 1) / len;
    k.count = k.samples > 1 ? (in->n + k.samples - 1) / k.samples : k.per_sample * in->n;
    return k;
}

/* Chunk i: samples [*n0, *n1), positions [*s0, *s1) of each. */
SEGLOSS__PRIVATE void segloss__chunk_at(const segloss__chunking *k, const segloss_input *in, int64_t i, int64_t *n0,
                                        int64_t *n1, int64_t *s0, int64_t *s1)
{
    if (k->samples > 1) {
        *n0 = i * k->samples;
        *n1 = *n0 + k->samples < in->n ? *n0 + k->samples : in->n;
        *s0 = 0;
        *s1 = in->s;
    } else {
        *n0 = i / k->per_sample;
        *n1 = *n0 + 1;
        *s0 = i % k->per_sample * k->len;
        *s1 = *s0 + k->len < in->s ? *s0 + k->len : in->s;
    }
}

/* Per-channel targets of positions [pos, pos + np) (pos = n*S + s) as class planes of stride B
   in tt, pointed to by *t (NCHW float32 planes are used in place). rows: a scratch block. */
SEGLOSS__PRIVATE const float *segloss__target_planes(const segloss_input *in, int64_t n, int64_t s, int np, int B,
                                                     float *tt, float *rows, int64_t *ts)
{
    const int64_t C = in->c, S = in->s, pos = n * S + s;
    const int u8 = in->label_type == SEGLOSS_TARGET_U8;
    int64_t c, i;
    if (in->layout == SEGLOSS_NCHW) {
        const int64_t base = n * C * S + s;
        if (!u8) {
            *ts = S;
            return (const float *)in->labels + base;
        }
        for (c = 0; c < C; c++)
            for (i = 0; i < np; i++) tt[c * B + i] = (float)((const uint8_t *)in->labels)[base + c * S + i];
    } else {
        const float *src = (const float *)in->labels + pos * C;
        if (u8) {
            for (i = 0; i < np * C; i++) rows[i] = (float)((const uint8_t *)in->labels)[pos * C + i];
            src = rows;
        }
        segloss__table()->transpose(src, tt, B, np, (int)C, SEGLOSS__TO_PLANES);
    }
    *ts = B;
    return tt;
}

/* Run j's kernel over positions [s_begin, s_end) of sample n (s_begin a multiple of the block
   length), summing into sums (L, I, P: 3C doubles) and *loss. */
SEGLOSS__PRIVATE void segloss__run_range(const segloss__job *j, int64_t n, int64_t s_begin, int64_t s_end,
                                         double *sums, double *loss)
{
    const segloss_input *in = j->in;
    const int C = (int)in->c;
    const int64_t S = in->s;
    const int nhwc = in->layout == SEGLOSS_NHWC;
    const int dense = SEGLOSS__DENSE(in->label_type);
    /* A block's class planes fit the stack buffers (SEGLOSS__TBUF floats): NHWC blocks are
       transposed into them, and the kernels keep their exponentials there. Beyond
       SEGLOSS__TBUF classes one position is one block; in NHWC it is read in place: its classes
       are contiguous, so they are already a class-planar block of one position (stride 1). */
    const int direct = nhwc && C > SEGLOSS__TBUF;
    /* NHWC rows of 2 or 4 classes fill whole lines in order: the transposes stream them */
    const int rows_nt = C == 2 || C == 4;
    const int B = segloss__block_len(C);
    const segloss__isa_table *t = segloss__table();
    float zt[SEGLOSS__TBUF], gt[SEGLOSS__TBUF];
    float tt[SEGLOSS__TBUF]; /* per-channel targets as class planes (uint8 rows go through gt) */
    int32_t y[SEGLOSS__BLOCK];
    segloss__args a;
    /* More than 16 classes (blocks shorter than SEGLOSS__BLOCK) of NCHW logits past the caches:
       a block reads a short run of each of C planes, more streams than the hardware
       prefetchers follow, so phase 1 prefetches the next block's lines itself. */
    const int prefetch = !nhwc && B < SEGLOSS__BLOCK && segloss__past_caches(in);
    const int64_t g = j->group0 < 0 ? 0 : j->group0 + n;
    int64_t s0;
    memset(&a, 0, sizeof a);
    a.c = C;
    a.ce = j->ce;
    a.gamma = j->gamma;
    a.gamma_int = j->gamma >= 1.0f && j->gamma <= 16.0f && j->gamma == floorf(j->gamma) ? (int)j->gamma : 0;
    a.y = y;
    a.w = j->wcoef;
    a.loss = loss;
    a.stream = j->stream && !nhwc;
    a.alias = !nhwc && segloss__planes_alias(S, C);
    a.sk = j->sk;
    a.alpha = j->alpha;
    a.focal = j->sig && j->gamma_term;
    a.dice = j->dice;
    a.each_scale = j->each_scale;
    a.eps = j->eps;
    if (j->sw) { /* sw[c] = -(eps / C) w_c: the normalised weights' sum back from it */
        int c;
        a.sw = j->sw;
        a.eps_c = j->eps / (float)C;
        for (c = 0; c < C; c++) a.eps_sum += j->wcoef[c];
        a.eps_w = a.eps_c * a.eps_sum;
    }
    if (sums && j->stats_s) a.sum_s = sums + 3 * C;
    if (sums) {
        a.sum_l = sums;
        a.sum_i = sums + C;
        a.sum_p = sums + 2 * C;
        a.sum_lp = sums + C; /* the sigmoid BCE's positive part, where no Dice term wants I */
    }
    a.A = j->A ? j->A + g * C : NULL;
    a.B = j->B ? j->B + g * C : NULL;
    for (s0 = s_begin; s0 < s_end; s0 += B) {
        const int np = (int)(s_end - s0 < B ? s_end - s0 : B);
        const int64_t pos = n * S + s0;
        if (!dense) {
            t->labels(in, j->ignore, pos, np, y, NULL, 0, 0); /* checked by the caller's scan */
        } else {
            int i;
            for (i = 0; i < SEGLOSS__BLOCK; i++) y[i] = i < np ? 0 : -1;
            a.t = segloss__target_planes(in, n, s0, np, B, tt, gt, &a.ts);
        }
        a.m = j->map ? j->map + pos : NULL;
        a.npos = np;
        a.prefetch = prefetch && s0 + 2 * B <= S ? B : 0; /* (within the plane) */
        if (!nhwc) {
            a.z = in->logits + n * C * S + s0;
            a.g = j->grad ? j->grad + n * C * S + s0 : NULL;
            a.zs = a.gs = S;
            a.each = j->each ? j->each + n * C * S + s0 : NULL;
            a.es = S;
        } else if (direct) {
            a.z = in->logits + pos * C;
            a.g = j->grad ? j->grad + pos * C : NULL;
            a.zs = a.gs = 1;
            a.each = j->each ? j->each + pos * C : NULL;
            a.es = 1;
        } else {
            t->transpose(in->logits + pos * C, zt, B, np, C, SEGLOSS__TO_PLANES);
            a.z = zt;
            a.g = j->grad ? gt : NULL;
            a.zs = a.gs = B;
            a.each = j->each ? zt : NULL; /* the sigmoid's terms over its logits: each read first */
            a.es = B;
        }
        if (!j->sig && j->each) a.each = j->each + pos; /* softmax: one term per position */
        j->fn(&a);
        if (nhwc && !direct && j->each && j->sig) t->transpose(zt, j->each + pos * C, B, np, C, SEGLOSS__TO_ROWS);
        if (nhwc && !direct && j->grad) {
            if (j->stream && rows_nt && !((uintptr_t)(j->grad + pos * C) & 15)) {
                t->transpose(gt, j->grad + pos * C, B, np, C, SEGLOSS__TO_ROWS_NT);
            } else if (j->stream) { /* rows in zt, free again, then around the caches */
                t->transpose(gt, zt, B, np, C, SEGLOSS__TO_ROWS);
                segloss__stream_copy(j->grad + pos * C, zt, (int64_t)np * C);
            } else {
                t->transpose(gt, j->grad + pos * C, B, np, C, SEGLOSS__TO_ROWS);
            }
        }
    }
    /* non-temporal stores are ordered by their own thread's fence, before the pool's lock
       hands the chunk back */
    if (j->stream) segloss__sfence();
}

typedef struct segloss__run_ctx {
    const segloss__job *j;
    segloss__chunking k;
    double *part;  /* per chunk: width doubles (3C sums, then the loss when wanted)           */
    int64_t width;
} segloss__run_ctx;

SEGLOSS__PRIVATE void segloss__run_task(void *ctx, int64_t i)
{
    const segloss__run_ctx *r = (const segloss__run_ctx *)ctx;
    double *part = r->part ? r->part + i * r->width : NULL;
    const int64_t C = r->j->in->c;
    int64_t n, n0, n1, s0, s1;
    segloss__chunk_at(&r->k, r->j->in, i, &n0, &n1, &s0, &s1);
    for (n = n0; n < n1; n++)
        segloss__run_range(r->j, n, s0, s1, r->j->stats ? part : NULL,
                           r->j->loss ? part + (r->j->stats ? (r->j->stats_s ? 4 : 3) * C : 0) : NULL);
}

/* Run j over every chunk (threads: threads.h), then add the chunks' sums into j->stats and
   j->loss in chunk order. SEGLOSS_ERR_NOMEM when the partial sums find no memory (nothing is
   written then). */
SEGLOSS__PRIVATE segloss_status segloss__run(const segloss__job *j)
{
    const segloss_input *in = j->in;
    const int64_t C = in->c;
    segloss__run_ctx r;
    int64_t i, c;
    r.j = j;
    /* whole samples per chunk only where a chunk's sums belong to one group */
    r.k = segloss__chunks(in, segloss__chunk_len(C), !(j->stats && j->group0 >= 0));
    r.width = (j->stats ? (j->stats_s ? 4 : 3) * C : 0) + (j->loss ? 1 : 0);
    r.part = NULL;
    if (r.width) {
        const size_t bytes = (size_t)(r.k.count * r.width) * sizeof(double);
        if (!(r.part = (double *)SEGLOSS_MALLOC(bytes))) return SEGLOSS_ERR_NOMEM;
        memset(r.part, 0, bytes);
    }
    segloss__parallel_for(segloss__run_task, &r, r.k.count, in->n * in->s);
    for (i = 0; i < r.k.count && r.width; i++) {
        const double *part = r.part + i * r.width;
        if (j->stats) {
            const int64_t g = j->group0 < 0 ? 0 : j->group0 + i / r.k.per_sample;
            double *st = j->stats + g * 4 * C;
            for (c = 0; c < C; c++) {
                st[SEGLOSS__ST_L * C + c] += part[c];
                st[SEGLOSS__ST_I * C + c] += part[C + c];
                st[SEGLOSS__ST_P * C + c] += part[2 * C + c];
            }
        }
        if (j->stats_s)
            for (c = 0; c < C; c++) j->stats_s[c] += part[3 * C + c];
        if (j->loss) *j->loss += part[r.width - 1];
    }
    SEGLOSS_FREE(r.part);
    return SEGLOSS_OK;
}

/* ---- label scan: validation and counts, in chunks of whole blocks -------------------------- */

/* Count (or only check) the labels of positions [s_begin, s_end) of sample n into cnt (C
   doubles with classes, else 1: the labels not ignored). Returns 1 on a bad label. The kernel
   counts few classes; up to SEGLOSS__HIST, four interleaved integer histograms do: one counter
   per class would make every increment wait for the previous one. */
SEGLOSS__PRIVATE int segloss__scan_range(const segloss_input *in, int64_t ignore, int64_t n, int64_t s_begin,
                                         int64_t s_end, double *cnt, int classes)
{
    const int64_t C = in->c;
    const segloss__isa_table *t = segloss__table();
    const int vcount = !classes || C <= SEGLOSS__VCOUNT;
    uint32_t hist[4][SEGLOSS__HIST];
    int64_t vc[SEGLOSS__VCOUNT] = {0}, s;
    int k, c;
    if (cnt && !vcount && C <= SEGLOSS__HIST) memset(hist, 0, sizeof hist); /* each flush below clears it again */
    for (s = s_begin; s < s_end; s += SEGLOSS__BLOCK) {
        int32_t y[SEGLOSS__BLOCK];
        const int len = (int)(s_end - s < SEGLOSS__BLOCK ? s_end - s : SEGLOSS__BLOCK);
        int i;
        if (t->labels(in, ignore, n * in->s + s, len, y, cnt && vcount ? vc : NULL, classes, 1)) return 1;
        if (!cnt || vcount) continue;
        if (C <= SEGLOSS__HIST) {
            for (i = 0; i < len; i++) hist[i & 3][y[i] & (SEGLOSS__HIST - 1)] += y[i] >= 0;
            if (((s - s_begin) / SEGLOSS__BLOCK) % (1 << 20) == (1 << 20) - 1 || s + len == s_end) { /* no overflow */
                for (k = 0; k < 4; k++)
                    for (c = 0; c < C; c++) cnt[c] += hist[k][c];
                memset(hist, 0, sizeof hist);
            }
        } else {
            for (i = 0; i < len; i++)
                if (y[i] >= 0) cnt[y[i]] += 1.0;
        }
    }
    for (c = 0; cnt && vcount && c < (classes ? C : 1); c++) cnt[c] += (double)vc[c];
    return 0;
}

/* The scan with a weight map, per-channel targets, or under the sigmoid: validates the labels (sigmoid with C = 1:
   0, 1 or ignore_index), the weight map's weights (finite, >= 0) and per-channel targets (0/1, or in
   [0, 1]), and adds G (C doubles: each label's class, or each channel's target, times its
   position's weight), then the count of valid positions, the sum of their weights, and that
   sum again where per-channel targets meet the softmax. Returns
   0, or which check failed: 1 a label, 2 a weight, 3 a target. */
SEGLOSS__PRIVATE int segloss__scan_general(const segloss_input *in, int64_t ignore, int sig, const float *map, int64_t n,
                                           int64_t s_begin, int64_t s_end, double *cnt)
{
    const int64_t C = in->c, S = in->s;
    const int dense = SEGLOSS__DENSE(in->label_type), u8 = in->label_type == SEGLOSS_TARGET_U8;
    const int one = sig && C == 1 && !dense; /* one channel of 0/1 labels */
    /* weighted sums in four interleaved partials (position i into i & 3), added in a fixed
       order after each block: one running sum per class would make every add wait for the
       one before (most positions are one class) */
    const int split = !dense && C <= SEGLOSS__HIST;
    double part[4][SEGLOSS__HIST], msum[4];
    segloss_input lin = *in;
    int64_t s, c;
    if (one) lin.c = 2;
    for (s = s_begin; s < s_end; s += SEGLOSS__BLOCK) {
        int32_t y[SEGLOSS__BLOCK];
        const int len = (int)(s_end - s < SEGLOSS__BLOCK ? s_end - s : SEGLOSS__BLOCK);
        const int64_t pos = n * S + s;
        int i, k, bad = 0, valid = 0;
        if (!dense && segloss__table()->labels(&lin, ignore, pos, len, y, NULL, 0, 1)) return 1;
        for (i = 0; map && i < len; i++) bad |= !segloss__nonneg(map[pos + i]); /* every position, ignored too */
        if (bad) return 2;
        memset(msum, 0, sizeof msum);
        if (split) memset(part, 0, sizeof part);
        for (i = 0; i < len; i++) {
            const double m = map ? (double)map[pos + i] : 1.0;
            if (!dense) {
                if (y[i] < 0) continue;
                if (one) { if (y[i] == 1) part[i & 3][0] += m; }
                else if (split) part[i & 3][y[i]] += m;
                else cnt[y[i]] += m;
            } else {
                for (c = 0; c < C; c++) {
                    const int64_t e = in->layout == SEGLOSS_NCHW ? (n * C + c) * S + s + i : (pos + i) * C + c;
                    const float v = u8 ? (float)((const uint8_t *)in->labels)[e] : ((const float *)in->labels)[e];
                    if (!segloss__target_ok(v, u8)) return 3;
                    cnt[c] = fma(m, v, cnt[c]); /* explicit: contraction may differ between machines */
                }
            }
            valid++;
            msum[i & 3] += m;
        }
        for (k = 0; k < 4; k++) {
            for (c = 0; split && c < C; c++) cnt[c] += part[k][c];
            cnt[C + 1] += msum[k];
            if (dense && !sig) cnt[C + 2] += msum[k];
        }
        cnt[C] += (double)valid;
    }
    return 0;
}

typedef struct segloss__scan_ctx {
    const segloss_input *in;
    int64_t ignore;
    segloss__chunking k;
    double *part;          /* per chunk: the bad flag, then the counts (width - 1)             */
    int64_t width;
    int classes;
    int general;           /* segloss__scan_general (a weight map, or the sigmoid)            */
    int sig;
    const float *map;
} segloss__scan_ctx;

SEGLOSS__PRIVATE void segloss__scan_task(void *ctx, int64_t i)
{
    const segloss__scan_ctx *r = (const segloss__scan_ctx *)ctx;
    double *part = r->part + i * r->width;
    int64_t n, n0, n1, s0, s1;
    segloss__chunk_at(&r->k, r->in, i, &n0, &n1, &s0, &s1);
    for (n = n0; n < n1 && part[0] == 0.0; n++)
        part[0] = r->general ? segloss__scan_general(r->in, r->ignore, r->sig, r->map, n, s0, s1, part + 1)
                             : segloss__scan_range(r->in, r->ignore, n, s0, s1, r->width > 1 ? part + 1 : NULL, r->classes);
}

/* Validate every label of a slice with the vector kernel and, with st, add the per-class
   counts to each group's count array (classes), or only the count of labels not ignored, in
   class 0's slot (!classes: all that a CE-family loss without class weights needs), and into
   tail (when not NULL) the count of valid positions and the sum of their weights. With a
   weight map or the sigmoid, segloss__scan_general does it (G as the layout describes). On a
   bad label, weight or target, *bad = its flat position and the status says which. The
   counts are integers below 2^53: exact in any order; weighted sums are added in chunk order. */
SEGLOSS__PRIVATE segloss_status segloss__scan_labels(const segloss_input *in, int64_t ignore, int sig, const float *map,
                                                     int64_t group0, double *st, double *tail, int classes, int64_t *bad)
{
    const int64_t C = in->c;
    const int general = sig || map != NULL || SEGLOSS__DENSE(in->label_type);
    const int64_t per = general ? C + 3 : st || tail ? (classes || !st ? C : 1) : 0;
    /* a chunk's counts cost no more than an eighth of its labels' work */
    const int64_t want = 8 * per > (1 << 16) ? 8 * per : (1 << 16);
    segloss__scan_ctx r;
    int64_t i, c;
    r.in = in;
    r.ignore = ignore;
    r.k = segloss__chunks(in, (want + SEGLOSS__BLOCK - 1) / SEGLOSS__BLOCK * SEGLOSS__BLOCK, !st || group0 < 0);
    r.width = 1 + per;
    r.classes = general || classes || !st;
    r.general = general;
    r.sig = sig;
    r.map = map;
    if (!(r.part = (double *)SEGLOSS_MALLOC((size_t)(r.k.count * r.width) * sizeof(double)))) return SEGLOSS_ERR_NOMEM;
    memset(r.part, 0, (size_t)(r.k.count * r.width) * sizeof(double));
    segloss__parallel_for(segloss__scan_task, &r, r.k.count, in->n * in->s);
    for (i = 0; i < r.k.count; i++)
        if (r.part[i * r.width] != 0.0) {
            const int what = (int)r.part[i * r.width];
            SEGLOSS_FREE(r.part);
            if (what == 2) { *bad = segloss__bad_weight(in, map); return SEGLOSS_ERR_WEIGHTS; }
            if (what == 3) { *bad = segloss__bad_target(in); return SEGLOSS_ERR_LABEL; }
            if (sig && C == 1) { /* labels 0 and 1 */
                segloss_input two = *in;
                two.c = 2;
                *bad = segloss__bad_label(&two, ignore);
            } else {
                *bad = segloss__bad_label(in, ignore);
            }
            return SEGLOSS_ERR_LABEL;
        }
    for (i = 0; i < r.k.count && per; i++) {
        const double *part = r.part + i * r.width + 1;
        const int64_t g = group0 < 0 ? 0 : group0 + i / r.k.per_sample;
        const int64_t nc = general || r.classes ? C : 1;
        double valid = 0.0;
        if (st)
            for (c = 0; c < nc; c++) st[g * 4 * C + c] += part[c];
        if (!tail) continue;
        if (general) {
            tail[0] += part[C];
            tail[1] += part[C + 1];
            tail[2] += part[C + 2];
        } else {
            for (c = 0; c < nc; c++) valid += part[c];
            tail[0] += valid;
            tail[1] += valid;
        }
    }
    SEGLOSS_FREE(r.part);
    return SEGLOSS_OK;
}

/* ---- check_finite: the first non-finite logit, on the threads ------------------------------ */

#define SEGLOSS__FINITE_CHUNK ((int64_t)1 << 18) /* logits per chunk */
typedef struct segloss__finite_ctx {
    const float *z;
    int64_t total;
    unsigned char *flag; /* per chunk: a non-finite logit in it */
} segloss__finite_ctx;

SEGLOSS__PRIVATE void segloss__finite_task(void *ctx, int64_t i)
{
    const segloss__finite_ctx *r = (const segloss__finite_ctx *)ctx;
    const int64_t b = i * SEGLOSS__FINITE_CHUNK;
    const int64_t e = b + SEGLOSS__FINITE_CHUNK < r->total ? b + SEGLOSS__FINITE_CHUNK : r->total;
    int64_t k;
    unsigned char any = 0;
    for (k = b; k < e; k++) any |= !segloss__finite(r->z[k]);
    r->flag[i] = any;
}

/* segloss__bad_logit's answer (the first non-finite logit, or -1): chunks flag themselves on
   the threads, then the first flagged chunk is searched. Without memory for the flags: serial. */
SEGLOSS__PRIVATE int64_t segloss__bad_logit_threads(const segloss_input *in)
{
    segloss__finite_ctx r;
    int64_t count, i;
    r.z = in->logits;
    r.total = in->n * in->c * in->s;
    count = (r.total + SEGLOSS__FINITE_CHUNK - 1) / SEGLOSS__FINITE_CHUNK;
    if (count < 2 || !(r.flag = (unsigned char *)SEGLOSS_MALLOC((size_t)count))) return segloss__bad_logit(in, 0);
    segloss__parallel_for(segloss__finite_task, &r, count, in->n * in->s);
    for (i = 0; i < count && !r.flag[i]; i++) {}
    SEGLOSS_FREE(r.flag);
    return i == count ? -1 : segloss__bad_logit(in, i * SEGLOSS__FINITE_CHUNK);
}

/* ---- phase 1: accumulate ------------------------------------------------------------------ */

/* What segloss__accumulate sums. COUNTS: the labels only, per class only where class weights
   need it (what the CE family needs before a fused backward). STATS: every statistic.
   STATS_NO_CE: all but the CE-family term's sums, which a fused backward adds up instead
   (focal_dice: its gradient pass computes the focal log anyway). */
enum { SEGLOSS__COUNTS, SEGLOSS__STATS, SEGLOSS__STATS_NO_CE, SEGLOSS__LABELS /* COUNTS, every class */ };

/* Validate a slice, then add its statistics into st (groups from group0, or group 0) and
   tail (the layout's two doubles after the groups). */
SEGLOSS__PRIVATE segloss_status segloss__accumulate(const segloss_config *cfg, const segloss__plan *p,
                                                    const segloss_input *in, int64_t group0, double *st, double *tail,
                                                    int what, int64_t *bad)
{
    const int classes = what != SEGLOSS__COUNTS || cfg->class_weights || cfg->use_class_weighting;
    if (what == SEGLOSS__LABELS) what = SEGLOSS__COUNTS;
    segloss_status status = segloss__scan_labels(in, cfg->ignore_index, p->sig, cfg->weight_map, group0, st, tail, classes, bad);
    if (status != SEGLOSS_OK) return status;
    if (cfg->check_finite && (*bad = segloss__bad_logit_threads(in)) >= 0) return SEGLOSS_ERR_NONFINITE;
    if (what != SEGLOSS__COUNTS) {
        segloss__job j;
        memset(&j, 0, sizeof j);
        j.in = in;
        j.ignore = cfg->ignore_index;
        j.fn = p->sig ? segloss__table()->sigmoid
             : SEGLOSS__DENSE(in->label_type) ? segloss__table()->soft_targets : segloss__table()->stats;
        j.eps = p->eps;
        j.ce = what == SEGLOSS__STATS && p->ce;
        j.gamma = p->gamma;
        j.stats = st;
        j.group0 = group0;
        j.sig = p->sig;
        j.gamma_term = p->focal;
        j.alpha = cfg->focal_alpha;
        j.dice = p->dice;
        j.map = cfg->weight_map;
        if (j.ce && p->eps > 0.0f && !SEGLOSS__DENSE(in->label_type)) j.stats_s = tail + SEGLOSS__ST_TAIL;
        return segloss__run(&j);
    }
    return SEGLOSS_OK;
}

/* ---- phase 2: finish ------------------------------------------------------------------------
   Products that meet a sum are explicit fma(): a compiler that contracts a*b+c on one
   machine and not on another would otherwise break bit-identical results across machines.
   From summed statistics: the loss, and the gradient coefficients
     wcoef[c]   softmax CE-family term: dL/dz_k += wcoef[y] * ff * (p_k - [k = y])
     sk[4C]     sigmoid CE-family term (sigmoid_kernels.h): per class the coefficients of the
                negative and positive parts in the gradient and loss, then in the unreduced terms
     A, B[g,c]  Dice family:            dL/dp_c(i) = A[g,c] + B[g,c] * g_c(i)
   and with each, the Dice family's unreduced terms. */

typedef struct segloss__terms {
    double loss, ce, dice;
    int64_t valid;
} segloss__terms;

typedef struct segloss__coefs {
    float *wcoef, *sk, *A, *B; /* each NULL: not wanted (A and B: no Dice-family term)        */
    float *each;               /* the Dice family's unreduced terms (NULL: not wanted)         */
    float each_scale;          /* the softmax CE family's sum_V m w[y] (mean), or 1            */
} segloss__coefs;

/* The softmax CE-family term and wcoef. total: the sum of the valid positions' weights. */
SEGLOSS__PRIVATE double segloss__finish_softmax_ce(const segloss_config *cfg, const segloss__plan *p, const double *st,
                                                   int64_t groups, int64_t C, double total, float *wcoef, float *scale,
                                                   float *sw)
{
    double wsum = 0.0, num = 0.0;
    int64_t g, c;
    const double *smooth = st + groups * 4 * C + SEGLOSS__ST_TAIL; /* with eps > 0 */
    const double soft = st[groups * 4 * C + 2]; /* per-channel targets: sum_V m */
    const double eps = soft > 0.0 ? 0.0 : p->eps; /* (smoothing is in their L already) */
    for (c = 0; c < C; c++) {
        double nc = 0.0, lc = 0.0, w = 1.0;
        for (g = 0; g < groups; g++) {
            nc += st[(g * 4 + SEGLOSS__ST_N) * C + c];
            lc += st[(g * 4 + SEGLOSS__ST_L) * C + c];
        }
        if (eps > 0.0) lc = fma(1.0 - eps, lc, eps / (double)C * smooth[c]);
        if (cfg->class_weights) w = cfg->class_weights[c];
        else if (cfg->use_class_weighting) w = nc > 0.0 ? total / nc : 0.0;
        if (wcoef) wcoef[c] = (float)w; /* scaled below */
        wsum = fma(w, nc, wsum);
        num = fma(w, lc, num);
    }
    if (soft > 0.0) wsum = soft; /* F.cross_entropy's mean with probability targets: over positions */
    if (wcoef)
        for (c = 0; c < C; c++)
            wcoef[c] = (float)(p->mean ? (wsum > 0.0 ? p->fw * wcoef[c] / wsum : 0.0) : p->fw * wcoef[c]);
    if (scale) *scale = (float)(p->mean ? wsum / p->fw : 1.0 / p->fw);
    if (sw && eps > 0.0)
        for (c = 0; c < C; c++) sw[c] = (float)(-eps / (double)C * wcoef[c]);
    return p->mean ? (wsum > 0.0 ? num / wsum : 0.0) : num;
}

/* The sigmoid CE-family term and sk. total: the sum of the valid positions' weights; the mean
   is over C of every valid position's elements. */
SEGLOSS__PRIVATE double segloss__finish_sigmoid_ce(const segloss_config *cfg, const segloss__plan *p, const double *st,
                                                   int64_t groups, int64_t C, double total, float *sk)
{
    const double norm = p->mean ? (total > 0.0 ? 1.0 / ((double)C * total) : 0.0) : 1.0;
    double num = 0.0;
    int64_t g, c;
    for (c = 0; c < C; c++) {
        double G = 0.0, ln = 0.0, lp = 0.0, pw = 1.0;
        const double w = cfg->class_weights ? cfg->class_weights[c] : 1.0;
        for (g = 0; g < groups; g++) {
            G += st[(g * 4 + SEGLOSS__ST_N) * C + c];
            ln += st[(g * 4 + SEGLOSS__ST_L) * C + c];
            if (!p->focal) lp += st[(g * 4 + SEGLOSS__ST_I) * C + c];
        }
        if (!p->focal) {
            if (cfg->pos_weight) pw = cfg->pos_weight[c];
            else if (cfg->use_class_weighting) pw = G > 0.0 ? (total - G) / G : 1.0;
        }
        num = fma(w, fma(pw, lp, ln), num);
        if (sk) {
            sk[c] = (float)(p->fw * w * norm);
            sk[C + c] = (float)(p->fw * w * pw * norm);
            sk[2 * C + c] = (float)w;
            sk[3 * C + c] = (float)(w * pw);
        }
    }
    return num * norm;
}

/* The generalized Dice of one group (MONAI's GeneralizedDiceLoss): its loss 1 - GD, and the
   coefficients A, B of its classes in K, for k groups in the mean (1 for SUM). */
SEGLOSS__PRIVATE double segloss__finish_gdl(const segloss_config *cfg, const double *gs, int64_t C, int64_t c0,
                                            double k, double dw, float *A, float *B)
{
    const double s = cfg->dice_smooth;
    double vmax = 0.0, nu = s, de = s;
    int64_t c;
    for (c = c0; c < C; c++) {
        const double G = gs[c];
        if (G > 0.0 && 1.0 / (G * G) > vmax) vmax = 1.0 / (G * G);
    }
    for (c = c0; c < C; c++) { /* the sums first: A and B need both */
        const double G = gs[c], v = G > 0.0 ? 1.0 / (G * G) : vmax;
        nu = fma(2.0 * v, gs[SEGLOSS__ST_I * C + c], nu);
        de = fma(v, gs[SEGLOSS__ST_P * C + c] + G, de);
    }
    for (c = 0; c < C && A; c++) {
        const double G = gs[c], v = G > 0.0 ? 1.0 / (G * G) : vmax;
        A[c] = B[c] = 0.0f;
        if (c >= c0 && de > 0.0) {
            A[c] = (float)(dw * v * nu / (k * de * de));
            B[c] = (float)(-dw * 2.0 * v / (k * de));
        }
    }
    return de > 0.0 ? 1.0 - nu / de : 0.0; /* 0/0: nothing to find and nothing found */
}

SEGLOSS__PRIVATE void segloss__finish(const segloss_config *cfg, const segloss__plan *p, const double *st,
                                      int64_t groups, int64_t C, segloss__terms *out, segloss__coefs *k)
{
    const int mean = p->mean;
    const double fw = p->fw, dw = p->dw;
    const double *tail = st + groups * 4 * C;
    int64_t g, c;
    out->valid = (int64_t)tail[0];
    out->ce = out->dice = 0.0;
    if (p->ce && p->sig) out->ce = segloss__finish_sigmoid_ce(cfg, p, st, groups, C, tail[1], k ? k->sk : NULL);
    else if (p->ce) out->ce = segloss__finish_softmax_ce(cfg, p, st, groups, C, tail[1], k ? k->wcoef : NULL,
                                                       k ? &k->each_scale : NULL, k ? k->sk : NULL);
    if (k && k->wcoef && !(p->ce && !p->sig))
        for (c = 0; c < C; c++) k->wcoef[c] = 0.0f;
    if (p->dice) {
        const int64_t c0 = cfg->include_background ? 0 : 1, nk = C - c0;
        const double kk = mean ? (double)(p->gdl ? groups : groups * nk) : 1.0;
        const double s = cfg->dice_smooth;
        const int tv = p->tversky;
        const double al = tv ? cfg->tversky_alpha : 0.5, be = tv ? cfg->tversky_beta : 0.5;
        float *A = k ? k->A : NULL, *B = k ? k->B : NULL, *each = k ? k->each : NULL;
        double sum = 0.0;
        for (g = 0; g < groups; g++) {
            const double *gs = st + g * 4 * C;
            if (p->gdl) {
                const double l = segloss__finish_gdl(cfg, gs, C, c0, kk, dw, A ? A + g * C : NULL, B ? B + g * C : NULL);
                sum += l;
                if (each) each[g] = (float)l;
                continue;
            }
            for (c = 0; c < C; c++) {
                double si = gs[SEGLOSS__ST_I * C + c], sp = gs[SEGLOSS__ST_P * C + c], sg = gs[c];
                double numr, den, a = 0.0, b = 0.0, l = 0.0;
                if (c >= c0) {
                    /* Dice: D = (2I + s)/(P + G + s); Tversky: T = (I + s)/(I + al FP + be FN + s) */
                    numr = tv ? si + s : fma(2.0, si, s);
                    den = tv ? fma(1.0 - al - be, si, fma(al, sp, fma(be, sg, s))) : sp + sg + s;
                    if (den > 0.0) {
                        l = 1.0 - numr / den;
                        if (tv) {
                            a = dw * al * numr / (kk * den * den);
                            b = -dw * fma(al + be - 1.0, numr, den) / (kk * den * den);
                        } else {
                            a = dw * numr / (kk * den * den);
                            b = -dw * 2.0 / (kk * den);
                        }
                    } /* 0/0: nothing to find and nothing found, a perfect score (D = 1) */
                    sum += l;
                    if (each) each[g * nk + c - c0] = (float)l;
                }
                if (A) { A[g * C + c] = (float)a; B[g * C + c] = (float)b; }
            }
        }
        out->dice = nk > 0 ? (mean ? sum / kk : sum) : 0.0;
    }
    out->loss = p->ce && p->dice ? fma(fw, out->ce, dw * out->dice) : p->dice ? out->dice : out->ce;
}

SEGLOSS__PRIVATE void segloss__report(segloss_result *out, const segloss__terms *t, segloss_status st, int64_t bad)
{
    if (st != SEGLOSS_OK) {
        out->loss = out->ce_term = out->dice_term = NAN;
        out->valid = 0;
        out->bad_position = bad;
        return;
    }
    out->loss = t->loss;
    out->ce_term = t->ce;
    out->dice_term = t->dice;
    out->valid = t->valid;
    out->bad_position = -1;
}

/* ---- phase 3: backward -------------------------------------------------------------------- */

SEGLOSS__PRIVATE segloss_status segloss__backward(const segloss_config *cfg, const segloss__plan *p, const segloss_input *in,
                                                  int64_t group0, const segloss__coefs *k, float *grad, double *loss,
                                                  float *each)
{
    segloss__job j;
    memset(&j, 0, sizeof j);
    j.in = in;
    j.ignore = cfg->ignore_index;
    j.fn = p->sig ? segloss__table()->sigmoid
         : SEGLOSS__DENSE(in->label_type) ? segloss__table()->soft_targets : segloss__table()->grad;
    j.ce = p->ce;
    j.gamma = p->gamma;
    j.group0 = group0;
    j.grad = grad;
    j.wcoef = k->wcoef;
    j.A = p->dice ? k->A : NULL;
    j.B = p->dice ? k->B : NULL;
    j.loss = loss;
    j.stream = segloss__past_caches(in);
    j.sig = p->sig;
    j.gamma_term = p->focal;
    j.sk = k->sk;
    j.alpha = cfg->focal_alpha;
    j.each = each;
    j.each_scale = k->each_scale;
    j.map = cfg->weight_map;
    j.eps = p->eps;
    if (!p->sig && SEGLOSS__DENSE(in->label_type)) j.sk = k->wcoef; /* the soft-target kernel's weights */
    else if (!p->sig && p->ce && p->eps > 0.0f) j.sw = k->sk;
    return segloss__run(&j); /* each chunk fences its own streamed stores */
}

/* The CE-family term goes to backward (segloss_backward_loss) wherever backward computes it:
   ce, weighted_ce and focal always, focal_dice when focal_weight > 0 (segloss_compute with
   a gradient; without one only the CE family's backward pass runs). */
SEGLOSS__PRIVATE int segloss__ce_in_backward(const segloss__plan *p) { return p->ce_only || (p->ce && p->dice && p->fw > 0.0); }

/* Scratch for one call: statistics (len doubles, zeroed), then the coefficients: wcoef[C],
   sk[4C], A and B[G x C], and room for the Dice family's unreduced terms (G x C at most). */
SEGLOSS__PRIVATE double *segloss__scratch(int64_t stats_len, int64_t C, int64_t groups, segloss__coefs *k)
{
    size_t bytes = (size_t)stats_len * sizeof(double) + (size_t)(5 * C + 3 * groups * C) * sizeof(float);
    double *st = (double *)SEGLOSS_MALLOC(bytes);
    if (!st) return NULL;
    memset(st, 0, (size_t)stats_len * sizeof(double));
    k->wcoef = (float *)(st + stats_len);
    k->sk = k->wcoef + C;
    k->A = k->sk + 4 * C;
    k->B = k->A + groups * C;
    k->each = NULL;
    k->each_scale = 1.0f;
    return st;
}

/* ---- the API ----------------------------------------------------------------------------- */

SEGLOSS__API int64_t segloss_unreduced_len(const segloss_config *cfg, const segloss_input *in)
{
    segloss__plan p;
    if (!cfg || !in || segloss__check_config(cfg) != SEGLOSS_OK || segloss__check_input(in) != SEGLOSS_OK ||
        cfg->loss_type == SEGLOSS_FOCAL_DICE)
        return 0;
    p = segloss__plan_for(cfg);
    if (p.ce_only) return p.sig ? in->n * in->c * in->s : in->n * in->s;
    if (p.gdl) return segloss__groups(&p, in->n);
    return in->c - (cfg->include_background ? 0 : 1) > 0 ? segloss__groups(&p, in->n) * (in->c - (cfg->include_background ? 0 : 1)) : 0;
}

SEGLOSS__PRIVATE segloss_status segloss__compute(const segloss_config *cfg, const segloss_input *in, float *grad,
                                                 float *terms, segloss_result *out)
{
    segloss_status st;
    segloss__plan p;
    segloss__terms t;
    segloss__coefs k;
    int64_t groups, len, bad = -1;
    int ce_in_backward;
    double *stats, ce = 0.0;
    memset(&t, 0, sizeof t);
    if (!cfg || !in || !out) return SEGLOSS_ERR_NULL;
    if ((st = segloss__check_config(cfg)) != SEGLOSS_OK || (st = segloss__check_input(in)) != SEGLOSS_OK ||
        (st = segloss__check_fit(cfg, in)) != SEGLOSS_OK || (st = segloss__check_alias(in, grad)) != SEGLOSS_OK) {
        segloss__report(out, &t, st, -1);
        return st;
    }
    p = segloss__plan_for(cfg);
    /* The CE-family term is summed by the backward pass wherever that pass runs anyway: for CE
       and focal always (one pass over the logits, with the gradient or for the loss alone), for
       focal_dice with a gradient (its focal log is computed there anyway), so the statistics
       pass skips it. The CE family needs only the label counts before that pass. */
    ce_in_backward = segloss__ce_in_backward(&p) && (grad || p.ce_only);
    groups = segloss__groups(&p, in->n);
    len = groups * 4 * in->c + segloss__extra(&p, in->c);
    if (!(stats = segloss__scratch(len, in->c, groups, &k))) {
        segloss__report(out, &t, SEGLOSS_ERR_NOMEM, -1);
        return SEGLOSS_ERR_NOMEM;
    }
    /* the Dice family's unreduced terms come from the statistics: into scratch, copied on success */
    if (terms && p.dice) k.each = (float *)(k.B + groups * in->c);
    st = segloss__accumulate(cfg, &p, in, segloss__group0(&p, 0), stats, stats + groups * 4 * in->c,
                             p.ce_only ? SEGLOSS__COUNTS : ce_in_backward ? SEGLOSS__STATS_NO_CE : SEGLOSS__STATS, &bad);
    if (st == SEGLOSS_OK) {
        segloss__finish(cfg, &p, stats, groups, in->c, &t, &k);
        if (grad || p.ce_only)
            st = segloss__backward(cfg, &p, in, segloss__group0(&p, 0), &k, grad, ce_in_backward ? &ce : NULL,
                                   p.ce_only ? terms : NULL);
        if (st == SEGLOSS_OK && ce_in_backward) { /* fw is in the coefficients: the pass summed fw * the term */
            t.ce = ce / p.fw;
            t.loss = fma(p.dw, t.dice, ce);
        }
        if (st == SEGLOSS_OK && terms && k.each) memcpy(terms, k.each, (size_t)segloss_unreduced_len(cfg, in) * sizeof(float));
    }
    SEGLOSS_FREE(stats);
    segloss__report(out, &t, st, bad);
    return st;
}

SEGLOSS__API segloss_status segloss_compute(const segloss_config *cfg, const segloss_input *in, float *grad,
                                            segloss_result *out)
{
    return segloss__compute(cfg, in, grad, NULL, out);
}

SEGLOSS__API segloss_status segloss_compute_unreduced(const segloss_config *cfg, const segloss_input *in, float *grad,
                                                      float *terms, segloss_result *out)
{
    segloss_status st = SEGLOSS_OK;
    if (!cfg || !in || !out) return SEGLOSS_ERR_NULL;
    if (!terms) st = SEGLOSS_ERR_NULL;
    else if (segloss__check_config(cfg) == SEGLOSS_OK && cfg->loss_type == SEGLOSS_FOCAL_DICE) st = SEGLOSS_ERR_PARAM;
    if (st != SEGLOSS_OK) {
        segloss__terms t;
        memset(&t, 0, sizeof t);
        segloss__report(out, &t, st, -1);
        return st;
    }
    return segloss__compute(cfg, in, grad, terms, out);
}

SEGLOSS__PRIVATE segloss_status segloss__check_slice(const segloss_config *cfg, const segloss_input *slice,
                                                     int64_t first, const segloss_stats *stats)
{
    segloss_status st;
    if ((st = segloss__check_config(cfg)) != SEGLOSS_OK || (st = segloss__check_input(slice)) != SEGLOSS_OK)
        return st;
    if (!stats || !stats->sum) return SEGLOSS_ERR_NULL;
    if (stats->c != slice->c || stats->n <= 0 || first < 0 || first > stats->n - slice->n) return SEGLOSS_ERR_STATS;
    return segloss__check_fit(cfg, slice);
}

SEGLOSS__PRIVATE segloss_status segloss__accumulate_api(const segloss_config *cfg, const segloss_input *slice,
                                                        int64_t first_sample, segloss_stats *stats, int labels_only);

SEGLOSS__API segloss_status segloss_accumulate(const segloss_config *cfg, const segloss_input *slice,
                                               int64_t first_sample, segloss_stats *stats)
{
    return segloss__accumulate_api(cfg, slice, first_sample, stats, 0);
}

SEGLOSS__API segloss_status segloss_accumulate_labels(const segloss_config *cfg, const segloss_input *slice,
                                                      int64_t first_sample, segloss_stats *stats)
{
    return segloss__accumulate_api(cfg, slice, first_sample, stats, 1);
}

SEGLOSS__PRIVATE segloss_status segloss__accumulate_api(const segloss_config *cfg, const segloss_input *slice,
                                                        int64_t first_sample, segloss_stats *stats, int labels_only)
{
    segloss_status st = segloss__check_slice(cfg, slice, first_sample, stats);
    segloss__plan p;
    segloss__coefs k;
    int64_t groups, len, i, bad;
    double *tmp;
    if (st != SEGLOSS_OK) return st;
    p = segloss__plan_for(cfg);
    /* into scratch first, so that an error leaves the caller's sums untouched */
    groups = segloss__groups(&p, slice->n);
    len = groups * 4 * slice->c;
    if (!(tmp = segloss__scratch(len + segloss__extra(&p, slice->c), slice->c, 0, &k))) return SEGLOSS_ERR_NOMEM;
    st = segloss__accumulate(cfg, &p, slice, segloss__group0(&p, 0), tmp, tmp + len,
                             !labels_only || !segloss__ce_in_backward(&p) ? SEGLOSS__STATS
                             : p.ce_only ? SEGLOSS__LABELS : SEGLOSS__STATS_NO_CE, &bad);
    if (st == SEGLOSS_OK) {
        double *dst = stats->sum + (p.per_sample ? first_sample * 4 * slice->c : 0);
        double *tail = stats->sum + segloss__groups(&p, stats->n) * 4 * slice->c;
        for (i = 0; i < len; i++) dst[i] += tmp[i];
        for (i = 0; i < segloss__extra(&p, slice->c); i++) tail[i] += tmp[len + i];
    }
    SEGLOSS_FREE(tmp);
    return st;
}

SEGLOSS__API segloss_status segloss_finish(const segloss_config *cfg, const segloss_stats *stats, segloss_result *out)
{
    segloss_status st;
    segloss__plan p;
    segloss__terms terms;
    if (!cfg || !stats || !out) return SEGLOSS_ERR_NULL;
    st = segloss__check_config(cfg);
    if (st == SEGLOSS_OK && !stats->sum) st = SEGLOSS_ERR_NULL;
    if (st == SEGLOSS_OK && (stats->n <= 0 || stats->c <= 0 || stats->c > INT32_MAX)) st = SEGLOSS_ERR_STATS;
    if (st == SEGLOSS_OK) st = segloss__check_weights(cfg, stats->c);
    if (st != SEGLOSS_OK) {
        segloss__report(out, &terms, st, -1);
        return st;
    }
    p = segloss__plan_for(cfg);
    segloss__finish(cfg, &p, stats->sum, segloss__groups(&p, stats->n), stats->c, &terms, NULL);
    segloss__report(out, &terms, SEGLOSS_OK, -1);
    return SEGLOSS_OK;
}

SEGLOSS__PRIVATE segloss_status segloss__backward_api(const segloss_config *cfg, const segloss_input *slice,
                                                     int64_t first_sample, const segloss_stats *stats, float *grad,
                                                     double *loss);

SEGLOSS__API segloss_status segloss_backward(const segloss_config *cfg, const segloss_input *slice,
                                             int64_t first_sample, const segloss_stats *stats, float *grad)
{
    return segloss__backward_api(cfg, slice, first_sample, stats, grad, NULL);
}

SEGLOSS__API segloss_status segloss_backward_loss(const segloss_config *cfg, const segloss_input *slice,
                                                  int64_t first_sample, const segloss_stats *stats, float *grad,
                                                  double *loss)
{
    if (!loss) return SEGLOSS_ERR_NULL;
    return segloss__backward_api(cfg, slice, first_sample, stats, grad, loss);
}

SEGLOSS__PRIVATE segloss_status segloss__backward_api(const segloss_config *cfg, const segloss_input *slice,
                                                     int64_t first_sample, const segloss_stats *stats, float *grad,
                                                     double *loss)
{
    segloss_status st = segloss__check_slice(cfg, slice, first_sample, stats);
    segloss__plan p;
    segloss__terms terms;
    segloss__coefs k;
    int64_t groups, bad;
    double *scratch;
    if (st == SEGLOSS_OK && !grad) st = SEGLOSS_ERR_NULL;
    if (st == SEGLOSS_OK) st = segloss__check_alias(slice, grad);
    if (st != SEGLOSS_OK) return st;
    p = segloss__plan_for(cfg);
    st = segloss__scan_labels(slice, cfg->ignore_index, p.sig, cfg->weight_map, -1, NULL, NULL, 0, &bad);
    if (st != SEGLOSS_OK) return st;
    groups = segloss__groups(&p, stats->n);
    if (!(scratch = segloss__scratch(0, stats->c, groups, &k))) return SEGLOSS_ERR_NOMEM;
    segloss__finish(cfg, &p, stats->sum, groups, stats->c, &terms, &k);
    {
        /* backward_loss: the slice's share of fw * the CE-family term, where backward sums it */
        double part = 0.0;
        const int want = loss && segloss__ce_in_backward(&p);
        st = segloss__backward(cfg, &p, slice, segloss__group0(&p, first_sample), &k, grad, want ? &part : NULL, NULL);
        if (st == SEGLOSS_OK && want) *loss += part;
    }
    SEGLOSS_FREE(scratch);
    return st;
}

#endif /* SEGLOSS__DRIVER_H */
/* ---- end kernels/driver.h ---- */
/* ---- begin kernels/text.h ---- */
/* ---- kernels/text.h: loss names, configuration text, the "Loss Configuration:" printout ---- */
#ifndef SEGLOSS__TEXT_H
#define SEGLOSS__TEXT_H

/* Configuration text (segloss_config_parse)
   ----------------------------------------
   Entries are   key=value   separated by commas and/or newlines; a trailing comma is fine and
   whitespace may appear anywhere between tokens. '#' starts a comment to the end of the line
   (outside quotes). Values may be quoted with '...' or "..." (no escapes) or bare.
       keys:       every segloss_config field by name (loss_type, focal_gamma, focal_weight,
                   dice_weight, dice_smooth, tversky_alpha, tversky_beta, use_class_weighting,
                   ignore_index, include_background, per_sample, reduction, check_finite,
                   activation, label_smoothing, focal_alpha) and the loss guide's short names
                   gamma, smooth, alpha, beta (alpha is tversky_alpha: torchvision's focal
                   alpha is focal_alpha).
       booleans:   True False true false 1 0.      reduction: mean | sum.
       activation: softmax | sigmoid.
       numbers:    strtod syntax, finite (parsed in the C locale's notation: '.' decimal point);
                   parameters >= 0, label_smoothing in [0, 1], focal_alpha in [0, 1] or
                   negative (torchvision's -1) or None/none for no alpha.
       ignore_index: a decimal 64-bit integer.
   loss_type is applied first wherever it appears: the result is segloss_config_init(cfg, type)
   (type 'ce' when absent) with the other keys applied on top. A key given twice (including a
   short name and its long name) is an error. class_weights and pos_weight cannot be given as
   text: pass float arrays in code. A combination segloss_compute refuses whatever the input
   is fails here too: focal_dice with both weights 0, and label_smoothing > 0 with a softmax
   focal term of gamma > 0. The printout of segloss_config_format parses too: "Key words: value"
   lines (e.g. "  - Focal gamma: 2.0") and the "Loss Configuration:" title line are accepted,
   and "key: value" works for the field names as well. On any error *cfg is left untouched
   and err receives one line naming the key or the offending text. */

SEGLOSS__API const char *segloss_loss_name(segloss_loss_type loss_type)
{
    switch (loss_type) {
    case SEGLOSS_CE: return "ce";
    case SEGLOSS_WEIGHTED_CE: return "weighted_ce";
    case SEGLOSS_FOCAL: return "focal";
    case SEGLOSS_DICE: return "dice";
    case SEGLOSS_FOCAL_DICE: return "focal_dice";
    case SEGLOSS_TVERSKY: return "tversky";
    case SEGLOSS_GENERALIZED_DICE: return "generalized_dice";
    default: break;
    }
    return NULL;
}

SEGLOSS__API segloss_status segloss_loss_from_name(const char *name, segloss_loss_type *out)
{
    int i;
    if (!name || !out) return SEGLOSS_ERR_NULL;
    for (i = 0; i < SEGLOSS_LOSS_COUNT; i++) {
        const char *s = segloss_loss_name((segloss_loss_type)i);
        if (s && strcmp(s, name) == 0) {
            *out = (segloss_loss_type)i;
            return SEGLOSS_OK;
        }
    }
    return SEGLOSS_ERR_ENUM;
}

typedef struct segloss__tx_entry {
    const char *key, *val;
    int key_len, val_len;
    int colon;   /* written "key: value" rather than "key=value" */
} segloss__tx_entry;

SEGLOSS__PRIVATE int segloss__tx_is_key_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

SEGLOSS__PRIVATE int segloss__tx_is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Writes "what 'shown'what2" into err, shown cut to 40 bytes. */
SEGLOSS__PRIVATE void segloss__tx_err(char *err, size_t err_size, const char *what, const char *shown, int shown_len,
                            const char *what2)
{
    if (!err || err_size == 0) return;
    if (shown_len > 40) shown_len = 40;
    if (shown_len < 0) shown_len = 0;
    snprintf(err, err_size, "%s'%.*s'%s", what, shown_len, shown ? shown : "", what2);
}

/* The value at *pp into e: quoted ('...' or "...", no escapes, within the line), a list kept
   whole with its brackets, commas and all (a printout's "Class weights: [...]" then reaches the
   key's own refusal instead of a syntax error), or a bare word. 1 ok, -1 error (err written). */
SEGLOSS__PRIVATE int segloss__tx_value(const char **pp, segloss__tx_entry *e, char *err, size_t err_size)
{
    const char *p = *pp;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        e->val = p;
        while (*p && *p != q && *p != '\n') p++;
        if (*p != q) {
            segloss__tx_err(err, err_size, "unterminated quote in the value of key ", e->key, e->key_len, "");
            return -1;
        }
        e->val_len = (int)(p - e->val);
        p++;
    } else if (*p == '[' || *p == '(') {
        char close = *p == '[' ? ']' : ')';
        e->val = p;
        while (*p && *p != close && *p != '\n') p++;
        if (*p != close) {
            segloss__tx_err(err, err_size, "unterminated list in the value of key ", e->key, e->key_len, "");
            return -1;
        }
        p++;
        e->val_len = (int)(p - e->val);
    } else {
        e->val = p;
        while (*p && !segloss__tx_is_blank(*p) && *p != '\n' && *p != ',' && *p != '#') p++;
        e->val_len = (int)(p - e->val);
    }
    *pp = p;
    return 1;
}

/* Next entry: 1 found, 0 end of text, -1 syntax error (err written). */
SEGLOSS__PRIVATE int segloss__tx_next(const char **pp, segloss__tx_entry *e, char *err, size_t err_size)
{
    const char *p = *pp, *k;
    int n;
    for (;;) {
        while (segloss__tx_is_blank(*p) || *p == '\n' || *p == ',') p++;
        if (*p == '#') {
            while (*p && *p != '\n') p++;
            continue;
        }
        break;
    }
    if (!*p) {
        *pp = p;
        return 0;
    }
    if (*p == '-' && segloss__tx_is_blank(p[1])) { /* a printout bullet "  - Loss type: ce" */
        p++;
        while (segloss__tx_is_blank(*p)) p++;
    }
    if (!segloss__tx_is_key_char(*p)) {
        for (n = 0; p[n] && p[n] != '\n' && n < 20; n++) {}
        segloss__tx_err(err, err_size, "expected a key at ", p, n, "");
        return -1;
    }
    /* a key: an identifier, or words separated by single spaces (printout labels like "Focal gamma") */
    k = p;
    while (segloss__tx_is_key_char(*p) || (*p == ' ' && isalpha((unsigned char)p[1]) && p > k)) p++;
    e->key = k;
    e->key_len = (int)(p - k);
    while (segloss__tx_is_blank(*p)) p++;
    if (*p != '=' && *p != ':') {
        segloss__tx_err(err, err_size, "expected '=' after key ", e->key, e->key_len, "");
        return -1;
    }
    e->colon = *p == ':';
    p++;
    while (segloss__tx_is_blank(*p)) p++;
    if (segloss__tx_value(&p, e, err, err_size) < 0) return -1;
    while (segloss__tx_is_blank(*p)) p++;
    if (*p && *p != ',' && *p != '\n' && *p != '#') {
        for (n = 0; p[n] && p[n] != '\n' && n < 20; n++) {}
        segloss__tx_err(err, err_size, "unexpected ", p, n, "");
        if (err && err_size) {
            size_t used = strlen(err);
            if (used < err_size)
                snprintf(err + used, err_size - used, " after the value of key '%.*s'",
                         e->key_len > 40 ? 40 : e->key_len, e->key);
        }
        return -1;
    }
    *pp = p;
    return 1;
}

SEGLOSS__PRIVATE int segloss__tx_eq(const char *s, int len, const char *lit)
{
    return (int)strlen(lit) == len && strncmp(s, lit, (size_t)len) == 0;
}

/* Value parsers: 1 ok, 0 bad. Those of a whole field take void *out, as segloss__tx_fields holds them. */
SEGLOSS__PRIVATE int segloss__tx_float(const char *s, int len, float *out)
{
    char tmp[64];
    char *end;
    double v;
    if (len <= 0 || len >= (int)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)len);
    tmp[len] = 0;
    if (isspace((unsigned char)tmp[0])) return 0;
    v = strtod(tmp, &end);
    if (end != tmp + len) return 0;
    if (!(v == v) || v > FLT_MAX || v < -FLT_MAX) return 0; /* NaN, inf, beyond float */
    *out = (float)v;
    return 1;
}

SEGLOSS__PRIVATE int segloss__tx_bool(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "True") || segloss__tx_eq(s, len, "true") || segloss__tx_eq(s, len, "1")) {
        *(int *)out = 1;
        return 1;
    }
    if (segloss__tx_eq(s, len, "False") || segloss__tx_eq(s, len, "false") || segloss__tx_eq(s, len, "0")) {
        *(int *)out = 0;
        return 1;
    }
    return 0;
}

SEGLOSS__PRIVATE int segloss__tx_int64(const char *s, int len, void *out)
{
    int i = 0, neg = 0;
    uint64_t v = 0, lim;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= len) return 0;
    lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') return 0;
        d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10u) return 0;
        v = v * 10u + d;
    }
    if (neg)
        *(int64_t *)out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *(int64_t *)out = (int64_t)v;
    return 1;
}

/* A parameter: a finite float, and >= 0 (-1: it parsed but is negative, which has its own message). */
SEGLOSS__PRIVATE int segloss__tx_nonneg(const char *s, int len, void *out)
{
    if (!segloss__tx_float(s, len, (float *)out)) return 0;
    return *(float *)out < 0.0f ? -1 : 1;
}

/* label_smoothing: a finite float in [0, 1] (-1: out of the range); -0 is stored as 0, the
   value the printout (which leaves 0 out) reads back. */
SEGLOSS__PRIVATE int segloss__tx_unit(const char *s, int len, void *out)
{
    if (!segloss__tx_float(s, len, (float *)out)) return 0;
    if (*(float *)out == 0.0f) *(float *)out = 0.0f;
    return *(float *)out >= 0.0f && *(float *)out <= 1.0f ? 1 : -1;
}

/* focal_alpha: [0, 1], or no alpha: any negative number (torchvision writes -1) or Python's
   None, stored as -1. -0 is not negative: it is alpha 0. */
SEGLOSS__PRIVATE int segloss__tx_alpha(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "None") || segloss__tx_eq(s, len, "none")) {
        *(float *)out = -1.0f;
        return 1;
    }
    if (!segloss__tx_float(s, len, (float *)out)) return 0;
    return *(float *)out <= 1.0f ? 1 : -1;
}

SEGLOSS__PRIVATE int segloss__tx_activation(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "softmax")) *(segloss_activation *)out = SEGLOSS_SOFTMAX;
    else if (segloss__tx_eq(s, len, "sigmoid")) *(segloss_activation *)out = SEGLOSS_SIGMOID;
    else return 0;
    return 1;
}

SEGLOSS__PRIVATE int segloss__tx_loss(const char *s, int len, void *out)
{
    char tmp[32];
    if (len <= 0 || len >= (int)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)len);
    tmp[len] = 0;
    return segloss_loss_from_name(tmp, (segloss_loss_type *)out) == SEGLOSS_OK;
}

SEGLOSS__PRIVATE int segloss__tx_reduction(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "mean")) *(segloss_reduction *)out = SEGLOSS_MEAN;
    else if (segloss__tx_eq(s, len, "sum")) *(segloss_reduction *)out = SEGLOSS_SUM;
    else return 0;
    return 1;
}

/* One row per segloss_config field, with every spelling that names it, so that a short name and
   its long name are one key for the duplicate check (the row's bit in the parser's `seen`). */
typedef struct segloss__tx_field {
    const char *name, *short_name;
    const char *label;  /* segloss_config_format's printout label ("Focal gamma"): only as "label: value" */
    int (*parse)(const char *s, int len, void *out); /* 1 ok, 0 bad value, -1 out of range; NULL: not as text */
    size_t offset, size;
    const char *range;  /* what -1 means: "must be >= 0" when NULL */
    const char *valid;  /* appended to a bad value's message: the values there are (NULL: none) */
} segloss__tx_field;

#define SEGLOSS__TX_AT(f) offsetof(segloss_config, f), sizeof(((segloss_config *)0)->f)
static const segloss__tx_field segloss__tx_fields[] = {
    { "loss_type", NULL, "Loss type", segloss__tx_loss, SEGLOSS__TX_AT(loss_type), NULL,
      ": use 'ce', 'weighted_ce', 'focal', 'dice', 'focal_dice', 'tversky' or 'generalized_dice'" },
    { "focal_gamma", "gamma", "Focal gamma", segloss__tx_nonneg, SEGLOSS__TX_AT(focal_gamma), NULL, NULL },
    { "focal_weight", NULL, "Focal weight", segloss__tx_nonneg, SEGLOSS__TX_AT(focal_weight), NULL, NULL },
    { "dice_weight", NULL, "Dice weight", segloss__tx_nonneg, SEGLOSS__TX_AT(dice_weight), NULL, NULL },
    { "dice_smooth", "smooth", "Dice smooth", segloss__tx_nonneg, SEGLOSS__TX_AT(dice_smooth), NULL, NULL },
    { "tversky_alpha", "alpha", "Tversky alpha", segloss__tx_nonneg, SEGLOSS__TX_AT(tversky_alpha), NULL, NULL },
    { "tversky_beta", "beta", "Tversky beta", segloss__tx_nonneg, SEGLOSS__TX_AT(tversky_beta), NULL, NULL },
    { "use_class_weighting", NULL, NULL, segloss__tx_bool, SEGLOSS__TX_AT(use_class_weighting), NULL, NULL },
    { "ignore_index", NULL, NULL, segloss__tx_int64, SEGLOSS__TX_AT(ignore_index), NULL, NULL },
    { "include_background", NULL, "Include background", segloss__tx_bool, SEGLOSS__TX_AT(include_background), NULL,
      NULL },
    { "per_sample", NULL, "Per sample", segloss__tx_bool, SEGLOSS__TX_AT(per_sample), NULL, NULL },
    { "reduction", NULL, NULL, segloss__tx_reduction, SEGLOSS__TX_AT(reduction), NULL, NULL },
    { "check_finite", NULL, NULL, segloss__tx_bool, SEGLOSS__TX_AT(check_finite), NULL, NULL },
    { "activation", NULL, "Activation", segloss__tx_activation, SEGLOSS__TX_AT(activation), NULL,
      ": use 'softmax' or 'sigmoid'" },
    { "label_smoothing", NULL, "Label smoothing", segloss__tx_unit, SEGLOSS__TX_AT(label_smoothing),
      "must be in [0, 1]", NULL },
    { "focal_alpha", NULL, "Focal alpha", segloss__tx_alpha, SEGLOSS__TX_AT(focal_alpha),
      "must be in [0, 1], or -1 (None) for no alpha", NULL },
    /* known only to say why they are refused: the printout shows them, and text cannot carry
       the pointers */
    { "class_weights", NULL, "Class weights", NULL, SEGLOSS__TX_AT(class_weights), NULL, NULL },
    { "pos_weight", NULL, "Pos weight", NULL, SEGLOSS__TX_AT(pos_weight), NULL, NULL }
};
#define SEGLOSS__TX_FIELDS ((int)(sizeof segloss__tx_fields / sizeof segloss__tx_fields[0]))

/* The row e's key names, -1 if none. */
SEGLOSS__PRIVATE int segloss__tx_find(const segloss__tx_entry *e)
{
    int i;
    for (i = 0; i < SEGLOSS__TX_FIELDS; i++) {
        const segloss__tx_field *f = &segloss__tx_fields[i];
        if (segloss__tx_eq(e->key, e->key_len, f->name) ||
            (f->short_name && segloss__tx_eq(e->key, e->key_len, f->short_name)) ||
            (f->label && e->colon && segloss__tx_eq(e->key, e->key_len, f->label)))
            return i;
    }
    return -1;
}

/* One entry's value into its field of *parsed, marking the field in *seen: 1 done (or nothing
   to do), 0 error (err written). */
SEGLOSS__PRIVATE int segloss__tx_take(const segloss__tx_entry *e, segloss_config *parsed, unsigned *seen, char *err,
                                      size_t err_size)
{
    const int i = segloss__tx_find(e);
    const segloss__tx_field *f;
    int r;
    if (i < 0) {
        if (e->colon && e->val_len == 0 && segloss__tx_eq(e->key, e->key_len, "Loss Configuration"))
            return 1; /* the printout's title line */
        segloss__tx_err(err, err_size, "unknown key ", e->key, e->key_len, "");
        return 0;
    }
    f = &segloss__tx_fields[i];
    if (!f->parse) { /* "key 'Pos weight': pos weight must be passed as a float array in code (cfg.pos_weight)..." */
        char what[32];
        size_t k;
        for (k = 0; f->label[k] && k + 1 < sizeof what; k++) what[k] = (char)tolower((unsigned char)f->label[k]);
        what[k] = 0;
        segloss__tx_err(err, err_size, "key ", e->key, e->key_len, "");
        if (err && err_size) {
            size_t used = strlen(err);
            if (used < err_size)
                snprintf(err + used, err_size - used,
                         ": %s must be passed as a float array in code (cfg.%s), not as text", what, f->name);
        }
        return 0;
    }
    if (*seen & (1u << i)) {
        segloss__tx_err(err, err_size, "duplicate key ", e->key, e->key_len, "");
        return 0;
    }
    *seen |= 1u << i;
    r = f->parse(e->val, e->val_len, (char *)parsed + f->offset);
    if (r == 0 && err && err_size) /* "bad value 'relu' for key 'activation': use 'softmax' or 'sigmoid'" */
        snprintf(err, err_size, "bad value '%.*s' for key '%.*s'%s", e->val_len > 40 ? 40 : e->val_len, e->val,
                 e->key_len > 40 ? 40 : e->key_len, e->key, f->valid ? f->valid : "");
    if (r < 0 && err && err_size) /* "focal_gamma must be >= 0" */
        snprintf(err, err_size, "%.*s %s", e->key_len > 40 ? 40 : e->key_len, e->key,
                 f->range ? f->range : "must be >= 0");
    return r > 0;
}

SEGLOSS__API segloss_status segloss_config_parse(const char *text, segloss_config *cfg, char *err, size_t err_size)
{
    segloss_config parsed, result;
    segloss__tx_entry e;
    const char *p = text;
    unsigned seen = 0;
    int r, i;
    if (err && err_size) err[0] = 0;
    if (!text || !cfg) {
        if (err && err_size) snprintf(err, err_size, "%s", "NULL text or config");
        return SEGLOSS_ERR_NULL;
    }
    /* Values collect in parsed, to go on top of the defaults of whichever loss_type the text names
       (wherever it names it), and to leave *cfg untouched on an error. */
    memset(&parsed, 0, sizeof parsed);
    parsed.loss_type = SEGLOSS_CE;
    while ((r = segloss__tx_next(&p, &e, err, err_size)) == 1)
        if (!segloss__tx_take(&e, &parsed, &seen, err, err_size)) return SEGLOSS_ERR_PARSE;
    if (r < 0) return SEGLOSS_ERR_PARSE;

    segloss_config_init(&result, parsed.loss_type);
    for (i = 0; i < SEGLOSS__TX_FIELDS; i++) {
        const segloss__tx_field *f = &segloss__tx_fields[i];
        if (seen & (1u << i)) memcpy((char *)&result + f->offset, (const char *)&parsed + f->offset, f->size);
    }
    if (result.loss_type == SEGLOSS_FOCAL_DICE && result.focal_weight == 0.0f && result.dice_weight == 0.0f) {
        if (err && err_size) snprintf(err, err_size, "%s", "focal_weight and dice_weight must not both be 0");
        return SEGLOSS_ERR_PARSE;
    }
    if ((result.loss_type == SEGLOSS_FOCAL || result.loss_type == SEGLOSS_FOCAL_DICE) &&
        result.activation == SEGLOSS_SOFTMAX && result.focal_gamma > 0.0f && result.label_smoothing > 0.0f) {
        if (err && err_size)
            snprintf(err, err_size,
                     "label_smoothing %g needs focal_gamma 0 (a focal term refuses it): use loss_type 'ce' or "
                     "focal_gamma=0", (double)result.label_smoothing);
        return SEGLOSS_ERR_PARSE;
    }
    /* smoothing where nothing would be smoothed is refused, as segloss_compute refuses it */
    if (result.label_smoothing > 0.0f &&
        (result.activation == SEGLOSS_SIGMOID || result.loss_type == SEGLOSS_DICE ||
         result.loss_type == SEGLOSS_TVERSKY || result.loss_type == SEGLOSS_GENERALIZED_DICE)) {
        if (err && err_size)
            snprintf(err, err_size, "label_smoothing %g applies to the softmax cross entropy (ce, weighted_ce, "
                                    "focal_dice with focal_gamma 0), not to %s%s", (double)result.label_smoothing,
                     segloss_loss_name(result.loss_type), result.activation == SEGLOSS_SIGMOID ? " under the sigmoid" : "");
        return SEGLOSS_ERR_PARSE;
    }
    *cfg = result;
    return SEGLOSS_OK;
}

/* ---- printout ---- */

/* Output into a caller buffer with snprintf semantics (also used by metrics.h). */
typedef struct segloss__tx_out {
    char *buf;
    size_t size, len;
} segloss__tx_out;

SEGLOSS__PRIVATE void segloss__tx_puts(segloss__tx_out *o, const char *s)
{
    for (; *s; s++, o->len++)
        if (o->len + 1 < o->size) o->buf[o->len] = *s;
}

SEGLOSS__PRIVATE int segloss__tx_finish(segloss__tx_out *o)
{
    if (o->size > 0) o->buf[o->len < o->size ? o->len : o->size - 1] = 0;
    return o->len > (size_t)INT_MAX ? -1 : (int)o->len;
}

/* A parameter: one decimal when that reads back as the same float (2.0, 0.5, 1.0), else %g
   (0.25, 0.05), else "%.9g" so that the printout always parses back to the same value. */
SEGLOSS__PRIVATE void segloss__tx_param(char *tmp, size_t n, float v)
{
    snprintf(tmp, n, "%.1f", (double)v);
    if ((float)strtod(tmp, NULL) == v) return;
    snprintf(tmp, n, "%g", (double)v);
    if ((float)strtod(tmp, NULL) == v) return;
    snprintf(tmp, n, "%.9g", (double)v);
}

SEGLOSS__PRIVATE void segloss__tx_line(segloss__tx_out *o, const char *label, float v)
{
    char tmp[64];
    segloss__tx_param(tmp, sizeof tmp, v);
    segloss__tx_puts(o, "  - ");
    segloss__tx_puts(o, label);
    segloss__tx_puts(o, ": ");
    segloss__tx_puts(o, tmp);
    segloss__tx_puts(o, "\n");
}

SEGLOSS__PRIVATE void segloss__tx_list(segloss__tx_out *o, const char *label, const float *v, int64_t c)
{
    int64_t k;
    char tmp[64];
    segloss__tx_puts(o, "  - ");
    segloss__tx_puts(o, label);
    segloss__tx_puts(o, ": [");
    for (k = 0; k < c; k++) {
        snprintf(tmp, sizeof tmp, k ? " %#.3g" : "%#.3g", (double)v[k]);
        segloss__tx_puts(o, tmp);
    }
    segloss__tx_puts(o, "]\n");
}

/* Lines per loss type (each ends in '\n'):
       ce           Loss type [, Activation] [, Label smoothing] [, Class weights] [, Pos weight]
       weighted_ce  Loss type [, Activation] [, Label smoothing] [, Class weights] [, Pos weight]
       focal        Loss type [, Activation], Focal gamma [, Focal alpha] [, Label smoothing] [, Class weights]
       dice         Loss type [, Activation], Dice smooth
       focal_dice   Loss type [, Activation], Focal gamma [, Focal alpha], Focal weight, Dice weight,
                    Dice smooth [, Label smoothing] [, Class weights]
       tversky      Loss type [, Activation], Tversky alpha, Tversky beta, Dice smooth
       generalized_dice  Loss type [, Activation], Dice smooth, Include background, Per sample
   Only what the loss reads is printed, and softmax, the default, goes without saying:
       Activation       "sigmoid", only for the sigmoid
       Focal alpha      sigmoid focal terms only (softmax focal has no alpha): the value, or
                        "none" when negative
       Label smoothing  softmax CE-family terms, when > 0 (a focal term with gamma > 0 refuses it)
       Include background, Per sample   "True"/"False" (the guide's booleans). generalized_dice
                        prints them because its weights 1/G_c^2 depend on both (with the
                        background in, the background dominates less than in dice, and per
                        sample the weights differ sample by sample); dice and tversky keep the
                        guide's block.
       Class weights    when weights != NULL ("%#.3g" each, space separated, in brackets); the
                        Dice family takes no class weights, so none are printed for it.
       Pos weight       cfg->pos_weight, c values as Class weights', for the sigmoid ce and
                        weighted_ce (the focal terms take no pos_weight).
   Returns -1 (and writes "" when size > 0) if cfg is NULL, the loss type unknown, or weights
   (or a pos_weight it prints) given with c <= 0. */
SEGLOSS__API int segloss_config_format(const segloss_config *cfg, const float *weights, int64_t c, char *buf,
                                       size_t size)
{
    segloss__tx_out o;
    const char *name;
    segloss_loss_type t;
    int sigmoid, focal, pos, ce_term;
    o.buf = buf;
    o.size = buf ? size : 0;
    o.len = 0;
    if (o.size > 0) buf[0] = 0;
    if (!cfg) return -1;
    t = cfg->loss_type;
    name = segloss_loss_name(t);
    if (!name) return -1;
    sigmoid = cfg->activation == SEGLOSS_SIGMOID;
    focal = t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE;
    pos = sigmoid && cfg->pos_weight && (t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE);
    if ((weights || pos) && (c <= 0 || c > (int64_t)(INT_MAX / 16))) return -1;
    segloss__tx_puts(&o, "Loss Configuration:\n  - Loss type: ");
    segloss__tx_puts(&o, name);
    segloss__tx_puts(&o, "\n");
    if (sigmoid) segloss__tx_puts(&o, "  - Activation: sigmoid\n");
    if (focal) segloss__tx_line(&o, "Focal gamma", cfg->focal_gamma);
    if (focal && sigmoid) {
        if (cfg->focal_alpha < 0.0f) segloss__tx_puts(&o, "  - Focal alpha: none\n");
        else segloss__tx_line(&o, "Focal alpha", cfg->focal_alpha);
    }
    if (t == SEGLOSS_FOCAL_DICE) {
        segloss__tx_line(&o, "Focal weight", cfg->focal_weight);
        segloss__tx_line(&o, "Dice weight", cfg->dice_weight);
    }
    if (t == SEGLOSS_TVERSKY) {
        segloss__tx_line(&o, "Tversky alpha", cfg->tversky_alpha);
        segloss__tx_line(&o, "Tversky beta", cfg->tversky_beta);
    }
    if (t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY || t == SEGLOSS_GENERALIZED_DICE)
        segloss__tx_line(&o, "Dice smooth", cfg->dice_smooth);
    if (t == SEGLOSS_GENERALIZED_DICE) {
        segloss__tx_puts(&o, cfg->include_background ? "  - Include background: True\n"
                                                     : "  - Include background: False\n");
        segloss__tx_puts(&o, cfg->per_sample ? "  - Per sample: True\n" : "  - Per sample: False\n");
    }
    ce_term = t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE || focal;
    if (ce_term && !sigmoid && cfg->label_smoothing > 0.0f)
        segloss__tx_line(&o, "Label smoothing", cfg->label_smoothing);
    if (weights && ce_term) segloss__tx_list(&o, "Class weights", weights, c);
    if (pos) segloss__tx_list(&o, "Pos weight", cfg->pos_weight, c);
    return segloss__tx_finish(&o);
}

#endif /* SEGLOSS__TEXT_H */
/* ---- end kernels/text.h ---- */
/* ---- begin kernels/metrics.h ---- */
/* ---- kernels/metrics.h: label counts, class weights, confusion, metrics, the advisor ---- */
#ifndef SEGLOSS__METRICS_H
#define SEGLOSS__METRICS_H

/* The core's checks (driver.h), so shapes, enums and labels are judged exactly as segloss_compute
   judges them; in->logits is only required when need_logits. Nothing is written before this. */
SEGLOSS__PRIVATE segloss_status segloss__mx_check(const segloss_input *in, int need_logits, int64_t ignore_index)
{
    segloss_input tmp;
    segloss_status st;
    int64_t bad;
    if (!in) return SEGLOSS_ERR_NULL;
    tmp = *in;
    if (!need_logits && !tmp.logits) tmp.logits = (const float *)(const void *)in; /* only tested for NULL */
    if ((st = segloss__check_input(&tmp)) != SEGLOSS_OK) return st;
    if (SEGLOSS__DENSE(tmp.label_type)) return SEGLOSS_ERR_PARAM; /* class indices only */
    return segloss__scan_labels(&tmp, ignore_index, 0, NULL, -1, NULL, NULL, 0, &bad);
}

/* Labels only: in->logits may be NULL. One threaded pass (driver.h's label scan) validates
   and counts, into exact double counts (integers below 2^53), then adds them to counts. */
SEGLOSS__API segloss_status segloss_label_histogram(const segloss_input *in, int64_t ignore_index, int64_t *counts)
{
    segloss_input tmp;
    segloss_status st;
    double *cnt;
    int64_t c, bad;
    if (!counts) return SEGLOSS_ERR_NULL;
    if (!in) return SEGLOSS_ERR_NULL;
    tmp = *in;
    if (!tmp.logits) tmp.logits = (const float *)(const void *)in; /* only tested for NULL */
    if ((st = segloss__check_input(&tmp)) != SEGLOSS_OK) return st;
    if (SEGLOSS__DENSE(tmp.label_type)) return SEGLOSS_ERR_PARAM; /* class indices only */
    /* C doubles and 4C for the scan's group layout: its counts go to the first C */
    if (!(cnt = (double *)SEGLOSS_MALLOC((size_t)in->c * sizeof(double)))) return SEGLOSS_ERR_NOMEM;
    memset(cnt, 0, (size_t)in->c * sizeof(double));
    st = segloss__scan_labels(&tmp, ignore_index, 0, NULL, -1, cnt, NULL, 1, &bad);
    if (st == SEGLOSS_OK)
        for (c = 0; c < in->c; c++) counts[c] += (int64_t)cnt[c];
    SEGLOSS_FREE(cnt);
    return st;
}

/* Smallest present count v with at least k+1 present counts <= v (k-th smallest, 0-based):
   a bisection over the values, exact, no scratch memory, 64 passes at most. */
SEGLOSS__PRIVATE int64_t segloss__mx_kth(const int64_t *counts, int64_t c, int64_t k, int64_t lo, int64_t hi)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, j, le = 0;
        for (j = 0; j < c; j++)
            if (counts[j] > 0 && counts[j] <= mid) le++;
        if (le >= k + 1) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Class weights from counts (section 5 of the API). With V = sum of counts, m = number of
   classes with n_c > 0, and weight 0 for every class with n_c = 0:
       INVERSE    V / n_c
       MEDIAN     median_k(f_k) / f_c,  f = n / V, median over present classes (the mean of the
                  two middle values when m is even) = median_k(n_k) / n_c
       INV_SQRT   sqrt(V / n_c)
       EFFECTIVE  (1 - b) / (1 - b^n_c), b = 0.9999, scaled so the weights sum to m
   Computed in double, stored as float. Errors: NULL, c <= 0, unknown method, a negative count. */
SEGLOSS__API segloss_status segloss_class_weights(segloss_weighting method, const int64_t *counts, int64_t c,
                                                  float *weights)
{
    int64_t k, m = 0, lo = INT64_MAX, hi = 0;
    double total = 0.0, med = 0.0, sum = 0.0;
    if (!counts || !weights) return SEGLOSS_ERR_NULL;
    if (c <= 0) return SEGLOSS_ERR_SHAPE;
    if ((int)method < (int)SEGLOSS_WEIGHT_INVERSE || (int)method > (int)SEGLOSS_WEIGHT_EFFECTIVE)
        return SEGLOSS_ERR_ENUM;
    for (k = 0; k < c; k++) {
        if (counts[k] < 0) return SEGLOSS_ERR_PARAM;
        if (counts[k] > 0) {
            m++;
            total += (double)counts[k];
            if (counts[k] < lo) lo = counts[k];
            if (counts[k] > hi) hi = counts[k];
        }
    }
    if (method == SEGLOSS_WEIGHT_MEDIAN && m > 0)
        med = 0.5 * ((double)segloss__mx_kth(counts, c, (m - 1) / 2, lo, hi) +
                     (double)segloss__mx_kth(counts, c, m / 2, lo, hi));
    if (method == SEGLOSS_WEIGHT_EFFECTIVE)
        for (k = 0; k < c; k++)
            if (counts[k] > 0) sum += 1e-4 / -expm1((double)counts[k] * log1p(-1e-4));
    for (k = 0; k < c; k++) {
        double n = (double)counts[k], w = 0.0;
        if (counts[k] > 0) {
            switch (method) {
            case SEGLOSS_WEIGHT_INVERSE: w = total / n; break;
            case SEGLOSS_WEIGHT_MEDIAN: w = med / n; break;
            case SEGLOSS_WEIGHT_INV_SQRT: w = sqrt(total / n); break;
            case SEGLOSS_WEIGHT_EFFECTIVE: w = 1e-4 / -expm1(n * log1p(-1e-4)) * (double)m / sum; break;
            default: break;
            }
        }
        weights[k] = (float)w;
    }
    return SEGLOSS_OK;
}

/* The weights segloss_compute uses. Losses with a CE-family term (ce, weighted_ce, focal,
   focal_dice): cfg->class_weights when given; else, with use_class_weighting, INVERSE weights
   (float)(|V| / n_c) over this input's valid labels (0 for an absent class), as the core
   computes them; else all 1. dice and tversky take no class weights: all 1. The config,
   the input (in->logits may be NULL) and given weights are validated as segloss_compute does.
   No allocation: classes are counted in blocks of 256 per pass over the labels. */
SEGLOSS__API segloss_status segloss_weights_for(const segloss_config *cfg, const segloss_input *in, float *weights)
{
    segloss_status st;
    int64_t k, c;
    if (!cfg || !weights) return SEGLOSS_ERR_NULL;
    if ((st = segloss__check_config(cfg)) != SEGLOSS_OK) return st;
    if ((st = segloss__mx_check(in, 0, cfg->ignore_index)) != SEGLOSS_OK) return st;
    if ((st = segloss__check_weights(cfg, in->c)) != SEGLOSS_OK) return st;
    c = in->c;
    if (!SEGLOSS__HAS_CE_TERM(cfg->loss_type)) {
        for (k = 0; k < c; k++) weights[k] = 1.0f;
    } else if (cfg->class_weights) {
        memcpy(weights, cfg->class_weights, (size_t)c * sizeof(float));
    } else if (cfg->use_class_weighting) {
        int64_t ns = in->n * in->s, total = 0, i, b;
        for (i = 0; i < ns; i++)
            if (segloss__label(in, i) != cfg->ignore_index) total++;
        for (b = 0; b < c; b += 256) {
            int64_t cnt[256];
            int64_t nb = c - b < 256 ? c - b : 256;
            memset(cnt, 0, sizeof cnt);
            for (i = 0; i < ns; i++) {
                int64_t l = segloss__label(in, i);
                if (l != cfg->ignore_index && l >= b && l < b + nb) cnt[l - b]++;
            }
            for (k = 0; k < nb; k++)
                weights[b + k] = cnt[k] > 0 ? (float)((double)total / (double)cnt[k]) : 0.0f;
        }
    } else {
        for (k = 0; k < c; k++) weights[k] = 1.0f;
    }
    return SEGLOSS_OK;
}

/* Confusion counts, prediction = argmax over classes with ties to the lowest class. A NaN logit
   is never greater than anything, so the argmax is taken over the non-NaN logits of the
   position (class 0 if all are NaN); +inf and -inf compare as usual. check_finite does not
   apply here: metrics never fail on logits. */
/* Positions [s_begin, s_end) of sample n into conf[C*C]. */
SEGLOSS__PRIVATE void segloss__confusion_range(const segloss_input *in, int64_t ignore_index, int64_t n,
                                               int64_t s_begin, int64_t s_end, int64_t *conf)
{
    const segloss__isa_table *t = segloss__table();
    const int64_t C = in->c, S = in->s;
    const int B = segloss__block_len(C);
    int64_t s0;
    for (s0 = s_begin; s0 < s_end; s0 += B) {
        /* a block's labels (-1 where ignored; checked before) and its argmax, read from the
           class planes (NCHW), transposed ones (NHWC) or, beyond the buffer, row by row */
        float zt[SEGLOSS__TBUF], pred[SEGLOSS__BLOCK];
        int32_t y[SEGLOSS__BLOCK];
        const int len = (int)(s_end - s0 < B ? s_end - s0 : B);
        const float *rows = in->logits + (n * S + s0) * C;
        int j;
        t->labels(in, ignore_index, n * S + s0, len, y, NULL, 0, 0);
        if (in->layout == SEGLOSS_NCHW) {
            t->argmax(in->logits + n * C * S + s0, S, len, (int)C, pred);
        } else if (C <= SEGLOSS__TBUF) {
            t->transpose(rows, zt, B, len, (int)C, SEGLOSS__TO_PLANES);
            t->argmax(zt, B, len, (int)C, pred);
        } else {
            t->argmax(rows, 1, 1, (int)C, pred); /* len is 1 */
        }
        for (j = 0; j < len; j++)
            if (y[j] >= 0) conf[y[j] * C + (int64_t)pred[j]]++;
    }
}

typedef struct segloss__confusion_ctx {
    const segloss_input *in;
    int64_t ignore;
    segloss__chunking k;
    int64_t *part; /* C*C counts per chunk */
} segloss__confusion_ctx;

SEGLOSS__PRIVATE void segloss__confusion_task(void *ctx, int64_t i)
{
    const segloss__confusion_ctx *r = (const segloss__confusion_ctx *)ctx;
    int64_t n, n0, n1, s0, s1;
    segloss__chunk_at(&r->k, r->in, i, &n0, &n1, &s0, &s1);
    for (n = n0; n < n1; n++) segloss__confusion_range(r->in, r->ignore, n, s0, s1, r->part + i * r->in->c * r->in->c);
}

/* Chunks of whole blocks, each counting into a C x C matrix of its own (at least 8 C^2
   positions a chunk, so that the matrices cost less than the work), added afterwards: counts
   are exact, so any chunking gives the same matrix. */
SEGLOSS__API segloss_status segloss_confusion(const segloss_input *in, int64_t ignore_index, int64_t *confusion)
{
    segloss_status st;
    segloss__confusion_ctx r;
    int64_t C, want, B, i, k;
    if (!confusion) return SEGLOSS_ERR_NULL;
    st = segloss__mx_check(in, 1, ignore_index);
    if (st != SEGLOSS_OK) return st;
    C = in->c;
    if (C > (1 << 24)) return SEGLOSS_ERR_SHAPE; /* C*C counts would not fit memory anyway */
    B = segloss__block_len(C);
    want = 8 * C * C > SEGLOSS__CHUNK ? 8 * C * C : SEGLOSS__CHUNK;
    r.in = in;
    r.ignore = ignore_index;
    r.k = segloss__chunks(in, (want + B - 1) / B * B, 1);
    if (r.k.count == 1) { /* straight into the caller's matrix */
        for (i = 0; i < in->n; i++) segloss__confusion_range(in, ignore_index, i, 0, in->s, confusion);
        return SEGLOSS_OK;
    }
    if (!(r.part = (int64_t *)SEGLOSS_MALLOC((size_t)(r.k.count * C * C) * sizeof(int64_t)))) return SEGLOSS_ERR_NOMEM;
    memset(r.part, 0, (size_t)(r.k.count * C * C) * sizeof(int64_t));
    segloss__parallel_for(segloss__confusion_task, &r, r.k.count, in->n * in->s);
    for (i = 0; i < r.k.count; i++)
        for (k = 0; k < C * C; k++) confusion[k] += r.part[i * C * C + k];
    SEGLOSS_FREE(r.part);
    return SEGLOSS_OK;
}

SEGLOSS__PRIVATE double segloss__mx_ratio(int64_t num, int64_t den)
{
    return den > 0 ? (double)num / (double)den : (double)NAN;
}

/* Recall TP/(TP+FN), precision TP/(TP+FP), IoU TP/(TP+FP+FN), Dice 2TP/(2TP+FP+FN); 0/0 is
   NaN. per_class may be NULL. Returns the mean IoU over classes whose IoU is not NaN (NaN if
   none, or if confusion is NULL or c <= 0). */
SEGLOSS__API double segloss_metrics(const int64_t *confusion, int64_t c, segloss_class_metrics *per_class)
{
    int64_t k, j, used = 0;
    double sum = 0.0;
    if (!confusion || c <= 0) return (double)NAN;
    for (k = 0; k < c; k++) {
        int64_t tp = confusion[k * c + k], row = 0, col = 0, fp, fn;
        double iou;
        for (j = 0; j < c; j++) {
            row += confusion[k * c + j];
            col += confusion[j * c + k];
        }
        fn = row - tp;
        fp = col - tp;
        iou = segloss__mx_ratio(tp, tp + fp + fn);
        if (iou == iou) {
            sum += iou;
            used++;
        }
        if (per_class) {
            per_class[k].tp = tp;
            per_class[k].fp = fp;
            per_class[k].fn = fn;
            per_class[k].recall = segloss__mx_ratio(tp, tp + fn);
            per_class[k].precision = segloss__mx_ratio(tp, tp + fp);
            per_class[k].iou = iou;
            per_class[k].dice = segloss__mx_ratio(2 * tp, 2 * tp + fp + fn);
        }
    }
    return used ? sum / (double)used : (double)NAN;
}

/* Flag of one class: 1 over-predicting (recall - precision > 0.2), -1 under-predicting
   (precision - recall > 0.2), 0 balanced, 2 unknown (recall or precision NaN). */
SEGLOSS__PRIVATE int segloss__mx_flag(const segloss_class_metrics *m)
{
    if (!(m->recall == m->recall) || !(m->precision == m->precision)) return 2;
    if (m->recall - m->precision > 0.2) return 1;
    if (m->precision - m->recall > 0.2) return -1;
    return 0;
}

SEGLOSS__PRIVATE void segloss__mx_num(char *tmp, size_t n, int width, double v)
{
    if (v == v) snprintf(tmp, n, "%*.2f", width, v);
    else snprintf(tmp, n, "%*s", width, "n/a");
}

/* The table (every line ends in '\n'):
       Class    Val Recall  Val Precision  Val IoU
       ------------------------------------------------
       bg            0.95        0.92        0.88  Good balance
       mito          0.91        0.45        0.42  Over-predicting (high recall, low precision)
   The name column is 8 wide (wider if a name needs it); values "%.2f" in columns of 10, 12, 12;
   NaN prints "n/a", and a row whose recall or precision is NaN gets no flag. names NULL (or a
   NULL entry): "class k". Returns the length needed like snprintf, -1 if m is NULL or c <= 0. */
SEGLOSS__API int segloss_metrics_format(const segloss_class_metrics *m, int64_t c, const char *const *names,
                                        char *buf, size_t size)
{
    segloss__tx_out o;
    int64_t k;
    int w = 8, i;
    char tmp[96], nm[32];
    o.buf = buf;
    o.size = buf ? size : 0;
    o.len = 0;
    if (o.size > 0) buf[0] = 0;
    if (!m || c <= 0 || c > (int64_t)(INT_MAX / 128)) return -1;
    for (k = 0; k < c; k++) {
        size_t len;
        if (names && names[k]) len = strlen(names[k]);
        else len = (size_t)snprintf(nm, sizeof nm, "class %lld", (long long)k);
        if (len + 1 > (size_t)w && len < 64) w = (int)len + 1;
    }
    snprintf(tmp, sizeof tmp, "%-*s", w + 1, "Class");
    segloss__tx_puts(&o, tmp);
    segloss__tx_puts(&o, "Val Recall  Val Precision  Val IoU\n");
    for (i = 0; i < w + 40; i++) segloss__tx_puts(&o, "-");
    segloss__tx_puts(&o, "\n");
    for (k = 0; k < c; k++) {
        const char *name = names && names[k] ? names[k] : NULL;
        int f = segloss__mx_flag(&m[k]);
        if (!name) {
            snprintf(nm, sizeof nm, "class %lld", (long long)k);
            name = nm;
        }
        segloss__tx_puts(&o, name);
        for (i = (int)strlen(name); i < w; i++) segloss__tx_puts(&o, " ");
        segloss__mx_num(tmp, sizeof tmp, 10, m[k].recall);
        segloss__tx_puts(&o, tmp);
        segloss__mx_num(tmp, sizeof tmp, 12, m[k].precision);
        segloss__tx_puts(&o, tmp);
        segloss__mx_num(tmp, sizeof tmp, 12, m[k].iou);
        segloss__tx_puts(&o, tmp);
        if (f == 1) segloss__tx_puts(&o, "  Over-predicting (high recall, low precision)");
        else if (f == -1) segloss__tx_puts(&o, "  Under-predicting (low recall, high precision)");
        else if (f == 0) segloss__tx_puts(&o, "  Good balance");
        segloss__tx_puts(&o, "\n");
    }
    return segloss__tx_finish(&o);
}

/* The advisor: the loss guide's decision tree and troubleshooting, deterministic.
   Thresholds: imbalance = largest / smallest count among present classes >= 3; over-predicting
   class = recall - precision > 0.2 (under: precision - recall > 0.2), the class with the
   largest gap, over-prediction first; low IoU = mean IoU (non-NaN classes) < 0.5.
   First matching rule wins:
    1. diverged: keep the loss type (current's; else what rules 6-8 pick), dice_smooth raised
       to 10; reason: lower the learning rate (e.g. 1e-4) and raise dice_smooth.
    2. metrics show an over-predicting class:
         current focal / focal_dice with gamma < 5: focal_gamma to the next of 2, 3, 5;
         current focal / focal_dice with gamma >= 5: tversky alpha 0.7 beta 0.3;
         current tversky: tversky_alpha to the next of 0.7, 0.8, 0.9 (beta = 1 - alpha);
           at 0.9 already: keep, check the labels;
         current dice: focal_dice (adds the focal term), use_class_weighting;
         otherwise (ce, weighted_ce, none): focal gamma 2 with use_class_weighting.
    3. metrics show an under-predicting class: tversky alpha 0.3 beta 0.7 (current tversky:
       tversky_beta to the next of 0.7, 0.8, 0.9, alpha = 1 - beta; at 0.9: keep).
    4. balanced but mean IoU < 0.5: focal_dice with use_class_weighting; current focal_dice:
       focal_weight 0.3, dice_weight 0.7; already there: keep, check labels/capacity/epochs.
    5. balanced, mean IoU >= 0.5, a current config: keep it.
    6. counts known, no imbalance (ratio < 3 or fewer than 2 present classes): ce.
    7. counts show imbalance: current NULL or ce: weighted_ce baseline; else keep current.
    8. nothing known: keep current, or ce.
   The suggestion keeps current's ignore_index, include_background, per_sample, reduction and
   check_finite, and the parameters both loss types share (gamma and focal_alpha; smooth);
   class_weights and pos_weight NULL (the advice cannot own arrays).

   Binary problems: c == 1 (one sigmoid channel: softmax over one logit is 1 everywhere, a
   constant loss), or a current config with activation sigmoid (every channel its own binary
   problem). Every suggestion then has activation sigmoid and label_smoothing 0 (smoothing is
   the softmax CE term's), and a focal term it newly suggests balances by focal_alpha (0.25,
   torchvision's) instead of use_class_weighting. Rule 1 as above, then:
    1b. c == 1 with a softmax current config: the same loss with the sigmoid.
    2-5 as above (for c == 1, "class 0" is the foreground channel: its metrics are the
       foreground's, from predictions p > 0.5).
    6-8 read the foreground fraction f instead of the largest/smallest ratio:
       f = the rarest side of any channel, min over channels k of min(n_k, V - n_k) / V with
       V = sum of counts: counts from segloss_label_histogram over integer labels (one class
       per position), so n_k / V is channel k's positive fraction (one-vs-rest) and, for a
       one-channel model, c = 2 counts [background, foreground] give f = the foreground's.
         f >= 0.25 (or one class only): 'ce', plain BCE;
         0.01 <= f < 0.25: current NULL or ce: 'weighted_ce' (automatic pos_weight
           (1 - f) / f), the reason naming sigmoid 'focal' (alpha 0.25, gamma 2) as the
           alternative; else keep current;
         f < 0.01 (tiny): current dice, focal_dice, tversky or generalized_dice: keep; else
           'focal_dice' (focal alpha 0.25 gamma 2 + Dice, which sees the overlap).
       c == 1: counts holds one entry, and one count gives no fraction (is it the positives,
       as a one-vs-rest count of label 1, or the label-0 count of a histogram of class 0?
       either way V is unknown): it is not read, and rule 8 says so (keep current, or 'ce').
       Per-channel targets (multi-label) may count a position in several channels: V is then
       larger than the positions and f a lower bound (the advice errs towards rare). */

#define SEGLOSS__ADV_SMOOTHED(t) \
    ((t) == SEGLOSS_DICE || (t) == SEGLOSS_FOCAL_DICE || (t) == SEGLOSS_TVERSKY || (t) == SEGLOSS_GENERALIZED_DICE)

SEGLOSS__PRIVATE void segloss__adv_base(segloss_config *out, segloss_loss_type t, const segloss_config *cur)
{
    if (cur && cur->loss_type == t) {
        *out = *cur;
    } else {
        segloss_config_init(out, t);
        if (cur) {
            segloss_loss_type ct = cur->loss_type;
            out->ignore_index = cur->ignore_index;
            out->include_background = cur->include_background;
            out->per_sample = cur->per_sample;
            out->reduction = cur->reduction;
            out->check_finite = cur->check_finite;
            out->activation = cur->activation;
            if ((ct == SEGLOSS_FOCAL || ct == SEGLOSS_FOCAL_DICE) && (t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE)) {
                out->focal_gamma = cur->focal_gamma;
                out->focal_alpha = cur->focal_alpha;
            }
            if (SEGLOSS__ADV_SMOOTHED(ct) && SEGLOSS__ADV_SMOOTHED(t)) out->dice_smooth = cur->dice_smooth;
        }
    }
    out->class_weights = NULL;
    out->pos_weight = NULL;
}

/* Tversky already in use and class cls still over-predicted (raise alpha) or under-predicted
   (raise beta): step the raised weight 0.7 -> 0.8 -> 0.9, the other one 1 minus it; past 0.9,
   keep the configuration and point at the labels. */
SEGLOSS__PRIVATE void segloss__adv_tversky_step(segloss_config *o, const segloss_config *cur, int over_side,
                                                int64_t cls, const segloss_class_metrics *m, char *why,
                                                size_t why_size)
{
    const char *side = over_side ? "over" : "under", *name = over_side ? "alpha" : "beta";
    const float w = over_side ? cur->tversky_alpha : cur->tversky_beta;
    segloss__adv_base(o, SEGLOSS_TVERSKY, cur);
    if (w < 0.9f - 1e-6f) {
        const float nw = w < 0.7f - 1e-6f ? 0.7f : w < 0.8f - 1e-6f ? 0.8f : 0.9f;
        const float rest = nw == 0.7f ? 0.3f : nw == 0.8f ? 0.2f : 0.1f;
        o->tversky_alpha = over_side ? nw : rest;
        o->tversky_beta = over_side ? rest : nw;
        snprintf(why, why_size,
                 "class %lld %s-predicted with tversky %s %g (recall %.2f vs precision %.2f): "
                 "raise tversky_%s to %g, %s %g", (long long)cls, side, name, (double)w, m->recall,
                 m->precision, name, (double)nw, over_side ? "beta" : "alpha", (double)rest);
    } else {
        snprintf(why, why_size,
                 "class %lld %s-predicted even with tversky %s %g (recall %.2f vs precision %.2f): "
                 "check label quality", (long long)cls, side, name, (double)w, m->recall, m->precision);
    }
}


/* What the rules read, taken from the inputs once. */
typedef struct segloss__adv_facts {
    const segloss_config *cur;             /* the config in use; NULL when none or of an unknown loss type */
    const segloss_class_metrics *metrics;
    int diverged;
    int64_t over, under; /* the class most over- / under-predicted (first of equal gaps), -1 if none */
    int64_t used;        /* classes whose IoU is not NaN, and their mean IoU */
    double miou;
    int64_t present;     /* classes with a count > 0, and the largest / smallest of those counts */
    double ratio;
    int binary;          /* c == 1 or a sigmoid current config: the sigmoid rules */
    int64_t c;
    double fg;           /* binary: the foreground fraction f (see above); -1 when unknown */
} segloss__adv_facts;

SEGLOSS__PRIVATE void segloss__adv_read(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                                        const segloss_config *current, int diverged, segloss__adv_facts *f)
{
    int64_t k, lo = INT64_MAX, hi = 0;
    double gap_over = 0.0, gap_under = 0.0;
    memset(f, 0, sizeof *f);
    f->cur = current && segloss_loss_name(current->loss_type) ? current : NULL;
    f->metrics = metrics;
    f->diverged = diverged;
    f->over = f->under = -1;
    for (k = 0; metrics && k < c; k++) {
        const int flag = segloss__mx_flag(&metrics[k]);
        const double d = metrics[k].recall - metrics[k].precision;
        if (flag == 1 && d > gap_over) {
            gap_over = d;
            f->over = k;
        }
        if (flag == -1 && -d > gap_under) {
            gap_under = -d;
            f->under = k;
        }
        if (metrics[k].iou == metrics[k].iou) {
            f->miou += metrics[k].iou;
            f->used++;
        }
    }
    if (f->used) f->miou /= (double)f->used;
    for (k = 0; counts && k < c; k++)
        if (counts[k] > 0) {
            f->present++;
            if (counts[k] < lo) lo = counts[k];
            if (counts[k] > hi) hi = counts[k];
        }
    if (f->present) f->ratio = (double)hi / (double)lo;
    f->c = c;
    f->binary = c == 1 || (f->cur && f->cur->activation == SEGLOSS_SIGMOID);
    f->fg = -1.0;
    if (f->binary && counts && c >= 2) {
        double total = 0.0;
        for (k = 0; k < c; k++)
            if (counts[k] > 0) total += (double)counts[k];
        for (k = 0; k < c; k++)
            if (counts[k] > 0 && (double)counts[k] < total) {
                const double p = (double)counts[k] / total, side = p < 0.5 ? p : 1.0 - p;
                if (f->fg < 0.0 || side < f->fg) f->fg = side;
            }
    }
}

/* A rule: when it applies, writes the suggestion into o and the reason into why and returns 1;
   else returns 0 and writes nothing. Each rule is tried only when the ones before it (in the
   order of the tables below) did not apply, and relies on that. */
typedef int (*segloss__adv_rule)(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size);

SEGLOSS__PRIVATE int segloss__adv_first(const segloss__adv_rule *rules, size_t n, const segloss__adv_facts *f,
                                        segloss_config *o, char *why, size_t why_size)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (rules[i](f, o, why, why_size)) return 1;
    return 0;
}

SEGLOSS__PRIVATE int segloss__adv_uses(const segloss__adv_facts *f, segloss_loss_type t)
{
    return f->cur && f->cur->loss_type == t;
}

SEGLOSS__PRIVATE int segloss__adv_low_iou(const segloss__adv_facts *f)
{
    return f->used && f->miou < 0.5;
}

/* Rules 6-8 as one rule: it always applies. Rule 1 uses it too. */
SEGLOSS__PRIVATE int segloss__adv_by_counts(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size);

/* 1. The loss diverged: whatever the metrics say, the step is too large for this loss. */
SEGLOSS__PRIVATE int segloss__adv_diverged(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    if (!f->diverged) return 0;
    if (f->cur) segloss__adv_base(o, f->cur->loss_type, f->cur);
    else segloss__adv_by_counts(f, o, why, why_size); /* its reason is replaced below */
    if (!(o->dice_smooth >= 10.0f)) o->dice_smooth = 10.0f;
    snprintf(why, why_size,
             "loss diverged: lower the learning rate (e.g. 1e-4) and raise dice_smooth to %g; keep '%s'",
             (double)o->dice_smooth, segloss_loss_name(o->loss_type));
    return 1;
}

SEGLOSS__PRIVATE int segloss__adv_focal(const segloss__adv_facts *f)
{
    return segloss__adv_uses(f, SEGLOSS_FOCAL) || segloss__adv_uses(f, SEGLOSS_FOCAL_DICE);
}

/* 2a. A class over-predicted with focal loss in use: down-weight the easy pixels more. */
SEGLOSS__PRIVATE int segloss__adv_over_gamma(const segloss__adv_facts *f, segloss_config *o, char *why,
                                             size_t why_size)
{
    const segloss_class_metrics *m;
    float g, ng;
    if (f->over < 0 || !segloss__adv_focal(f) || !(f->cur->focal_gamma < 5.0f)) return 0;
    m = &f->metrics[f->over];
    g = f->cur->focal_gamma;
    ng = g < 2.0f ? 2.0f : g < 3.0f ? 3.0f : 5.0f;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    o->focal_gamma = ng;
    snprintf(why, why_size,
             "class %lld still over-predicted with focal_gamma %g (recall %.2f vs precision %.2f): "
             "raise focal_gamma to %g", (long long)f->over, (double)g, m->recall, m->precision, (double)ng);
    return 1;
}

/* 2b. ... with gamma at 5 or more (or NaN): a larger gamma no longer helps; penalise false
   positives directly. */
SEGLOSS__PRIVATE int segloss__adv_over_gamma_spent(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                   size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->over < 0 || !segloss__adv_focal(f)) return 0;
    m = &f->metrics[f->over];
    segloss__adv_base(o, SEGLOSS_TVERSKY, f->cur);
    o->tversky_alpha = 0.7f;
    o->tversky_beta = 0.3f;
    snprintf(why, why_size,
             "class %lld still over-predicted with focal_gamma %g (recall %.2f vs precision %.2f): "
             "tversky alpha 0.7 beta 0.3 penalises false positives", (long long)f->over,
             (double)f->cur->focal_gamma, m->recall, m->precision);
    return 1;
}

/* 2c. ... with tversky in use: raise alpha. */
SEGLOSS__PRIVATE int segloss__adv_over_tversky(const segloss__adv_facts *f, segloss_config *o, char *why,
                                               size_t why_size)
{
    if (f->over < 0 || !segloss__adv_uses(f, SEGLOSS_TVERSKY)) return 0;
    segloss__adv_tversky_step(o, f->cur, 1, f->over, &f->metrics[f->over], why, why_size);
    return 1;
}

/* 2d. ... with dice in use: Dice alone does not tell easy background from hard; add focal. */
SEGLOSS__PRIVATE int segloss__adv_over_dice(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->over < 0 || !segloss__adv_uses(f, SEGLOSS_DICE)) return 0;
    m = &f->metrics[f->over];
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "class %lld over-predicted with dice (recall %.2f vs precision %.2f): focal_dice adds focal "
             "loss, which down-weights easy background", (long long)f->over, m->recall, m->precision);
    return 1;
}

/* 2e. ... with ce, weighted_ce or no config: focal loss. */
SEGLOSS__PRIVATE int segloss__adv_over(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->over < 0) return 0;
    m = &f->metrics[f->over];
    segloss__adv_base(o, SEGLOSS_FOCAL, f->cur);
    o->focal_gamma = 2.0f;
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "class %lld over-predicted: recall %.2f vs precision %.2f; focal loss (gamma 2) down-weights "
             "easy background", (long long)f->over, m->recall, m->precision);
    return 1;
}

/* 3a. A class under-predicted (and none over-predicted) with tversky in use: raise beta. */
SEGLOSS__PRIVATE int segloss__adv_under_tversky(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (f->under < 0 || !segloss__adv_uses(f, SEGLOSS_TVERSKY)) return 0;
    segloss__adv_tversky_step(o, f->cur, 0, f->under, &f->metrics[f->under], why, why_size);
    return 1;
}

/* 3b. ... otherwise: tversky weighted against false negatives. */
SEGLOSS__PRIVATE int segloss__adv_under(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->under < 0) return 0;
    m = &f->metrics[f->under];
    segloss__adv_base(o, SEGLOSS_TVERSKY, f->cur);
    o->tversky_alpha = 0.3f;
    o->tversky_beta = 0.7f;
    snprintf(why, why_size,
             "class %lld under-predicted: recall %.2f vs precision %.2f; tversky alpha 0.3 beta 0.7 "
             "penalises false negatives", (long long)f->under, m->recall, m->precision);
    return 1;
}

/* 4a. Classes balanced but mean IoU low with focal_dice in use: give the overlap term more weight. */
SEGLOSS__PRIVATE int segloss__adv_low_iou_reweight(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                   size_t why_size)
{
    if (!segloss__adv_low_iou(f) || !segloss__adv_uses(f, SEGLOSS_FOCAL_DICE)) return 0;
    if (!(f->cur->focal_weight > 0.3f + 1e-6f || f->cur->dice_weight < 0.7f - 1e-6f)) return 0;
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    o->focal_weight = 0.3f;
    o->dice_weight = 0.7f;
    snprintf(why, why_size,
             "mean IoU %.2f < 0.5 despite focal_dice, classes balanced: shift weight to Dice "
             "(focal_weight 0.3, dice_weight 0.7)", f->miou);
    return 1;
}

/* 4b. ... weights at 0.3/0.7 already: the loss is not what holds the model back. */
SEGLOSS__PRIVATE int segloss__adv_low_iou_spent(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (!segloss__adv_low_iou(f) || !segloss__adv_uses(f, SEGLOSS_FOCAL_DICE)) return 0;
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    snprintf(why, why_size,
             "mean IoU %.2f < 0.5 despite focal_dice 0.3/0.7: check label quality, raise model "
             "capacity, train longer", f->miou);
    return 1;
}

/* 4c. ... with another loss: optimise the overlap itself. */
SEGLOSS__PRIVATE int segloss__adv_low_iou_other(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (!segloss__adv_low_iou(f)) return 0;
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "classes balanced but mean IoU %.2f < 0.5: focal_dice optimises overlap directly", f->miou);
    return 1;
}

/* 5. Metrics balanced and mean IoU >= 0.5: the config in use works. */
SEGLOSS__PRIVATE int segloss__adv_good(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    if (!f->used || !f->cur) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size, "per-class metrics balanced and mean IoU %.2f >= 0.5: keep '%s'", f->miou,
             segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 6. No metrics to go by; counts balanced (or one class present): plain cross entropy. */
SEGLOSS__PRIVATE int segloss__adv_balanced(const segloss__adv_facts *f, segloss_config *o, char *why,
                                           size_t why_size)
{
    if (f->present == 0 || !(f->present < 2 || f->ratio < 3.0)) return 0;
    segloss__adv_base(o, SEGLOSS_CE, f->cur);
    snprintf(why, why_size,
             "classes balanced (largest/smallest frequency %.1f < 3): plain cross entropy 'ce'", f->ratio);
    return 1;
}

/* 7a. Counts imbalanced, with ce or no config: weighted cross entropy as the baseline. */
SEGLOSS__PRIVATE int segloss__adv_imbalance(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size)
{
    if (f->present == 0 || (f->cur && f->cur->loss_type != SEGLOSS_CE)) return 0;
    segloss__adv_base(o, SEGLOSS_WEIGHTED_CE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "class imbalance (largest/smallest frequency %.1f): 'weighted_ce' baseline, then check "
             "per-class recall and precision", f->ratio);
    return 1;
}

/* 7b. ... with another loss, chosen for the imbalance already: keep it until metrics say otherwise. */
SEGLOSS__PRIVATE int segloss__adv_imbalance_keep(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                 size_t why_size)
{
    if (f->present == 0) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size,
             "class imbalance (largest/smallest frequency %.1f), no metrics yet: keep '%s', then check "
             "per-class recall and precision", f->ratio, segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 8a. Nothing known (no counts, no metrics): keep the config in use. */
SEGLOSS__PRIVATE int segloss__adv_unknown_keep(const segloss__adv_facts *f, segloss_config *o, char *why,
                                               size_t why_size)
{
    if (!f->cur) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size, "no class counts or metrics: keep '%s'", segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 8b. ... and none in use: the baseline. */
SEGLOSS__PRIVATE int segloss__adv_unknown(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    segloss__adv_base(o, SEGLOSS_CE, f->cur);
    snprintf(why, why_size, "%s", "no class counts or metrics: start with 'ce' as a baseline");
    return 1;
}

static const segloss__adv_rule segloss__adv_count_rules[] = {
    segloss__adv_balanced, segloss__adv_imbalance, segloss__adv_imbalance_keep, segloss__adv_unknown_keep,
    segloss__adv_unknown
};

/* ---- binary problems (see above): the sigmoid is set afterwards, in segloss__advise ---- */

SEGLOSS__PRIVATE int segloss__adv_dice_family(segloss_loss_type t)
{
    return t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY || t == SEGLOSS_GENERALIZED_DICE;
}

/* 1b. One channel under softmax: the loss is constant, nothing else matters until it is fixed. */
SEGLOSS__PRIVATE int segloss__adv_bin_softmax(const segloss__adv_facts *f, segloss_config *o, char *why,
                                              size_t why_size)
{
    if (f->c != 1 || !f->cur || f->cur->activation == SEGLOSS_SIGMOID) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size,
             "one channel (C = 1) under softmax: p = 1 everywhere, the loss is constant; set "
             "activation='sigmoid' and keep '%s'", segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 6. Foreground not rare (or one class only): plain BCE. */
SEGLOSS__PRIVATE int segloss__adv_bin_balanced(const segloss__adv_facts *f, segloss_config *o, char *why,
                                               size_t why_size)
{
    if (f->present == 0 || f->c < 2 || (f->fg >= 0.0 && f->fg < 0.25)) return 0;
    segloss__adv_base(o, SEGLOSS_CE, f->cur);
    if (f->fg < 0.0)
        snprintf(why, why_size, "%s",
                 "binary, only one class in the counts: plain BCE, 'ce' with activation='sigmoid'");
    else
        snprintf(why, why_size,
                 "binary, foreground balanced (rarest side %.1f%% of positions >= 25%%): plain BCE, 'ce' with "
                 "activation='sigmoid'", 100.0 * f->fg);
    return 1;
}

/* 7t. Tiny foreground: BCE and focal see almost only background; Dice sees the overlap. */
SEGLOSS__PRIVATE int segloss__adv_bin_tiny(const segloss__adv_facts *f, segloss_config *o, char *why,
                                           size_t why_size)
{
    if (!(f->fg >= 0.0 && f->fg < 0.01)) return 0;
    if (f->cur && segloss__adv_dice_family(f->cur->loss_type)) {
        segloss__adv_base(o, f->cur->loss_type, f->cur);
        snprintf(why, why_size,
                 "tiny foreground (%.2f%% of positions), no metrics yet: keep sigmoid '%s', then check recall "
                 "and precision", 100.0 * f->fg, segloss_loss_name(f->cur->loss_type));
        return 1;
    }
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    snprintf(why, why_size,
             "tiny foreground (%.2f%% of positions): sigmoid 'focal_dice' (focal alpha 0.25 gamma 2 + Dice) "
             "optimises the overlap that BCE drowns", 100.0 * f->fg);
    return 1;
}

/* 7a. Rare foreground with ce or no config: BCE weighted by pos_weight = negatives / positives. */
SEGLOSS__PRIVATE int segloss__adv_bin_rare(const segloss__adv_facts *f, segloss_config *o, char *why,
                                           size_t why_size)
{
    if (!(f->fg >= 0.0) || (f->cur && f->cur->loss_type != SEGLOSS_CE)) return 0;
    segloss__adv_base(o, SEGLOSS_WEIGHTED_CE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "rare foreground (%.1f%% of positions): 'weighted_ce' with activation='sigmoid' (automatic "
             "pos_weight %.1f), or sigmoid 'focal' (alpha 0.25, gamma 2)", 100.0 * f->fg, (1.0 - f->fg) / f->fg);
    return 1;
}

/* 7b. ... with another loss, chosen for the imbalance already: keep it until metrics say otherwise. */
SEGLOSS__PRIVATE int segloss__adv_bin_rare_keep(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (!(f->fg >= 0.0)) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size,
             "rare foreground (%.1f%% of positions), no metrics yet: keep sigmoid '%s', then check recall and "
             "precision", 100.0 * f->fg, segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 8. No fraction to go by (no counts, or c == 1's single count): keep the config in use, or BCE. */
SEGLOSS__PRIVATE int segloss__adv_bin_unknown(const segloss__adv_facts *f, segloss_config *o, char *why,
                                              size_t why_size)
{
    const char *what = f->present && f->c == 1 ? "one count gives no foreground fraction (pass c = 2: background, "
                                                 "foreground)"
                                               : "no class counts or metrics";
    if (f->cur) {
        segloss__adv_base(o, f->cur->loss_type, f->cur);
        snprintf(why, why_size, "binary, %s: keep sigmoid '%s'", what, segloss_loss_name(f->cur->loss_type));
    } else {
        segloss__adv_base(o, SEGLOSS_CE, f->cur);
        snprintf(why, why_size, "binary, %s: start with BCE, 'ce' with activation='sigmoid'", what);
    }
    return 1;
}

static const segloss__adv_rule segloss__adv_bin_count_rules[] = {
    segloss__adv_bin_balanced, segloss__adv_bin_tiny, segloss__adv_bin_rare, segloss__adv_bin_rare_keep,
    segloss__adv_bin_unknown
};

SEGLOSS__PRIVATE int segloss__adv_by_counts(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size)
{
    if (f->binary)
        return segloss__adv_first(segloss__adv_bin_count_rules,
                                  sizeof segloss__adv_bin_count_rules / sizeof(segloss__adv_rule), f, o, why, why_size);
    return segloss__adv_first(segloss__adv_count_rules, sizeof segloss__adv_count_rules / sizeof(segloss__adv_rule),
                              f, o, why, why_size);
}

/* The guide's order: divergence first, then what the metrics show (over-prediction before
   under-prediction before low IoU), and the class counts only when there are no metrics. */
static const segloss__adv_rule segloss__adv_rules[] = {
    segloss__adv_diverged, segloss__adv_bin_softmax,
    segloss__adv_over_gamma, segloss__adv_over_gamma_spent, segloss__adv_over_tversky, segloss__adv_over_dice,
    segloss__adv_over,
    segloss__adv_under_tversky, segloss__adv_under,
    segloss__adv_low_iou_reweight, segloss__adv_low_iou_spent, segloss__adv_low_iou_other,
    segloss__adv_good,
    segloss__adv_by_counts
};

/* Writes the reason into why. */
SEGLOSS__PRIVATE void segloss__advise(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                                      const segloss_config *current, int diverged, segloss_advice *out, char *why,
                                      size_t why_size)
{
    segloss__adv_facts f;
    segloss__adv_read(counts, metrics, c, current, diverged, &f);
    segloss__adv_first(segloss__adv_rules, sizeof segloss__adv_rules / sizeof(segloss__adv_rule), &f, &out->config,
                       why, why_size);
    if (f.binary) {
        segloss_config *o = &out->config;
        const int was_focal = f.cur && (f.cur->loss_type == SEGLOSS_FOCAL || f.cur->loss_type == SEGLOSS_FOCAL_DICE);
        const int fresh_focal = (o->loss_type == SEGLOSS_FOCAL || o->loss_type == SEGLOSS_FOCAL_DICE) && !was_focal;
        o->activation = SEGLOSS_SIGMOID;
        o->label_smoothing = 0.0f;
        if (fresh_focal) {
            o->focal_alpha = 0.25f;
            o->use_class_weighting = 0;
        }
    } else {
        out->config.activation = SEGLOSS_SOFTMAX; /* whatever a current config of another value held */
    }
}

SEGLOSS__API void segloss_advise(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                                 const segloss_config *current, int diverged, segloss_advice *out)
{
    char line[1024]; /* larger than any reason can be: no truncation warnings; cut to 159 below */
    size_t len;
    if (!out) return;
    memset(out, 0, sizeof *out);
    line[0] = 0;
    segloss__advise(counts, metrics, c, current, diverged, out, line, sizeof line);
    len = strlen(line);
    if (len > sizeof out->reason - 1) len = sizeof out->reason - 1;
    memcpy(out->reason, line, len);
    out->reason[len] = 0;
}

#endif /* SEGLOSS__METRICS_H */
/* ---- end kernels/metrics.h ---- */

#if defined(__clang__)
#pragma float_control(pop)
#elif defined(SEGLOSS__GCC_NO_FAST_MATH)
#undef SEGLOSS__GCC_NO_FAST_MATH
#pragma GCC pop_options
#endif
#endif /* SEGLOSS_IMPLEMENTATION */

#else /* SEGLOSS__KERNEL_PASS */
/* Each isa_*.h defines SEGLOSS__KERNEL_PASS and includes this file again (SEGLOSS_HEADER_FILE)
   to compile the kernels with its vocabulary: the one file a user copies holds them once. */
/* ---- begin kernels/loss_kernels.h ---- */
/* ---- kernels/loss_kernels.h: THE KERNELS, written once over the vocabulary ------------- */
#ifndef SEGLOSS__ISA
/* Opened on its own (an editor, make check-parts): compile them with the scalar vocabulary. */
#else
/* Each isa_*.h compiles this file once with SEGLOSS__ISA set to avx512, avx2, neon or scalar;
   SEGLOSS__V(op) names that ISA's vocabulary (the contract: isa_scalar.h), SEGLOSS__K(name)
   the function compiled for it.

   Reproducibility: every path runs the same operation sequence per position, with explicit
   fused multiply-adds (never a product fed straight into an add, so no compiler contraction
   can differ between paths), and sums in 16 virtual lanes combined in one fixed tree. The
   FMA paths (avx512, avx2, native neon, scalar with fmaf) therefore give bit-identical
   results; "sse2" has no FMA and differs by rounding. */

#define SEGLOSS__V(op) SEGLOSS__CAT(SEGLOSS__CAT(segloss__, SEGLOSS__ISA), _##op)
#define SEGLOSS__K(name) SEGLOSS__CAT(segloss__##name##__, SEGLOSS__ISA)
#define SEGLOSS__F SEGLOSS__V(f)
#define SEGLOSS__I SEGLOSS__V(i)
#define SEGLOSS__M SEGLOSS__V(m)
#define SEGLOSS__W SEGLOSS__CAT(SEGLOSS__CAT(SEGLOSS__, SEGLOSS__ISA), _W)
#define SEGLOSS__U (SEGLOSS__LANES / SEGLOSS__W)  /* vectors per 16-lane group */
#define SEGLOSS__SPLAT(x) SEGLOSS__V(set1)(x) /* x in every lane */
/* load/store cnt lanes (cnt == W in the main loop, so the branch folds away) */
#define SEGLOSS__LD(p, cnt) ((cnt) == SEGLOSS__W ? SEGLOSS__V(load)(p) : SEGLOSS__V(loadn)(p, cnt))
#define SEGLOSS__ST(p, v, cnt) \
    do { if ((cnt) == SEGLOSS__W) SEGLOSS__V(store)(p, v); else SEGLOSS__V(storen)(p, v, cnt); } while (0)

/* exp(x) for x <= 0, all the kernels need: Cephes polynomial after a two-step ln2 reduction.
   Measured over every float in [-87.3365, 0] against the correctly rounded result: at most
   1.01 ULP (tests/vmath.c). Below, x is clamped: the result is at most FLT_MIN (2^-126), an
   absolute error no softmax sum (>= 1) can see, and it is never 0, so e_y / s stays defined.
   NaN stays NaN. */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(exp)(SEGLOSS__F x)
{
    const SEGLOSS__F magic = SEGLOSS__SPLAT(12582912.0f);
    SEGLOSS__F xc = SEGLOSS__V(max)(SEGLOSS__SPLAT(-87.33654475f), x); /* NaN kept */
    SEGLOSS__F t = SEGLOSS__V(fma)(xc, SEGLOSS__SPLAT(1.44269504089f), magic);    /* n + magic */
    SEGLOSS__F n = SEGLOSS__V(sub)(t, magic);
    SEGLOSS__F r = SEGLOSS__V(fma)(n, SEGLOSS__SPLAT(-0.693359375f), xc);
    SEGLOSS__F p;
    r = SEGLOSS__V(fma)(n, SEGLOSS__SPLAT(2.12194440e-4f), r);
    p = SEGLOSS__V(fma)(SEGLOSS__SPLAT(1.9875691500e-4f), r, SEGLOSS__SPLAT(1.3981999507e-3f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(8.3334519073e-3f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(4.1665795894e-2f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(1.6666665459e-1f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(5.0000001201e-1f));
    p = SEGLOSS__V(fma)(p, SEGLOSS__V(mul)(r, r), r);
    p = SEGLOSS__V(add)(p, SEGLOSS__SPLAT(1.0f));
    /* times 2^n, n in [-126, 0], by adding n to p's exponent field: the low bits of t hold
       n + 0x400000 + magic's mantissa, and shifting them up by 23 keeps n mod 2^9, which
       the 32-bit add turns into n. p >= 0.7 has exponent field >= 126, so the sum stays >= 0. */
    return SEGLOSS__V(asflt)(SEGLOSS__V(iadd)(SEGLOSS__V(asint)(p), SEGLOSS__V(shl23)(SEGLOSS__V(asint)(t))));
}

/* log of a normal positive x (or NaN), its exponent field biased by 8388608 + bias (126, or
   150 for an input scaled by 2^24). Cephes polynomial on the mantissa in [sqrt(1/2), sqrt(2)). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log_core)(SEGLOSS__F x, SEGLOSS__F bias)
{
    const SEGLOSS__F one = SEGLOSS__SPLAT(1.0f), zero = SEGLOSS__SPLAT(0.0f);
    SEGLOSS__I bits = SEGLOSS__V(asint)(x);
    /* exponent field as a float, exactly: 2^23 + k built from bits, minus 2^23 */
    SEGLOSS__F e = SEGLOSS__V(sub)(SEGLOSS__V(asflt)(SEGLOSS__V(ior)(SEGLOSS__V(shr23)(bits), SEGLOSS__V(set1i)(0x4B000000))),
                                   bias);
    SEGLOSS__F m = SEGLOSS__V(asflt)(SEGLOSS__V(ior)(SEGLOSS__V(iand)(bits, SEGLOSS__V(set1i)(0x007FFFFF)),
                                                    SEGLOSS__V(set1i)(0x3F000000))); /* [0.5, 1) */
    SEGLOSS__M small = SEGLOSS__V(lt)(m, SEGLOSS__SPLAT(0.707106781186547524f));
    SEGLOSS__F f = SEGLOSS__V(add)(SEGLOSS__V(sub)(m, one), SEGLOSS__V(sel)(small, m, zero));
    SEGLOSS__F z, p, y;
    e = SEGLOSS__V(sub)(e, SEGLOSS__V(sel)(small, one, zero));
    z = SEGLOSS__V(mul)(f, f);
    p = SEGLOSS__V(fma)(SEGLOSS__SPLAT(7.0376836292e-2f), f, SEGLOSS__SPLAT(-1.1514610310e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(1.1676998740e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(-1.2420140846e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(1.4249322787e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(-1.6668057665e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(2.0000714765e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(-2.4999993993e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(3.3333331174e-1f));
    y = SEGLOSS__V(mul)(SEGLOSS__V(mul)(p, f), z);
    y = SEGLOSS__V(fma)(e, SEGLOSS__SPLAT(-2.12194440e-4f), y);
    y = SEGLOSS__V(fma)(z, SEGLOSS__SPLAT(-0.5f), y);
    y = SEGLOSS__V(add)(f, y);
    y = SEGLOSS__V(fma)(e, SEGLOSS__SPLAT(0.693359375f), y);
    return SEGLOSS__V(add)(y, SEGLOSS__V(sub)(x, x)); /* + 0, or NaN for a NaN x */
}

/* log(x) for finite x >= 0 (denormals included; log(0) = -inf; NaN stays NaN). Measured over
   every float in (0, FLT_MAX] against the correctly rounded result: at most 0.83 ULP
   (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log)(SEGLOSS__F x)
{
    SEGLOSS__M tiny = SEGLOSS__V(lt)(x, SEGLOSS__SPLAT(FLT_MIN));
    SEGLOSS__F y = SEGLOSS__K(log_core)(SEGLOSS__V(sel)(tiny, SEGLOSS__V(mul)(x, SEGLOSS__SPLAT(16777216.0f)), x),
                                        SEGLOSS__V(sel)(tiny, SEGLOSS__SPLAT(8388608.0f + 150.0f), SEGLOSS__SPLAT(8388608.0f + 126.0f)));
    return SEGLOSS__V(sel)(SEGLOSS__V(lt)(x, SEGLOSS__SPLAT(1e-45f)), SEGLOSS__SPLAT(-INFINITY), y);
}

/* log(1 + u) for finite u >= 0, accurate for tiny u: log(w) of w = 1 + u, plus the rounding
   error of w times inv_w ~ 1/w (the correction is tiny, so 1/w to a few ULP is plenty).
   Measured over every float in [0, FLT_MAX]: at most 1.26 ULP (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log1p_w)(SEGLOSS__F u, SEGLOSS__F w, SEGLOSS__F inv_w)
{
    SEGLOSS__F c = SEGLOSS__V(sub)(u, SEGLOSS__V(sub)(w, SEGLOSS__SPLAT(1.0f)));
    return SEGLOSS__V(fma)(c, inv_w, SEGLOSS__K(log_core)(w, SEGLOSS__SPLAT(8388608.0f + 126.0f))); /* w >= 1 */
}
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log1p)(SEGLOSS__F u)
{
    SEGLOSS__F w = SEGLOSS__V(add)(u, SEGLOSS__SPLAT(1.0f));
    return SEGLOSS__K(log1p_w)(u, w, SEGLOSS__V(div)(SEGLOSS__SPLAT(1.0f), w));
}

/* Labels as class indices: y[i] = label of position pos + i, -1 where it equals ignore_index,
   for i < n (n <= SEGLOSS__BLOCK), and -1 on up to the next multiple of 16. With cnt, each
   class's count is added to cnt[c] (classes, C <= SEGLOSS__VCOUNT), or the count of labels
   not ignored to cnt[0] (!classes). With check, returns nonzero when a label is neither a class
   nor ignore_index (a block runner converts labels already checked). uint8 and int32 labels go
   W at a time. */
SEGLOSS__VINLINE SEGLOSS__I SEGLOSS__K(label_vec)(SEGLOSS__I v, SEGLOSS__I ignv, SEGLOSS__I cm1, SEGLOSS__I *bad,
                                                 const int has_ign, const int check)
{
    const SEGLOSS__I zero = SEGLOSS__V(set1i)(0);
    const SEGLOSS__I s = has_ign ? SEGLOSS__V(imask)(SEGLOSS__V(ieq)(v, ignv)) : zero; /* ignored lanes */
    if (check) {
        const SEGLOSS__I v0 = SEGLOSS__V(iandn)(s, v);                                  /* ... as class 0 */
        *bad = SEGLOSS__V(ior)(*bad, SEGLOSS__V(ior)(SEGLOSS__V(imask)(SEGLOSS__V(igt)(v0, cm1)),
                                                      SEGLOSS__V(imask)(SEGLOSS__V(igt)(zero, v0))));
    }
    return SEGLOSS__V(ior)(v, s);
}
SEGLOSS__VINLINE int SEGLOSS__K(labels_vec)(const void *src, int n, int32_t *y, int32_t C, int32_t ign,
                                            const int u8, const int has_ign, const int check)
{
    const SEGLOSS__I cm1 = SEGLOSS__V(set1i)(C - 1), ignv = SEGLOSS__V(set1i)(ign);
    const int full = n - n % SEGLOSS__W;
    SEGLOSS__I bad = SEGLOSS__V(set1i)(0);
    int32_t t[SEGLOSS__W];
    int i, k;
    for (i = 0; i < full; i += SEGLOSS__W) {
        const SEGLOSS__I v = u8 ? SEGLOSS__V(loadu8)((const uint8_t *)src + i) : SEGLOSS__V(loadi)((const int32_t *)src + i);
        SEGLOSS__V(storei)(y + i, SEGLOSS__K(label_vec)(v, ignv, cm1, &bad, has_ign, check));
    }
    if (full < n) { /* the tail, padded with class 0 */
        for (k = 0; k < SEGLOSS__W; k++)
            t[k] = full + k >= n ? 0 : u8 ? ((const uint8_t *)src)[full + k] : ((const int32_t *)src)[full + k];
        SEGLOSS__V(storei)(t, SEGLOSS__K(label_vec)(SEGLOSS__V(loadi)(t), ignv, cm1, &bad, has_ign, check));
        for (k = 0; full + k < n; k++) y[full + k] = t[k];
    }
    if (!check) return 0;
    SEGLOSS__V(storei)(t, bad);
    for (k = 1; k < SEGLOSS__W; k++) t[0] |= t[k];
    return t[0] != 0;
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE int SEGLOSS__K(labels)(const segloss_input *in, int64_t ignore, int64_t pos, int n,
                                                       int32_t *y, int64_t *cnt, int classes, int check)
{
    const int32_t C = (int32_t)in->c; /* in->c <= INT32_MAX, checked with the input */
    const int padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    int i, c, bad = 0;
    if (in->label_type == SEGLOSS_LABEL_I64) {
        const int64_t *src = (const int64_t *)in->labels + pos;
        for (i = 0; i < n; i++) {
            const int64_t v = src[i];
            const int skip = v == ignore;
            bad |= !skip & ((uint64_t)v >= (uint64_t)C);
            y[i] = skip ? -1 : (int32_t)v;
        }
    } else {
        /* an ignore_index the type cannot hold matches nothing */
        const int u8 = in->label_type == SEGLOSS_LABEL_U8;
        const int has_ign = u8 ? ignore >= 0 && ignore <= 255 : ignore >= INT32_MIN && ignore <= INT32_MAX;
        const void *src = u8 ? (const void *)((const uint8_t *)in->labels + pos) : (const void *)((const int32_t *)in->labels + pos);
        const int32_t ign = has_ign ? (int32_t)ignore : 0;
        switch (u8 * 4 + has_ign * 2 + (check != 0)) {
        case 0: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 0, 0); break;
        case 1: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 0, 1); break;
        case 2: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 1, 0); break;
        case 3: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 1, 1); break;
        case 4: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 0, 0); break;
        case 5: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 0, 1); break;
        case 6: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 1, 0); break;
        default: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 1, 1); break;
        }
    }
    for (i = n; i < padded; i++) y[i] = -1;
    if (cnt)
        for (c = 0; c < (classes ? C : 1); c++) { /* counted as -1 per match */
            const SEGLOSS__I cls = SEGLOSS__V(set1i)(classes ? c : -1);
            SEGLOSS__I acc = SEGLOSS__V(set1i)(0);
            int32_t t[SEGLOSS__W];
            int64_t sum = 0;
            for (i = 0; i < padded; i += SEGLOSS__W) {
                const SEGLOSS__I v = SEGLOSS__V(loadi)(y + i);
                acc = SEGLOSS__V(iadd)(acc, SEGLOSS__V(imask)(classes ? SEGLOSS__V(ieq)(v, cls) : SEGLOSS__V(igt)(v, cls)));
            }
            SEGLOSS__V(storei)(t, acc);
            for (i = 0; i < SEGLOSS__W; i++) sum -= t[i];
            cnt[c] += sum;
        }
    return bad;
}

/* A block is processed in phases, each a loop over the block's vectors that hands its
   results to the next through these L1-resident arrays. Short loop bodies let the CPU overlap
   the long dependency chain of one position (max, exp, sum, divide, log) with its
   neighbours'; one fused body per vector would leave it waiting on that chain. */
typedef struct {
    float m[SEGLOSS__BLOCK], d[SEGLOSS__BLOCK];    /* max, max - z_y                        */
    float q[SEGLOSS__BLOCK], ey[SEGLOSS__BLOCK];   /* sum_{c != y} e_c, e_y (e_c = e^(z_c - m)) */
    float wy[SEGLOSS__BLOCK];                      /* CE-family coefficient w[y]            */
    float ea[SEGLOSS__BLOCK], by[SEGLOSS__BLOCK];  /* Dice: sum_c e_c (A_c - A_r), B_y      */
    float ar[SEGLOSS__BLOCK], dy[SEGLOSS__BLOCK];  /* Dice: A_r (r: largest logit), A_y - A_r */
    float k0[SEGLOSS__BLOCK], k1[SEGLOSS__BLOCK], k2[SEGLOSS__BLOCK]; /* gradient coefficients */
    float l[SEGLOSS__BLOCK];                       /* weighted loss term (scaled), grad kernel */
    /* label smoothing: sum_c w_c (m - z_c) (grad kernel); log s and the position's weight,
       then the smoothing term's coefficient (stats kernel) */
    float sm[SEGLOSS__BLOCK], ls[SEGLOSS__BLOCK], mw[SEGLOSS__BLOCK];
} SEGLOSS__K(blk_t);

/* Lanes of vector i that hold positions of the block (0 for the padding past n). */
#define SEGLOSS__CNT(n, i) ((n) - (i) >= SEGLOSS__W ? SEGLOSS__W : (n) > (i) ? (n) - (i) : 0)

/* Phase 1, one vector of positions: the max, the exponentials (parked at park[c * ps], pcnt
   lanes, when park != NULL) and the sums the later phases need (w[y] for the grad kernel,
   the Dice sums when dice). The Dice sum is taken relative to A_r, r the class of the largest
   logit (the first, on a tie): its own term is exactly 0, so where p_r is close to 1 the sum
   is a small number with all its digits rather than A_r plus a small number (see grad_body). */
SEGLOSS__VINLINE void SEGLOSS__K(soft)(const segloss__args *a, const int C, const int grad, const int dice, int i, const int cnt,
                                      float *park, int64_t ps, const int pcnt, SEGLOSS__K(blk_t) *b, const int copy)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const float *z = a->z + i;
    const SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + i);
    SEGLOSS__F m = SEGLOSS__LD(z, cnt), q = zero, ey = zero, zy = zero, wy = zero, ea = zero, by = zero, ay = zero;
    SEGLOSS__F ar = dice ? SEGLOSS__SPLAT(a->A[0]) : zero, sm = zero;
    const int smooth = grad && a->sw != NULL;
    /* a->prefetch needs blocks shorter than SEGLOSS__BLOCK: C is then no small constant */
    const int pf = C > SEGLOSS__TBUF / SEGLOSS__BLOCK && a->prefetch;
    int c; /* with copy, the max pass leaves the logits where their exponentials go (a->alias) */
    if (copy) SEGLOSS__ST(park + i, m, pcnt);
    if (pf) SEGLOSS__PREFETCH(z + a->prefetch);
    SEGLOSS__UNROLL for (c = 1; c < C; c++) {
        const SEGLOSS__F zc = SEGLOSS__LD(z + c * a->zs, cnt);
        if (pf) SEGLOSS__PREFETCH(z + c * a->zs + a->prefetch);
        if (copy) SEGLOSS__ST(park + c * ps + i, zc, pcnt);
        if (dice) ar = SEGLOSS__V(sel)(SEGLOSS__V(lt)(m, zc), SEGLOSS__SPLAT(a->A[c]), ar);
        m = SEGLOSS__V(max)(m, zc);
    }
    SEGLOSS__UNROLL for (c = 0; c < C; c++) {
        SEGLOSS__F zc = copy ? SEGLOSS__LD(park + c * ps + i, pcnt) : SEGLOSS__LD(z + c * a->zs, cnt);
        SEGLOSS__F ec = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zc, m));
        SEGLOSS__M is = SEGLOSS__V(ieq)(y, SEGLOSS__V(set1i)(c));
        if (park) SEGLOSS__ST(park + c * ps + i, ec, pcnt);
        q = SEGLOSS__V(add)(q, SEGLOSS__V(sel)(is, zero, ec));
        ey = SEGLOSS__V(sel)(is, ec, ey);
        zy = SEGLOSS__V(sel)(is, zc, zy);
        if (grad) wy = SEGLOSS__V(sel)(is, SEGLOSS__SPLAT(a->w[c]), wy);
        if (smooth) sm = SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->w[c]), SEGLOSS__V(sub)(m, zc), sm);
        if (dice) {
            ea = SEGLOSS__V(fma)(ec, SEGLOSS__V(sub)(SEGLOSS__SPLAT(a->A[c]), ar), ea);
            ay = SEGLOSS__V(sel)(is, SEGLOSS__SPLAT(a->A[c]), ay);
            by = SEGLOSS__V(sel)(is, SEGLOSS__SPLAT(a->B[c]), by);
        }
    }
    SEGLOSS__V(store)(b->m + i, m);
    SEGLOSS__V(store)(b->d + i, SEGLOSS__V(sub)(m, zy));
    SEGLOSS__V(store)(b->q + i, q);
    SEGLOSS__V(store)(b->ey + i, ey);
    if (grad) SEGLOSS__V(store)(b->wy + i, wy);
    if (smooth) SEGLOSS__V(store)(b->sm + i, sm);
    if (dice) {
        SEGLOSS__V(store)(b->ea + i, ea);
        SEGLOSS__V(store)(b->by + i, by);
        SEGLOSS__V(store)(b->ar + i, ar);
        SEGLOSS__V(store)(b->dy + i, SEGLOSS__V(sub)(ay, ar));
    }
}

/* Phase 1 over the block, padding included (its labels are -1, its logits read as 0): whole
   vectors with C constant, then the last partial ones in one shared copy. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(soft_tail)(const segloss__args *a, int grad, int dice, int i, float *park,
                                                           int64_t ps, int own_park, SEGLOSS__K(blk_t) *b)
{
    const int n = a->npos, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    for (; i < padded; i += SEGLOSS__W) {
        const int cnt = SEGLOSS__CNT(n, i);
        SEGLOSS__K(soft)(a, a->c, grad, dice, i, cnt, park, ps, own_park ? SEGLOSS__W : cnt, b, a->alias && park);
    }
}
SEGLOSS__VINLINE void SEGLOSS__K(soft_all)(const segloss__args *a, const int C, const int grad, const int dice, float *park,
                                          int64_t ps, const int own_park, SEGLOSS__K(blk_t) *b)
{
    const segloss__args la = *a; /* a copy the parking stores cannot alias: fields stay in registers */
    const int full = a->npos - a->npos % SEGLOSS__W;
    int i;
    if (C > 4 && la.alias && park) /* (more than 4 classes per set needs more than 4 classes) */
        for (i = 0; i < full; i += SEGLOSS__W) SEGLOSS__K(soft)(&la, C, grad, dice, i, SEGLOSS__W, park, ps, SEGLOSS__W, b, 1);
    else
        for (i = 0; i < full; i += SEGLOSS__W) SEGLOSS__K(soft)(&la, C, grad, dice, i, SEGLOSS__W, park, ps, SEGLOSS__W, b, 0);
    if (i < a->npos || i % SEGLOSS__LANES) SEGLOSS__K(soft_tail)(a, grad, dice, i, park, ps, own_park, b);
}

/* Phase 2 math of one vector: softmax and (focal) cross-entropy terms from phase 1's sums. */
typedef struct {
    SEGLOSS__F inv_s, py, q, lf, ff; /* 1/sum, p_y, 1 - p_y, focal term (-log p_y for CE), its grad factor */
    SEGLOSS__F ls;                   /* log s: -log p_c = (m - z_c) + log s                    */
} SEGLOSS__K(tail_t);
SEGLOSS__VINLINE SEGLOSS__K(tail_t) SEGLOSS__K(tail)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, int i,
                                                    const int want_l, const int focal, const int want_grad)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f);
    const SEGLOSS__F ey = SEGLOSS__V(load)(b->ey + i), q_sum = SEGLOSS__V(load)(b->q + i);
    const SEGLOSS__F s = SEGLOSS__V(add)(q_sum, ey);
    SEGLOSS__K(tail_t) t;
    SEGLOSS__F q, u, l;
    int c;
    t.inv_s = SEGLOSS__V(div)(one, s);
    t.py = SEGLOSS__V(mul)(ey, t.inv_s);
    t.q = q = SEGLOSS__V(mul)(q_sum, t.inv_s); /* 1 - p_y without cancellation */
    t.lf = t.ls = zero;
    t.ff = one;
    if (!want_l) return t; /* no CE-family term, or plain CE's gradient: no log needed */
    /* -log p_y = (m - z_y) + log1p(s - 1), s - 1 = q_sum + (e_y - 1). Where y holds the max,
       e_y = 1 exactly and s - 1 = q_sum: the confident case, whose tiny loss keeps its digits.
       Elsewhere p_y <= 1/2, so the loss is at least log 2 and the sum's rounding is harmless.
       1 + u ~ s, so 1/s serves the log1p correction. */
    u = SEGLOSS__V(add)(q_sum, SEGLOSS__V(sub)(ey, one));
    t.ls = SEGLOSS__K(log1p_w)(u, SEGLOSS__V(add)(u, one), t.inv_s);
    l = SEGLOSS__V(add)(SEGLOSS__V(load)(b->d + i), t.ls);
    t.lf = l;
    if (focal) { /* gamma != 0 */
        SEGLOSS__F qg = q;
        if (a->gamma_int > 0) {
            for (c = 1; c < a->gamma_int; c++) qg = SEGLOSS__V(mul)(qg, q);
        } else {
            qg = SEGLOSS__K(exp)(SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->gamma), SEGLOSS__K(log)(q)));
        }
        t.lf = SEGLOSS__V(mul)(qg, l);
        if (want_grad) {
            /* dFL/dz = q^g (1 + g p_y r) (p - onehot), r = -log(p_y)/q -> 1 as q -> 0 */
            SEGLOSS__F r = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, q), SEGLOSS__V(div)(l, q), one);
            SEGLOSS__F g = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, t.py), SEGLOSS__V(mul)(t.py, r), zero);
            t.ff = SEGLOSS__V(mul)(qg, SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->gamma), g, one));
        }
    }
    return t;
}

/* Phase 3 of the statistics kernel, class c: its three sums over the block, from the
   class's exponentials ecs and the per-position 1/sum (k0) and scaled focal term (k1, with ce). */
SEGLOSS__VINLINE void SEGLOSS__K(stats_class)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, const float *ecs, int c,
                                             int padded, const int ce)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const SEGLOSS__I cls = SEGLOSS__V(set1i)(c), none = SEGLOSS__V(set1i)(-1);
    SEGLOSS__F accl[SEGLOSS__U], acci[SEGLOSS__U], accp[SEGLOSS__U], accs[SEGLOSS__U];
    int i, u;
    for (u = 0; u < SEGLOSS__U; u++) accl[u] = acci[u] = accp[u] = accs[u] = zero;
    for (i = 0; i < padded; i += SEGLOSS__LANES)
        SEGLOSS__UNROLL for (u = 0; u < SEGLOSS__U; u++) {
            const int at = i + u * SEGLOSS__W;
            SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + at);
            SEGLOSS__M is = SEGLOSS__V(ieq)(y, cls);
            SEGLOSS__F p = SEGLOSS__V(mul)(SEGLOSS__V(load)(ecs + at), SEGLOSS__V(load)(b->k0 + at));
            accp[u] = SEGLOSS__V(add)(accp[u], SEGLOSS__V(sel)(SEGLOSS__V(igt)(y, none), p, zero));
            acci[u] = SEGLOSS__V(add)(acci[u], SEGLOSS__V(sel)(is, p, zero));
            if (ce) accl[u] = SEGLOSS__V(add)(accl[u], SEGLOSS__V(sel)(is, SEGLOSS__V(load)(b->k1 + at), zero));
            if (ce && a->sum_s) { /* -log p_c = log s + (m - z_c), weighted and scaled */
                const SEGLOSS__F nl = SEGLOSS__V(add)(SEGLOSS__V(load)(b->ls + at),
                                                      SEGLOSS__V(sub)(SEGLOSS__V(load)(b->m + at),
                                                                      SEGLOSS__LD(a->z + c * a->zs + at, SEGLOSS__CNT(a->npos, at))));
                accs[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(SEGLOSS__V(igt)(y, none), nl, zero), SEGLOSS__V(load)(b->mw + at), accs[u]);
            }
        }
    if (ce) a->sum_l[c] += SEGLOSS__V(sum16)(accl) / SEGLOSS__LOSS_SCALE;
    if (ce && a->sum_s) a->sum_s[c] += SEGLOSS__V(sum16)(accs) / SEGLOSS__LOSS_SCALE;
    a->sum_i[c] += SEGLOSS__V(sum16)(acci);
    a->sum_p[c] += SEGLOSS__V(sum16)(accp);
}

/* Per-class statistics of one block: sum_l[c] += sum_{y=c} focal term (a loss with a CE-family
   term only), sum_i[c] += sum_{y=c} p_c, sum_p[c] += sum p_c, over valid positions. Phases 1
   and 2 find each position's softmax; phase 3 runs class by class so that the sums of a class
   stay in registers. */
SEGLOSS__VINLINE void SEGLOSS__K(stats_body)(const segloss__args *a, const int C)
{
    SEGLOSS__K(blk_t) b;
    float eb[SEGLOSS__TBUF];
    const int n = a->npos, W = SEGLOSS__W, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    const int keep = C * padded <= SEGLOSS__TBUF; /* else recompute exp */
    int i, c;
    SEGLOSS__K(soft_all)(a, C, 0, 0, keep ? eb : NULL, padded, 1, &b);
    for (i = 0; i < padded; i += W) {
        SEGLOSS__K(tail_t) t = SEGLOSS__K(tail)(a, &b, i, a->ce, a->gamma != 0.0f, 0);
        /* a weight map scales the position's p (k0 = m / s) and its term: exact for m = 1 */
        const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + i, SEGLOSS__CNT(n, i)) : SEGLOSS__SPLAT(1.0f);
        SEGLOSS__V(store)(b.k0 + i, a->m ? SEGLOSS__V(mul)(t.inv_s, m) : t.inv_s);
        if (a->ce) SEGLOSS__V(store)(b.k1 + i, SEGLOSS__V(mul)(SEGLOSS__V(mul)(t.lf, SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE)), m));
        if (a->sum_s) { /* label smoothing: sum_V m (-log p_c) per class, in stats_class */
            SEGLOSS__V(store)(b.ls + i, t.ls);
            SEGLOSS__V(store)(b.mw + i, SEGLOSS__V(mul)(m, SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE)));
        }
    }
    for (c = 0; c < C; c++) {
        const float *z = a->z + c * a->zs;
        if (!keep) /* this class's exponentials again, into the (unused) buffer */
            for (i = 0; i < padded; i += W)
                SEGLOSS__V(store)(eb + i, SEGLOSS__K(exp)(SEGLOSS__V(sub)(SEGLOSS__LD(z + i, SEGLOSS__CNT(n, i)), SEGLOSS__V(load)(b.m + i))));
        if (a->ce) SEGLOSS__K(stats_class)(a, &b, keep ? eb + c * padded : eb, c, padded, 1);
        else SEGLOSS__K(stats_class)(a, &b, keep ? eb + c * padded : eb, c, padded, 0);
    }
}

/* Phase 2 of the gradient kernel: per position, the loss term and the gradient coefficients
   (k0, k1, k2). Independent of C, so compiled once per ISA and Dice flag, not per C. */
SEGLOSS__VINLINE void SEGLOSS__K(coefs_body)(const segloss__args *ap, SEGLOSS__K(blk_t) *b, int padded,
                                             const int want_l, const int focal, const int dice)
{
    const segloss__args la = *ap, *a = &la; /* as in soft_all */
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f);
    const SEGLOSS__I none = SEGLOSS__V(set1i)(-1);
    const int W = SEGLOSS__W, n = a->npos;
    int i;
    for (i = 0; i < padded; i += W) {
        const SEGLOSS__K(tail_t) t = SEGLOSS__K(tail)(a, b, i, want_l, focal, a->g != NULL);
        const SEGLOSS__F wy = SEGLOSS__V(load)(b->wy + i);
        const SEGLOSS__F nf = SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, wy), t.ff); /* -f */
        /* a weight map scales the whole gradient of the position (k0 and k2; k1 is inside k0's
           product) and its loss term: exact for m = 1, so a map of ones changes no bit */
        const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + i, SEGLOSS__CNT(n, i)) : one;
        /* label smoothing (gamma = 0, so ff = 1): the coefficient of every p_k becomes
           f' = (1 - eps) w_y + (eps / C) W and the label's CE entry (1 - eps)(-w_y q) +
           (eps / C)(W p_y - w_y); phase 3 adds -(eps / C) w_k to the other entries */
        const int smooth = a->sw != NULL;
        const SEGLOSS__F fs = smooth ? SEGLOSS__V(fma)(wy, SEGLOSS__SPLAT(1.0f - a->eps), SEGLOSS__SPLAT(a->eps_w)) : wy;
        const SEGLOSS__F ce_y = smooth ? SEGLOSS__V(fma)(SEGLOSS__V(mul)(nf, t.q), SEGLOSS__SPLAT(1.0f - a->eps),
                                                         SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->eps_c),
                                                                         SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->eps_sum), t.py, SEGLOSS__V(sub)(zero, wy))))
                                       : SEGLOSS__V(mul)(nf, t.q);
        SEGLOSS__F k0, k2;
        if (a->loss || a->each) {
            const SEGLOSS__M valid = SEGLOSS__V(igt)(SEGLOSS__V(loadi)(a->y + i), none);
            /* weighted, normalised term; smoothed: (1 - eps) w_y l + (eps / C) sum_c w_c (-log p_c) */
            const SEGLOSS__F l = !smooth ? SEGLOSS__V(mul)(wy, t.lf)
                                         : SEGLOSS__V(fma)(SEGLOSS__V(mul)(wy, t.lf), SEGLOSS__SPLAT(1.0f - a->eps),
                                                           SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->eps_c),
                                                                           SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->eps_sum), t.ls, SEGLOSS__V(load)(b->sm + i))));
            if (a->loss)
                SEGLOSS__V(store)(b->l + i, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(SEGLOSS__V(mul)(l, SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE)), m), zero));
            if (a->each) /* the unreduced term w[y] m l: the normalisation undone */
                SEGLOSS__ST(a->each + i, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(SEGLOSS__V(mul)(l, SEGLOSS__SPLAT(a->each_scale)), m), zero),
                            SEGLOSS__CNT(n, i));
        }
        if (dice) { /* D', S and ly as in grad_body's comment */
            const SEGLOSS__F by = SEGLOSS__V(load)(b->by + i);
            const SEGLOSS__F dp = SEGLOSS__V(mul)(SEGLOSS__V(load)(b->ea + i), t.inv_s);           /* D' */
            const SEGLOSS__F S = SEGLOSS__V(fma)(t.py, by, dp);                                   /* D' + p_y B_y */
            const SEGLOSS__F ly = SEGLOSS__V(sub)(SEGLOSS__V(fma)(t.q, by, SEGLOSS__V(load)(b->dy + i)), dp);
            k0 = t.inv_s;
            SEGLOSS__V(store)(b->k1 + i, smooth ? SEGLOSS__V(sub)(fs, S) : SEGLOSS__V(fma)(wy, t.ff, SEGLOSS__V(sub)(zero, S))); /* f - D' - p_y B_y */
            k2 = SEGLOSS__V(fma)(t.py, ly, ce_y);                                              /* the label's entry */
        } else {
            k0 = SEGLOSS__V(mul)(t.inv_s, smooth ? fs : SEGLOSS__V(sub)(zero, nf)); /* f / s */
            k2 = ce_y;                                                              /* -f q */
        }
        if (smooth) SEGLOSS__V(store)(b->mw + i, m);
        if (a->m) {
            k0 = SEGLOSS__V(mul)(k0, m);
            k2 = SEGLOSS__V(mul)(k2, m);
        }
        SEGLOSS__V(store)(b->k0 + i, k0);
        SEGLOSS__V(store)(b->k2 + i, k2);
    }
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(coefs)(const segloss__args *a, SEGLOSS__K(blk_t) *b, int padded,
                                                          int want_l, int dice)
{
    switch (dice * 3 + (want_l && a->gamma != 0.0f ? 2 : want_l != 0)) { /* want_l: a loss or unreduced terms */
    case 0: SEGLOSS__K(coefs_body)(a, b, padded, 0, 0, 0); break;
    case 1: SEGLOSS__K(coefs_body)(a, b, padded, 1, 0, 0); break;
    case 2: SEGLOSS__K(coefs_body)(a, b, padded, 1, 1, 0); break;
    case 3: SEGLOSS__K(coefs_body)(a, b, padded, 0, 0, 1); break;
    case 4: SEGLOSS__K(coefs_body)(a, b, padded, 1, 0, 1); break;
    default: SEGLOSS__K(coefs_body)(a, b, padded, 1, 1, 1); break;
    }
}

/* Phase 3 of one vector: what every class of it needs, loaded once (the gradient stores may
   alias anything for the compiler, so it would reload them for every class otherwise). */
typedef struct {
    SEGLOSS__I y;
    SEGLOSS__F k0, k1, k2, ar, mw;
    SEGLOSS__M valid;
} SEGLOSS__K(vec_t);
SEGLOSS__VINLINE SEGLOSS__K(vec_t) SEGLOSS__K(vec)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, int i, const int dice)
{
    SEGLOSS__K(vec_t) v;
    v.y = SEGLOSS__V(loadi)(a->y + i);
    v.k0 = SEGLOSS__V(load)(b->k0 + i);
    v.k1 = dice ? SEGLOSS__V(load)(b->k1 + i) : v.k0;
    v.ar = dice ? SEGLOSS__V(load)(b->ar + i) : v.k0;
    v.k2 = SEGLOSS__V(load)(b->k2 + i);
    v.mw = a->sw ? SEGLOSS__V(load)(b->mw + i) : v.k0;
    v.valid = SEGLOSS__V(igt)(v.y, SEGLOSS__V(set1i)(-1));
    return v;
}
/* Phase 3, class c of vector v at position i: the gradient of cnt positions from the parked
   exponential and the coefficients (the label's entry whole, from phase 2), stored plainly or
   (stream) with a 16-byte aligned non-temporal store. */
SEGLOSS__VINLINE void SEGLOSS__K(out)(const segloss__args *a, const SEGLOSS__K(vec_t) *v, const float *park, int64_t ps,
                                     int c, const int dice, int i, const int cnt, const int stream)
{
    const SEGLOSS__F coef = dice ? SEGLOSS__V(mul)(v->k0, SEGLOSS__V(add)(SEGLOSS__V(sub)(SEGLOSS__SPLAT(a->A[c]), v->ar), v->k1))
                                 : v->k0;
    const int pcnt = park == a->g ? cnt : SEGLOSS__W; /* the stack buffer is padded */
    float *g = a->g + c * a->gs + i;
    const SEGLOSS__F e = SEGLOSS__LD(park + c * ps + i, pcnt);
    SEGLOSS__F gv = SEGLOSS__V(sel)(SEGLOSS__V(ieq)(v->y, SEGLOSS__V(set1i)(c)), v->k2,
                                    a->sw ? SEGLOSS__V(fma)(e, coef, SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->sw[c]), v->mw))
                                          : SEGLOSS__V(mul)(e, coef));
    gv = SEGLOSS__V(sel)(v->valid, gv, SEGLOSS__SPLAT(0.0f));
    if (stream) SEGLOSS__V(stream)(g, gv);
    else SEGLOSS__ST(g, gv, cnt);
}

/* Phase 3 plane by plane over the block's whole vectors: streamed (each write-combining buffer
   fills whole lines in turn), or where the planes alias in the cache (each line is written
   whole before the next). */
SEGLOSS__VINLINE void SEGLOSS__K(out_planes)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, const float *park, int64_t ps,
                                            int C, const int dice, int full, const int stream)
{
    int c, i;
    for (c = 0; c < C; c++)
        for (i = 0; i < full; i += SEGLOSS__W) {
            const SEGLOSS__K(vec_t) v = SEGLOSS__K(vec)(a, b, i, dice);
            SEGLOSS__K(out)(a, &v, park, ps, c, dice, i, SEGLOSS__W, stream);
        }
}

/* Gradient of one block (a->g != NULL), and with a->loss the weighted focal/CE loss in the
   same pass (a->g == NULL: the loss alone, the CE family's loss-only pass):
   dL/dz_k = f (p_k - [k = y]) + p_k (d_k - sum_j p_j d_j),  f = w_y ff,  d_c = A_c + B_c [y = c],
   in forms that keep every entry's relative accuracy where the softmax is confident (api.h
   section 7): with r the class of the largest logit, q = 1 - p_y = sum_{c != y} p_c and
   D' = sum_j p_j (A_j - A_r) (so sum_j p_j d_j = A_r + D' + p_y B_y, as sum_j p_j = 1),
     k != y:  p_k ((A_k - A_r) + f - D' - p_y B_y)     phase 3, from k0 = 1/s, k1 and A_r
     k == y:  p_y ((A_y - A_r) + q B_y - D') - f q     phase 2, whole (k2)
   Where p_r is near 1, q and D' are small sums of small terms, each with its own digits, and
   A_r - A_r is exactly 0: no entry is the rounded difference of two O(1) numbers (p_y - 1, or
   A_r - sum_j p_j A_j). Without Dice (A = B = 0) the entries are f p_k and -f q.
   Phase 1 parks the exponentials (on the stack when they fit, else in the gradient buffer),
   phase 2 finds per position the coefficients, phase 3 turns the parked exponentials into
   the gradient. */
SEGLOSS__VINLINE void SEGLOSS__K(grad_body)(const segloss__args *a, const int C, const int dice)
{
    SEGLOSS__K(blk_t) b;
    float eb[SEGLOSS__TBUF];
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const int n = a->npos, W = SEGLOSS__W, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    const int keep = C * padded <= SEGLOSS__TBUF; /* else park in the gradient buffer */
    const int want_l = a->ce && (a->gamma != 0.0f || a->loss != NULL || a->each != NULL);
    float *park = !a->g ? NULL : keep ? eb : a->g;
    const int64_t ps = keep ? padded : a->gs;
    SEGLOSS__F acc[SEGLOSS__U];
    int i, c, u;
    SEGLOSS__K(soft_all)(a, C, 1, dice, park, ps, keep, &b);
    SEGLOSS__K(coefs)(a, &b, padded, want_l, dice);
    if (a->loss) { /* unrolled: each accumulator stays in a register */
        for (u = 0; u < SEGLOSS__U; u++) acc[u] = zero;
        for (i = 0; i < padded; i += SEGLOSS__LANES)
            SEGLOSS__UNROLL for (u = 0; u < SEGLOSS__U; u++) acc[u] = SEGLOSS__V(add)(acc[u], SEGLOSS__V(load)(b.l + i + u * W));
        *a->loss += SEGLOSS__V(sum16)(acc) / SEGLOSS__LOSS_SCALE;
    }
    if (!a->g) return;
    {
        const segloss__args la = *a; /* as in soft_all */
        const int full = n - n % W;
        /* every store of the block is 16-byte aligned when the base and the plane stride are */
        const int stream = la.stream && !(((uintptr_t)la.g | (uintptr_t)(la.gs * (int64_t)sizeof(float))) & 15);
        SEGLOSS__K(vec_t) v;
        if (stream) SEGLOSS__K(out_planes)(&la, &b, park, ps, C, dice, full, 1);
        else if (la.alias) SEGLOSS__K(out_planes)(&la, &b, park, ps, C, dice, full, 0);
        else
            for (i = 0; i < full; i += W) {
                v = SEGLOSS__K(vec)(&la, &b, i, dice);
                SEGLOSS__UNROLL for (c = 0; c < C; c++) SEGLOSS__K(out)(&la, &v, park, ps, c, dice, i, W, 0);
            }
        if (full < n) {
            v = SEGLOSS__K(vec)(&la, &b, full, dice);
            for (c = 0; c < C; c++) SEGLOSS__K(out)(&la, &v, park, ps, c, dice, full, n - full, 0);
        }
    }
}

/* Entry points: small C compiled with C constant (loops unrolled). */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(stats)(const segloss__args *a)
{
    switch (a->c) {
    case 2: SEGLOSS__K(stats_body)(a, 2); break;
    case 3: SEGLOSS__K(stats_body)(a, 3); break;
    case 4: SEGLOSS__K(stats_body)(a, 4); break;
    default: SEGLOSS__K(stats_body)(a, a->c); break;
    }
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(grad)(const segloss__args *a)
{
    const int dice = a->A != NULL;
    switch (a->c * 2 + dice) {
    case 4: SEGLOSS__K(grad_body)(a, 2, 0); break;
    case 5: SEGLOSS__K(grad_body)(a, 2, 1); break;
    case 6: SEGLOSS__K(grad_body)(a, 3, 0); break;
    case 7: SEGLOSS__K(grad_body)(a, 3, 1); break;
    case 8: SEGLOSS__K(grad_body)(a, 4, 0); break;
    case 9: SEGLOSS__K(grad_body)(a, 4, 1); break;
    default:
        if (dice) SEGLOSS__K(grad_body)(a, a->c, 1);
        else SEGLOSS__K(grad_body)(a, a->c, 0);
        break;
    }
}

/* NHWC rows <-> class planes, for np positions of C classes: position i, class c is at
   rows[i * C + c] and planes[c * ps + i]. dir SEGLOSS__TO_PLANES copies rows (src) to planes
   (dst), SEGLOSS__TO_ROWS planes (src) to rows (dst), SEGLOSS__TO_ROWS_NT the same with
   non-temporal stores (C = 2 or 4 and dst 16-byte aligned: whole rows fill lines in order).
   W positions and four classes at a time through the transposes: when 4 does not divide C the
   last four overlap the four before (those move twice, unchanged). Two classes are
   (de)interleaved in whole vectors. One and three are read and written four floats wide, and
   unrows4 writes its rows in increasing order, so each row's spill is overwritten by the next
   row. Rows that would spill past the block, and the positions past the last whole vector, are
   copied one by one. */
SEGLOSS__VINLINE void SEGLOSS__K(transpose_c)(const float *src, float *dst, int64_t ps, int full, int C,
                                             const int dir, const int nk)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const int nt = dir == SEGLOSS__TO_ROWS_NT;
    int i, c, k;
    if (nk == 2) { /* W rows of 2 are two whole vectors */
        for (i = 0; i < full; i += SEGLOSS__W) {
            SEGLOSS__F v[2];
            if (dir == SEGLOSS__TO_PLANES) {
                v[0] = SEGLOSS__V(load)(src + 2 * i);
                v[1] = SEGLOSS__V(load)(src + 2 * i + SEGLOSS__W);
                SEGLOSS__V(deint2)(v);
                SEGLOSS__V(store)(dst + i, v[0]);
                SEGLOSS__V(store)(dst + ps + i, v[1]);
            } else {
                v[0] = SEGLOSS__V(load)(src + i);
                v[1] = SEGLOSS__V(load)(src + ps + i);
                SEGLOSS__V(int2)(v);
                SEGLOSS__UNROLL for (k = 0; k < 2; k++) {
                    if (nt) SEGLOSS__V(stream)(dst + 2 * i + k * SEGLOSS__W, v[k]);
                    else SEGLOSS__V(store)(dst + 2 * i + k * SEGLOSS__W, v[k]);
                }
            }
        }
        return;
    }
    for (i = 0; i < full; i += SEGLOSS__W) /* position-major: each row's lines are used up at once */
        for (c = 0; c < C; c += 4) {
            const int c0 = c + 4 <= C || C < 4 ? c : C - 4;
            SEGLOSS__F v[4];
            if (dir == SEGLOSS__TO_PLANES) {
                SEGLOSS__V(rows4)(src + (int64_t)i * C + c0, C, v);
                SEGLOSS__UNROLL for (k = 0; k < nk; k++) SEGLOSS__V(store)(dst + (c0 + k) * ps + i, v[k]);
            } else {
                SEGLOSS__UNROLL for (k = 0; k < 4; k++) v[k] = k < nk ? SEGLOSS__V(load)(src + (c0 + k) * ps + i) : zero;
                SEGLOSS__V(unrows4)(dst + (int64_t)i * C + c0, C, v, nt);
            }
        }
}
/* dir as a constant; non-temporal rows only with nk 2 and 4 (callers ask for them at C = 2 or 4) */
SEGLOSS__VINLINE void SEGLOSS__K(transpose_n)(const float *src, float *dst, int64_t ps, int full, int C, int dir,
                                             const int nk)
{
    if (dir == SEGLOSS__TO_PLANES) SEGLOSS__K(transpose_c)(src, dst, ps, full, C, SEGLOSS__TO_PLANES, nk);
    else if (dir == SEGLOSS__TO_ROWS_NT && nk % 2 == 0) SEGLOSS__K(transpose_c)(src, dst, ps, full, C, SEGLOSS__TO_ROWS_NT, nk);
    else SEGLOSS__K(transpose_c)(src, dst, ps, full, C, SEGLOSS__TO_ROWS, nk);
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(transpose)(const float *src, float *dst, int64_t ps, int np, int C,
                                                           int dir)
{
    /* rows whose four floats lie inside the block */
    const int fit = C >= 4 || C == 2 ? np : np * C >= 4 ? (np * C - 4) / C + 1 : 0, full = fit - fit % SEGLOSS__W;
    const int to_planes = dir == SEGLOSS__TO_PLANES;
    const int64_t si = to_planes ? C : 1, sc = to_planes ? 1 : ps, di = to_planes ? 1 : C, dc = to_planes ? ps : 1;
    switch (C < 4 ? C : 4) {
    case 1: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 1); break;
    case 2: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 2); break;
    case 3: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 3); break;
    default: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 4); break;
    }
    if (full < np) segloss__copy_strided(src + full * si, si, sc, dst + full * di, di, dc, np - full, C);
}

/* Per position i < np, the class of its largest logit (class c at z[c * zs + i]) as a float,
   ties to the lowest class; a NaN is never taken (class 0 when all are). For the confusion
   counts; exact while C <= 2^24. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(argmax)(const float *z, int64_t zs, int np, int C, float *idx)
{
    int i, c;
    for (i = 0; i < np; i += SEGLOSS__W) {
        const int cnt = np - i < SEGLOSS__W ? np - i : SEGLOSS__W;
        SEGLOSS__F best = SEGLOSS__LD(z + i, cnt), bi = SEGLOSS__SPLAT(0.0f);
        SEGLOSS__M set = SEGLOSS__V(ord)(best); /* lanes holding a number */
        for (c = 1; c < C; c++) {
            const SEGLOSS__F v = SEGLOSS__LD(z + c * zs + i, cnt);
            const SEGLOSS__M take = SEGLOSS__V(mor)(SEGLOSS__V(lt)(best, v), SEGLOSS__V(mandn)(set, SEGLOSS__V(ord)(v)));
            best = SEGLOSS__V(sel)(take, v, best);
            bi = SEGLOSS__V(sel)(take, SEGLOSS__SPLAT((float)c), bi);
            set = SEGLOSS__V(mor)(set, take);
        }
        SEGLOSS__ST(idx + i, bi, cnt);
    }
}

/* The vector math alone (op 0 exp, 1 log, 2 log1p), for the exhaustive ULP tests. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(vmath)(int op, const float *x, float *y, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i += SEGLOSS__W) {
        const int cnt = n - i < SEGLOSS__W ? (int)(n - i) : SEGLOSS__W;
        SEGLOSS__F v = SEGLOSS__V(loadn)(x + i, cnt);
        v = op == 0 ? SEGLOSS__K(exp)(v) : op == 1 ? SEGLOSS__K(log)(v) : SEGLOSS__K(log1p)(v);
        SEGLOSS__V(storen)(y + i, v, cnt);
    }
}

/* ---- begin kernels/sigmoid_kernels.h ---- */
/* ---- kernels/sigmoid_kernels.h: the sigmoid kernels, written once over the vocabulary ---- */
#ifndef SEGLOSS__ISA
/* Opened on its own (an editor, make check-parts): compile them with the scalar vocabulary. */
#else
/* Included by loss_kernels.h, once per ISA, with its vocabulary macros and its exp and log1p.
   Under the sigmoid every element (position, channel) is its own binary problem, so a block
   is processed class plane by class plane: per element p = sigmoid(z), the loss term and
   the gradient need nothing from the other channels. One body serves the statistics and the
   gradient pass; the flags are constants in each compiled copy. */

/* One element vector: the sigmoid, its complement and the two softplus terms, all formed
   without cancellation from e = exp(-|z|) in (0, 1]:
     p = sigmoid(z), pm = 1 - p = sigmoid(-z), each 1/(1 + e) or e/(1 + e);
     softplus(z) = -log(1 - p) = max(z, 0) + log1p(e), softplus(-z) = -log p = max(-z, 0) + log1p(e). */
typedef struct {
    SEGLOSS__F p, pm, sp_pos, sp_neg;
} SEGLOSS__K(sig_t);
SEGLOSS__VINLINE SEGLOSS__K(sig_t) SEGLOSS__K(sig)(SEGLOSS__F z, const int want_log)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f);
    const SEGLOSS__F nz = SEGLOSS__V(sub)(zero, z);
    const SEGLOSS__F e = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zero, SEGLOSS__V(max)(z, nz))); /* NaN kept */
    const SEGLOSS__F w = SEGLOSS__V(add)(one, e), inv = SEGLOSS__V(div)(one, w), einv = SEGLOSS__V(mul)(e, inv);
    const SEGLOSS__M neg = SEGLOSS__V(lt)(z, zero);
    SEGLOSS__K(sig_t) s;
    s.p = SEGLOSS__V(sel)(neg, einv, inv);
    s.pm = SEGLOSS__V(sel)(neg, inv, einv);
    if (want_log) {
        const SEGLOSS__F l1 = SEGLOSS__K(log1p_w)(e, w, inv);
        s.sp_pos = SEGLOSS__V(add)(SEGLOSS__V(max)(zero, z), l1);
        s.sp_neg = SEGLOSS__V(add)(SEGLOSS__V(max)(zero, nz), l1);
    } else {
        s.sp_pos = s.sp_neg = zero;
    }
    return s;
}

/* u^gamma for u in [0, 1]: products for integral gamma 1..16, else exp(gamma log u) (0 at u = 0). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(powg)(const segloss__args *a, SEGLOSS__F u)
{
    SEGLOSS__F r = u;
    int k;
    if (a->gamma_int > 0) {
        for (k = 1; k < a->gamma_int; k++) r = SEGLOSS__V(mul)(r, u);
        return r;
    }
    r = SEGLOSS__K(exp)(SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->gamma), SEGLOSS__K(log)(u)));
    return SEGLOSS__V(sel)(SEGLOSS__V(lt)(SEGLOSS__SPLAT(0.0f), u), r, SEGLOSS__SPLAT(0.0f));
}

/* One vector of class c: the target t (0 where the position is not valid) and the validity. */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(sig_target)(const segloss__args *a, int c, int i, const int cnt, const int dense,
                                                   SEGLOSS__M *valid)
{
    const SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + i);
    *valid = SEGLOSS__V(igt)(y, SEGLOSS__V(set1i)(-1));
    if (dense) return SEGLOSS__V(sel)(*valid, SEGLOSS__LD(a->t + c * a->ts + i, cnt), SEGLOSS__SPLAT(0.0f));
    /* labels: one channel holds label 1 (C = 1), else channel c holds label c */
    return SEGLOSS__V(sel)(SEGLOSS__V(ieq)(y, SEGLOSS__V(set1i)(a->c == 1 ? 1 : c)), SEGLOSS__SPLAT(1.0f),
                           SEGLOSS__SPLAT(0.0f));
}

/* The sigmoid kernel over one block, class by class. Per element, with m the position's weight
   and t its target (every term is 0 where the position is not valid, whatever its logit):
     stats (a->sum_i != NULL)  sum_i[c] += m p t, sum_p[c] += m p, and with a->ce the CE-family
                               parts: sum_l[c] += m l_neg (BCE) or m l (focal), and for BCE
                               sum_lp[c] += m l_pos, l_pos = t softplus(-z), l_neg = (1 - t) softplus(z)
     backward (no sums)        with a->g the gradient
                               dL/dz = m (sk[c] (1 - t) p - sk[C + c] t pm)            BCE
                                     = m sk[c] a_t (u^g (p - t) + g u^g (p pm / u) (1 - 2 t) bce)   focal
                                     + m (A[c] + B[c] t) p pm                        Dice family
                               with a->loss the CE-family loss m (sk[c] l_neg + sk[C + c] l_pos)
                               (focal: m sk[c] a_t u^g bce), and with a->each the unreduced term
                               m (sk[2C + c] l_neg + sk[3C + c] l_pos) (focal: m sk[2C + c] ...).
   sk holds the CE coefficients the driver derived (class weight, pos_weight, normalisation). */
SEGLOSS__VINLINE void SEGLOSS__K(sig_body)(const segloss__args *ap, const int dense, const int focal, const int dice,
                                          const int grad)
{
    const segloss__args la = *ap, *a = &la; /* a copy the stores cannot alias: fields stay in registers */
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f), scale = SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE);
    const SEGLOSS__F a1 = SEGLOSS__SPLAT(a->alpha < 0.0f ? 0.0f : 2.0f * a->alpha - 1.0f);
    const SEGLOSS__F a0 = SEGLOSS__SPLAT(a->alpha < 0.0f ? 1.0f : 1.0f - a->alpha);
    const int n = a->npos, W = SEGLOSS__W, C = a->c, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    const int ce = a->ce, want_log = ce && (!grad || a->loss || a->each || focal);
    const int want_g = grad && (a->g != NULL); /* the backward pass may want only the loss */
    SEGLOSS__F accl[SEGLOSS__U], accq[SEGLOSS__U], acci[SEGLOSS__U], accp[SEGLOSS__U], acct[SEGLOSS__U];
    int c, i, u;
    for (u = 0; u < SEGLOSS__U; u++) acct[u] = zero;
    for (c = 0; c < C; c++) {
        const SEGLOSS__F kn = ce && grad ? SEGLOSS__SPLAT(a->sk[c]) : zero, kp = ce && grad ? SEGLOSS__SPLAT(a->sk[C + c]) : zero;
        const SEGLOSS__F rn = a->each ? SEGLOSS__SPLAT(a->sk[2 * C + c]) : zero, rp = a->each ? SEGLOSS__SPLAT(a->sk[3 * C + c]) : zero;
        const SEGLOSS__F dA = dice && grad ? SEGLOSS__SPLAT(a->A[c]) : zero, dB = dice && grad ? SEGLOSS__SPLAT(a->B[c]) : zero;
        for (u = 0; u < SEGLOSS__U; u++) accl[u] = accq[u] = acci[u] = accp[u] = zero;
        for (i = 0; i < padded; i += SEGLOSS__LANES)
            for (u = 0; u < SEGLOSS__U; u++) { /* not unrolled: the body is long, and 16 copies of it (scalar) only cost compile time */
                const int at = i + u * W, cnt = SEGLOSS__CNT(n, at);
                SEGLOSS__M valid;
                const SEGLOSS__F t = SEGLOSS__K(sig_target)(a, c, at, cnt, dense, &valid);
                const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + at, cnt) : one; /* applied where valid */
                const SEGLOSS__F z = SEGLOSS__LD(a->z + c * a->zs + at, cnt);
                const SEGLOSS__K(sig_t) s = SEGLOSS__K(sig)(z, want_log);
                const SEGLOSS__F nt = SEGLOSS__V(sub)(one, t);
                SEGLOSS__F lneg = zero, lpos = zero, g = zero, at_ug = zero, bce = zero;
                if (want_log) {
                    lneg = SEGLOSS__V(mul)(nt, s.sp_pos);
                    lpos = SEGLOSS__V(mul)(t, s.sp_neg);
                }
                if (focal) { /* u = 1 - p_t, a_t u^gamma bce: the focal term in lneg, lpos 0 */
                    const SEGLOSS__F uu = SEGLOSS__V(fma)(t, s.pm, SEGLOSS__V(mul)(nt, s.p));
                    const SEGLOSS__F ug = a->gamma == 0.0f ? one : SEGLOSS__K(powg)(a, uu);
                    bce = SEGLOSS__V(fma)(nt, s.sp_pos, lpos); /* lneg + lpos, the product fused explicitly */
                    at_ug = SEGLOSS__V(mul)(SEGLOSS__V(fma)(t, a1, a0), ug);
                    lneg = SEGLOSS__V(mul)(at_ug, bce);
                    lpos = zero;
                    if (want_g) {
                        /* p - t without cancellation, and g (p pm / u)(1 - 2t) bce, p pm / u < 1 */
                        const SEGLOSS__F pt = SEGLOSS__V(fma)(nt, s.p, SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, t), s.pm));
                        const SEGLOSS__F r = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, uu),
                                                             SEGLOSS__V(div)(SEGLOSS__V(mul)(s.p, s.pm), uu), zero);
                        const SEGLOSS__F d = SEGLOSS__V(fma)(SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->gamma), r),
                                                             SEGLOSS__V(mul)(SEGLOSS__V(sub)(nt, t), bce), pt);
                        g = SEGLOSS__V(mul)(kn, SEGLOSS__V(mul)(at_ug, d));
                    }
                } else if (ce && want_g) {
                    g = SEGLOSS__V(fma)(kn, SEGLOSS__V(mul)(nt, s.p), SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, kp), SEGLOSS__V(mul)(t, s.pm)));
                }
                if (grad) {
                    if (want_g && dice) g = SEGLOSS__V(fma)(SEGLOSS__V(fma)(dB, t, dA), SEGLOSS__V(mul)(s.p, s.pm), g);
                    if (want_g) SEGLOSS__ST(a->g + c * a->gs + at, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, g), zero), cnt);
                    if (a->loss) {
                        const SEGLOSS__F l = focal ? SEGLOSS__V(mul)(kn, lneg) : SEGLOSS__V(fma)(kn, lneg, SEGLOSS__V(mul)(kp, lpos));
                        acct[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, l), zero), scale, acct[u]);
                    }
                    if (a->each) {
                        const SEGLOSS__F l = focal ? SEGLOSS__V(mul)(rn, lneg) : SEGLOSS__V(fma)(rn, lneg, SEGLOSS__V(mul)(rp, lpos));
                        SEGLOSS__ST(a->each + c * a->es + at, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, l), zero), cnt);
                    }
                } else {
                    const SEGLOSS__F mp = SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, s.p), zero);
                    if (dice) {
                        acci[u] = SEGLOSS__V(fma)(mp, t, acci[u]);
                        accp[u] = SEGLOSS__V(add)(accp[u], mp);
                    }
                    if (ce) {
                        accl[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, lneg), zero), scale, accl[u]);
                        if (!focal) accq[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, lpos), zero), scale, accq[u]);
                    }
                }
            }
        if (!grad) {
            if (dice) {
                a->sum_i[c] += SEGLOSS__V(sum16)(acci);
                a->sum_p[c] += SEGLOSS__V(sum16)(accp);
            }
            if (ce) {
                a->sum_l[c] += SEGLOSS__V(sum16)(accl) / SEGLOSS__LOSS_SCALE;
                if (!focal) a->sum_lp[c] += SEGLOSS__V(sum16)(accq) / SEGLOSS__LOSS_SCALE;
            }
        }
    }
    if (grad && a->loss) *a->loss += SEGLOSS__V(sum16)(acct) / SEGLOSS__LOSS_SCALE;
}

/* Entry point: the flags as constants. The statistics pass has sums to add (a->sum_i); the
   backward pass a gradient, a loss or unreduced terms to write. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(sigmoid)(const segloss__args *a)
{
    const int grad = a->sum_i == NULL;
    const int dense = a->t != NULL, focal = a->ce && a->focal, dice = grad ? a->A != NULL : a->dice;
    switch (grad * 8 + dense * 4 + focal * 2 + dice) {
    case 0: SEGLOSS__K(sig_body)(a, 0, 0, 0, 0); break;
    case 1: SEGLOSS__K(sig_body)(a, 0, 0, 1, 0); break;
    case 2: SEGLOSS__K(sig_body)(a, 0, 1, 0, 0); break;
    case 3: SEGLOSS__K(sig_body)(a, 0, 1, 1, 0); break;
    case 4: SEGLOSS__K(sig_body)(a, 1, 0, 0, 0); break;
    case 5: SEGLOSS__K(sig_body)(a, 1, 0, 1, 0); break;
    case 6: SEGLOSS__K(sig_body)(a, 1, 1, 0, 0); break;
    case 7: SEGLOSS__K(sig_body)(a, 1, 1, 1, 0); break;
    case 8: SEGLOSS__K(sig_body)(a, 0, 0, 0, 1); break;
    case 9: SEGLOSS__K(sig_body)(a, 0, 0, 1, 1); break;
    case 10: SEGLOSS__K(sig_body)(a, 0, 1, 0, 1); break;
    case 11: SEGLOSS__K(sig_body)(a, 0, 1, 1, 1); break;
    case 12: SEGLOSS__K(sig_body)(a, 1, 0, 0, 1); break;
    case 13: SEGLOSS__K(sig_body)(a, 1, 0, 1, 1); break;
    case 14: SEGLOSS__K(sig_body)(a, 1, 1, 0, 1); break;
    default: SEGLOSS__K(sig_body)(a, 1, 1, 1, 1); break;
    }
}
/* The softmax with per-channel (soft) targets t, F.cross_entropy with a probability target:
   per position, with t' = (1 - eps) t + eps / C and ls = log sum_c e^(z_c - m),
     l = sum_c w_c t'_c (-log p_c) = sum_c w_c t'_c ((m - z_c) + ls),
     dl/dz_k = p_k T - w_k t'_k,  T = sum_c w_c t'_c.
   Statistics pass (a->sum_l): sum_l[c] += m t'_c (-log p_c) per class (the weights come after
   the sums). Backward pass: with w = a->sk (normalised, times focal_weight), the gradient
   m (p_k T - w_k t'_k), the loss sum m l, the unreduced terms m l * each_scale. The exponentials
   are parked in the gradient (written over each logit after its last read, so in place works). */
SEGLOSS__VINLINE void SEGLOSS__K(soft_targets_body)(const segloss__args *ap, const int grad)
{
    const segloss__args la = *ap, *a = &la;
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f), scale = SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE);
    const SEGLOSS__F keep = SEGLOSS__SPLAT(1.0f - a->eps), add = SEGLOSS__SPLAT(a->eps / (float)a->c);
    const int n = a->npos, W = SEGLOSS__W, C = a->c, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    SEGLOSS__F acc[SEGLOSS__U];
    float mx[SEGLOSS__BLOCK], ls[SEGLOSS__BLOCK];
    int c, i, u;
    for (u = 0; u < SEGLOSS__U; u++) acc[u] = zero;
    for (i = 0; i < padded; i += SEGLOSS__LANES)
        for (u = 0; u < SEGLOSS__U; u++) { /* not unrolled, as in sig_body */
            const int at = i + u * W, cnt = SEGLOSS__CNT(n, at);
            const SEGLOSS__M valid = SEGLOSS__V(igt)(SEGLOSS__V(loadi)(a->y + at), SEGLOSS__V(set1i)(-1));
            const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + at, cnt) : one;
            SEGLOSS__F z0 = SEGLOSS__LD(a->z + at, cnt), s = zero, T = zero, sm = zero, l;
            for (c = 1; c < C; c++) z0 = SEGLOSS__V(max)(z0, SEGLOSS__LD(a->z + c * a->zs + at, cnt));
            for (c = 0; c < C; c++) {
                const SEGLOSS__F zc = SEGLOSS__LD(a->z + c * a->zs + at, cnt);
                const SEGLOSS__F e = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zc, z0));
                s = SEGLOSS__V(add)(s, e);
                if (grad) {
                    const SEGLOSS__F tc = SEGLOSS__V(fma)(SEGLOSS__LD(a->t + c * a->ts + at, cnt), keep, add);
                    const SEGLOSS__F wt = SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->sk[c]), tc);
                    T = SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->sk[c]), tc, T); /* never a product into an add */
                    sm = SEGLOSS__V(fma)(wt, SEGLOSS__V(sub)(z0, zc), sm);
                    if (a->g) SEGLOSS__ST(a->g + c * a->gs + at, e, cnt);
                }
            }
            l = SEGLOSS__K(log)(s); /* s >= 1 */
            if (!grad) {
                SEGLOSS__V(store)(mx + at, z0);
                SEGLOSS__V(store)(ls + at, SEGLOSS__V(sel)(valid, l, zero));
                continue;
            }
            l = SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, SEGLOSS__V(fma)(T, l, sm)), zero);
            acc[u] = SEGLOSS__V(fma)(l, scale, acc[u]);
            if (a->each) SEGLOSS__ST(a->each + at, SEGLOSS__V(mul)(l, SEGLOSS__SPLAT(a->each_scale)), cnt);
            if (a->g) {
                const SEGLOSS__F mis = SEGLOSS__V(sel)(valid, SEGLOSS__V(div)(m, s), zero), mv = SEGLOSS__V(sel)(valid, m, zero);
                for (c = 0; c < C; c++) {
                    const SEGLOSS__F wt = SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->sk[c]),
                                                          SEGLOSS__V(fma)(SEGLOSS__LD(a->t + c * a->ts + at, cnt), keep, add));
                    float *g = a->g + c * a->gs + at;
                    SEGLOSS__ST(g, SEGLOSS__V(fma)(SEGLOSS__V(mul)(SEGLOSS__LD(g, cnt), mis), T, SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, wt), mv)), cnt);
                }
            }
        }
    if (grad) {
        if (a->loss) *a->loss += SEGLOSS__V(sum16)(acc) / SEGLOSS__LOSS_SCALE;
        return;
    }
    for (c = 0; c < C; c++) { /* class by class: its sum stays in registers */
        for (u = 0; u < SEGLOSS__U; u++) acc[u] = zero;
        for (i = 0; i < padded; i += SEGLOSS__LANES)
            for (u = 0; u < SEGLOSS__U; u++) { /* not unrolled: the body is long, and 16 copies of it (scalar) only cost compile time */
                const int at = i + u * W, cnt = SEGLOSS__CNT(n, at);
                const SEGLOSS__M valid = SEGLOSS__V(igt)(SEGLOSS__V(loadi)(a->y + at), SEGLOSS__V(set1i)(-1));
                const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + at, cnt) : one;
                const SEGLOSS__F tc = SEGLOSS__V(fma)(SEGLOSS__LD(a->t + c * a->ts + at, cnt), keep, add);
                const SEGLOSS__F nl = SEGLOSS__V(add)(SEGLOSS__V(load)(ls + at),
                                                      SEGLOSS__V(sub)(SEGLOSS__V(load)(mx + at), SEGLOSS__LD(a->z + c * a->zs + at, cnt)));
                acc[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(SEGLOSS__V(mul)(m, tc), nl), zero), scale, acc[u]);
            }
        a->sum_l[c] += SEGLOSS__V(sum16)(acc) / SEGLOSS__LOSS_SCALE;
    }
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(soft_targets)(const segloss__args *a)
{
    if (a->sum_l) SEGLOSS__K(soft_targets_body)(a, 0);
    else SEGLOSS__K(soft_targets_body)(a, 1);
}
#endif /* SEGLOSS__ISA */
/* ---- end kernels/sigmoid_kernels.h ---- */

#undef SEGLOSS__V
#undef SEGLOSS__K
#undef SEGLOSS__F
#undef SEGLOSS__I
#undef SEGLOSS__M
#undef SEGLOSS__W
#undef SEGLOSS__U
#undef SEGLOSS__SPLAT
#undef SEGLOSS__LD
#undef SEGLOSS__ST
#undef SEGLOSS__CNT
#endif /* SEGLOSS__ISA */
/* ---- end kernels/loss_kernels.h ---- */
#endif /* SEGLOSS__KERNEL_PASS */

/*
------------------------------------------------------------------------------
9. LICENCE (MIT)
Copyright (c) 2026 the segloss authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
