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

#include "api.h"

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

#include "base.h"
#include "threads.h"
#include "isa_avx2.h"
#include "isa_avx512.h"
#include "isa_neon.h"
#include "isa_scalar.h"
#include "dispatch.h"
#include "driver.h"
#include "text.h"
#include "metrics.h"

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
#include "loss_kernels.h"
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
