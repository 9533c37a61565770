/* tests/consumers/consumer.c — a C99 program that uses segloss as an installed library would
   be used: <segloss.h> found through pkg-config or CMake, the implementation in this file.
   Cross entropy of one pixel with 2 classes, logits (0, ln 3), label 1: p = (1/4, 3/4), so
   the loss is ln(4/3) and the gradient p - onehot = (1/4, -1/4). Then a label 255 with the
   default ignore_index must be refused, with a message that names the fix. Prints the
   version it was compiled with; exits 0 if every check held. */
#define SEGLOSS_IMPLEMENTATION
#include <segloss.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    float logits[2], grad[2] = {7.0f, 7.0f};
    uint8_t label = 1;
    segloss_config cfg;
    segloss_input in;
    segloss_result r;
    segloss_status st;
    char msg[512];
    int fails = 0;
    double loss;
    const double want = log(4.0 / 3.0);

    logits[0] = 0.0f;
    logits[1] = (float)log(3.0);
    segloss_config_init(&cfg, SEGLOSS_CE);
    in.logits = logits;
    in.labels = &label;
    in.label_type = SEGLOSS_LABEL_U8;
    in.n = 1;
    in.c = 2;
    in.s = 1;
    in.layout = SEGLOSS_NCHW;
    st = segloss_compute(&cfg, &in, grad, &r);
    if (st != SEGLOSS_OK) {
        printf("FAIL: %s\n", segloss_error_message(st, &cfg, &in, &r, msg, sizeof msg));
        return 1;
    }
    loss = r.loss;
    if (!(fabs(loss - want) <= 1e-6 * want)) fails++, printf("FAIL: loss %.9f, want ln(4/3) = %.9f\n", loss, want);
    if (!(fabs(grad[0] - 0.25) <= 1e-6 && fabs(grad[1] + 0.25) <= 1e-6))
        fails++, printf("FAIL: grad (%.9f, %.9f), want (0.25, -0.25)\n", grad[0], grad[1]);

    label = 255; /* not a class, and ignore_index is -100 */
    st = segloss_compute(&cfg, &in, grad, &r);
    segloss_error_message(st, &cfg, &in, &r, msg, sizeof msg);
    if (st != SEGLOSS_ERR_LABEL || !strstr(msg, "set ignore_index = 255"))
        fails++, printf("FAIL: label 255: status %d, message \"%s\"\n", (int)st, msg);

    printf("consumer-c: loss %.9f (ln(4/3) = %.9f), path %s, segloss %s: %s\n", loss, want,
           segloss_active_isa(), SEGLOSS_VERSION_STRING, fails ? "FAIL" : "ok");
    return fails != 0;
}
