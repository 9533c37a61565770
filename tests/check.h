/* tests/check.h — pass/fail counting for the C test programs (probe, regress, stress,
   threads, vmath). Each program counts its checks here and ends with check_report(), whose
   "N passed, M failed" line is what the Makefile's `record` macro reads (the last such line
   of the log).

       check_count(ok)             counts one check; returns ok
       CHECK(cond, fmt, ...)       counts cond; on failure prints
                                   "FAIL [check_where: ]file:line: cond: <fmt, ...>"
       check_report()              prints "N passed, M failed"; returns the exit status

   check_where, when set, names what is being checked (regress.c: "[avx2] audit alias"). */
#ifndef SEGLOSS_TESTS_CHECK_H
#define SEGLOSS_TESTS_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;
static const char *check_where;

static inline int check_count(int ok)
{
    if (ok) check_passed++;
    else check_failed++;
    return ok;
}

/* CHECK's failure line up to the message */
static inline void check_fail_begin(const char *file, int line, const char *cond)
{
    if (check_where) printf("FAIL %s: %s:%d: %s: ", check_where, file, line, cond);
    else printf("FAIL %s:%d: %s: ", file, line, cond);
}

/* The failure line is flushed at once: regress.c forks, and a crash must not lose it. */
#define CHECK(cond, ...) do { if (!check_count((cond) != 0)) { check_fail_begin(__FILE__, __LINE__, #cond); \
    printf(__VA_ARGS__); printf("\n"); fflush(stdout); } } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}

#endif /* SEGLOSS_TESTS_CHECK_H */
