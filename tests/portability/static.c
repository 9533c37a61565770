/* SEGLOSS_STATIC: everything private to this file, and usable from it. */
#define SEGLOSS_STATIC
#define SEGLOSS_IMPLEMENTATION
#include "../../segloss.h"
#include "../../segloss.h" /* a second include is harmless */
#include <stdio.h>

int main(void)
{
    float z[8] = { 1, 2, 3, 4, 0, 0, 0, 0 }, g[8];
    uint8_t y[2] = { 0, 3 };
    segloss_config cfg;
    segloss_input in = { z, y, SEGLOSS_LABEL_U8, 1, 4, 2, SEGLOSS_NHWC };
    segloss_result r;
    segloss_config_init(&cfg, SEGLOSS_FOCAL_DICE);
    if (segloss_compute(&cfg, &in, g, &r) != SEGLOSS_OK || !(r.loss > 0)) return 1;
    printf("static build: %s loss %.6f on %s\n", segloss_loss_name(cfg.loss_type), r.loss, segloss_active_isa());
    return 0;
}
