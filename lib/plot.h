/*
 * plot.h -- scatter plots of 2-D points coloured by class, as PNG (written
 * with zlib, no other dependency) or SVG text: one panel, or two side by side
 * (before/after fine-tuning), a title, and a legend naming each class with
 * its count. Colours: the Okabe-Ito palette (distinguishable with the common
 * colour-vision deficiencies), then Paul Tol's muted palette beyond eight
 * classes; noise (class -1, HDBSCAN's) in light grey.
 *
 * Ownership: the plot only borrows the arrays it is given.
 */
#ifndef CTK_PLOT_H
#define CTK_PLOT_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct ctk_plot_panel {
    const float *xy;   /* (n, 2) point coordinates */
    const int32_t *cls; /* (n) class index in [0, nclasses), -1 noise; NULL: one class */
    int64_t n;
    const char *title; /* NULL: none */
};

struct ctk_plot {
    int width, height;        /* pixels (SVG: user units) of the whole figure */
    const char *title;        /* NULL: none */
    int nclasses;
    const char *const *class_names; /* (nclasses), NULL: no legend */
    int npanels;              /* 1 or 2 */
    struct ctk_plot_panel panels[2];
    double point_radius;      /* pixels; <= 0: chosen from the number of points */
};

/* Colour of class k (-1: noise) as 0xRRGGBB. */
uint32_t ctk_plot_color(int k);

/* Render and write the figure; -1 with e set on a write error or a bad plot. */
int ctk_plot_write_png(const struct ctk_plot *p, FILE *f, struct ctk_err *e);
int ctk_plot_write_svg(const struct ctk_plot *p, FILE *f, struct ctk_err *e);

/*
 * The raster the PNG is made of, for tests: width*height*3 bytes RGB,
 * caller frees.
 */
unsigned char *ctk_plot_render(const struct ctk_plot *p, struct ctk_err *e);

#endif
