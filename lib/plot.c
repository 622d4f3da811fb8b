/*
 * plot.c -- scatter plots as PNG and SVG (see plot.h).
 *
 * Both outputs share one layout (figure title on top, panels side by side,
 * legend on the right) computed by layout(); the raster draws anti-aliased
 * discs with alpha blending, in a fixed pseudo-random order so that no class
 * is systematically painted over another. PNG: 8-bit RGB, one IDAT made by
 * zlib, CRCs by zlib's crc32 (PNG specification, ISO/IEC 15948).
 */
#include "config.h"
#include "plot.h"
#include "font.h"
#include "hash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const uint32_t palette[] = {
    /* Okabe & Ito (2008) */
    0xE69F00, 0x56B4E9, 0x009E73, 0xF0E442, 0x0072B2, 0xD55E00, 0xCC79A7, 0x000000,
    /* Paul Tol, muted */
    0x332288, 0x88CCEE, 0x44AA99, 0x117733, 0x999933, 0xDDCC77, 0xCC6677, 0x882255, 0xAA4499,
};
#define NPALETTE (int)(sizeof palette / sizeof palette[0])
#define NOISE_COLOR 0xBBBBBB

uint32_t ctk_plot_color(int k)
{
    return k < 0 ? NOISE_COLOR : palette[k % NPALETTE];
}

/* Where everything goes, in pixels. */
struct box {
    double x0, y0, x1, y1;
};
struct layout {
    double title_h;
    struct box panel[2];      /* plotting area of each panel (inside its frame) */
    double legend_x, legend_y; /* top-left of the legend */
    double radius;
    /* data bounds of each panel, padded */
    double minx[2], maxx[2], miny[2], maxy[2];
    int64_t *counts; /* (nclasses + 1) points per class over all panels, last = noise */
};

static int validate(const struct ctk_plot *p, struct ctk_err *e)
{
    if (p->npanels < 1 || p->npanels > 2) return ctk_err_set(e, "a plot has 1 or 2 panels, not %d", p->npanels);
    if (p->width < 64 || p->height < 64 || p->width > 16384 || p->height > 16384)
        return ctk_err_set(e, "plot size %dx%d is out of range (64 to 16384 pixels a side)", p->width, p->height);
    for (int i = 0; i < p->npanels; i++)
        for (int64_t j = 0; j < p->panels[i].n; j++) {
            if (p->panels[i].cls && (p->panels[i].cls[j] < -1 || p->panels[i].cls[j] >= p->nclasses))
                return ctk_err_set(e, "point %lld has class %d, outside 0..%d",
                                   (long long)j, p->panels[i].cls[j], p->nclasses - 1);
        }
    return 0;
}

static int legend_width(const struct ctk_plot *p)
{
    if (!p->class_names || p->nclasses == 0) return 0;
    size_t longest = 0;
    for (int k = 0; k < p->nclasses; k++) {
        size_t l = strlen(p->class_names[k]);
        if (l > 28) l = 28;
        if (l > longest) longest = l;
    }
    return (int)(longest + 10) * ctk_font_w + 30; /* marker, name, " (count)" */
}

static void make_layout(const struct ctk_plot *p, struct layout *L)
{
    double margin = 12;
    L->title_h = p->title ? ctk_font_h + 12 : 0;
    double panel_title_h = 0;
    for (int i = 0; i < p->npanels; i++)
        if (p->panels[i].title) panel_title_h = ctk_font_h + 6;
    double lw = legend_width(p);
    double avail_w = p->width - 2 * margin - lw - (p->npanels - 1) * margin;
    double pw = avail_w / p->npanels;
    double top = margin + L->title_h + panel_title_h;
    for (int i = 0; i < p->npanels; i++) {
        L->panel[i].x0 = margin + i * (pw + margin);
        L->panel[i].x1 = L->panel[i].x0 + pw;
        L->panel[i].y0 = top;
        L->panel[i].y1 = p->height - margin;
    }
    L->legend_x = margin + p->npanels * pw + (p->npanels - 1) * margin + 10;
    L->legend_y = top;

    int64_t n = 0;
    for (int i = 0; i < p->npanels; i++) {
        const struct ctk_plot_panel *q = &p->panels[i];
        double mnx = INFINITY, mxx = -INFINITY, mny = INFINITY, mxy = -INFINITY;
        for (int64_t j = 0; j < q->n; j++) {
            double x = q->xy[2 * j], y = q->xy[2 * j + 1];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x < mnx) mnx = x;
            if (x > mxx) mxx = x;
            if (y < mny) mny = y;
            if (y > mxy) mxy = y;
        }
        if (!(mnx <= mxx)) mnx = -1, mxx = 1, mny = -1, mxy = 1;
        double dx = mxx - mnx, dy = mxy - mny;
        if (dx <= 0) dx = fabs(mxx) > 0 ? fabs(mxx) : 1;
        if (dy <= 0) dy = fabs(mxy) > 0 ? fabs(mxy) : 1;
        L->minx[i] = mnx - 0.04 * dx, L->maxx[i] = mxx + 0.04 * dx;
        L->miny[i] = mny - 0.04 * dy, L->maxy[i] = mxy + 0.04 * dy;
        n += q->n;
    }
    L->radius = p->point_radius > 0 ? p->point_radius
                                    : fmax(1.2, fmin(4.0, 4.0 * sqrt(2000.0 / fmax(1.0, (double)n / p->npanels))));
    /* legend counts: points per class in a panel (the larger, when two differ) */
    L->counts = xcalloc((size_t)p->nclasses + 1, sizeof *L->counts);
    int64_t *cnt = xcalloc((size_t)p->nclasses + 1, sizeof *cnt);
    for (int i = 0; i < p->npanels; i++) {
        memset(cnt, 0, ((size_t)p->nclasses + 1) * sizeof *cnt);
        for (int64_t j = 0; j < p->panels[i].n; j++) {
            int k = p->panels[i].cls ? p->panels[i].cls[j] : 0;
            cnt[k < 0 ? p->nclasses : k]++;
        }
        for (int k = 0; k <= p->nclasses; k++)
            if (cnt[k] > L->counts[k]) L->counts[k] = cnt[k];
    }
    free(cnt);
}

/* Data coordinates to pixels (y grows downwards on screen). */
static void to_pixel(const struct layout *L, int panel, double x, double y, double *px, double *py)
{
    const struct box *b = &L->panel[panel];
    *px = b->x0 + (x - L->minx[panel]) / (L->maxx[panel] - L->minx[panel]) * (b->x1 - b->x0);
    *py = b->y1 - (y - L->miny[panel]) / (L->maxy[panel] - L->miny[panel]) * (b->y1 - b->y0);
}

/* A fixed permutation-like drawing order: points sorted by a hash of their index. */
struct order_item {
    uint32_t key;
    int64_t idx;
};
static int cmp_order(const void *a, const void *b)
{
    const struct order_item *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int64_t *draw_order(int64_t n)
{
    struct order_item *it = xmallocarray((size_t)n, sizeof *it);
    for (int64_t i = 0; i < n; i++) it[i].key = (uint32_t)ctk_fmix64((uint64_t)i), it[i].idx = i;
    qsort(it, (size_t)n, sizeof *it, cmp_order);
    int64_t *ord = xmallocarray((size_t)n, sizeof *ord);
    for (int64_t i = 0; i < n; i++) ord[i] = it[i].idx;
    free(it);
    return ord;
}

/* ---- raster --------------------------------------------------------------- */

struct canvas {
    int w, h;
    float *rgb; /* (h, w, 3) in [0,1] */
};

static void blend(struct canvas *c, int x, int y, uint32_t color, double alpha)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || alpha <= 0) return;
    if (alpha > 1) alpha = 1;
    float *px = c->rgb + 3 * ((size_t)y * c->w + x);
    for (int ch = 0; ch < 3; ch++) {
        double v = ((color >> (16 - 8 * ch)) & 0xff) / 255.0;
        px[ch] = (float)(px[ch] * (1 - alpha) + v * alpha);
    }
}

static void fill_rect(struct canvas *c, double x0, double y0, double x1, double y1, uint32_t color, double alpha)
{
    for (int y = (int)floor(y0); y < (int)ceil(y1); y++)
        for (int x = (int)floor(x0); x < (int)ceil(x1); x++) blend(c, x, y, color, alpha);
}

/* Anti-aliased disc: coverage from the distance of each pixel centre to the edge. */
static void disc(struct canvas *c, double cx, double cy, double r, uint32_t color, double alpha)
{
    for (int y = (int)floor(cy - r - 1); y <= (int)ceil(cy + r + 1); y++)
        for (int x = (int)floor(cx - r - 1); x <= (int)ceil(cx + r + 1); x++) {
            double d = hypot(x + 0.5 - cx, y + 0.5 - cy);
            double cov = r + 0.5 - d;
            if (cov > 0) blend(c, x, y, color, alpha * (cov > 1 ? 1 : cov));
        }
}

static void frame(struct canvas *c, const struct box *b, uint32_t color)
{
    fill_rect(c, b->x0, b->y0, b->x1, b->y0 + 1, color, 1);
    fill_rect(c, b->x0, b->y1 - 1, b->x1, b->y1, color, 1);
    fill_rect(c, b->x0, b->y0, b->x0 + 1, b->y1, color, 1);
    fill_rect(c, b->x1 - 1, b->y0, b->x1, b->y1, color, 1);
}

/* Text with its top-left corner at (x, y); non-ASCII bytes are drawn as '?'. */
static void text(struct canvas *c, double x, double y, const char *s, size_t maxlen, uint32_t color)
{
    for (size_t i = 0; s[i] && i < maxlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 32 || ch > 126) {
            if ((ch & 0xC0) == 0x80) continue; /* UTF-8 continuation: one '?' a character */
            ch = '?';
        }
        const unsigned char *g = ctk_font_glyphs[ch - 32];
        for (int gy = 0; gy < ctk_font_h; gy++)
            for (int gx = 0; gx < ctk_font_w; gx++) {
                int k = gy * ctk_font_w + gx;
                int cov = (g[k / 2] >> (k % 2 ? 0 : 4)) & 0xf;
                if (cov) blend(c, (int)x + gx, (int)y + gy, color, cov / 15.0);
            }
        x += ctk_font_w;
    }
}

static size_t text_cols(const char *s, size_t maxlen)
{
    size_t n = 0;
    for (size_t i = 0; s[i] && i < maxlen; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

unsigned char *ctk_plot_render(const struct ctk_plot *p, struct ctk_err *e)
{
    if (validate(p, e) < 0) return NULL;
    struct layout L;
    make_layout(p, &L);
    struct canvas c = {p->width, p->height, NULL};
    size_t npx;
    if (ctk_mul_overflow((size_t)c.w * (size_t)c.h, 3, &npx)) return NULL;
    c.rgb = xmallocarray(npx, sizeof *c.rgb);
    for (size_t i = 0; i < npx; i++) c.rgb[i] = 1.0f;

    if (p->title)
        text(&c, (p->width - (double)text_cols(p->title, 200) * ctk_font_w) / 2, 10, p->title, 200, 0x222222);
    for (int i = 0; i < p->npanels; i++) {
        const struct ctk_plot_panel *q = &p->panels[i];
        const struct box *b = &L.panel[i];
        if (q->title)
            text(&c, (b->x0 + b->x1 - (double)text_cols(q->title, 120) * ctk_font_w) / 2,
                 b->y0 - ctk_font_h - 4, q->title, 120, 0x222222);
        frame(&c, b, 0x999999);
        int64_t *ord = draw_order(q->n);
        for (int64_t t = 0; t < q->n; t++) {
            int64_t j = ord[t];
            double x = q->xy[2 * j], y = q->xy[2 * j + 1], px, py;
            if (!isfinite(x) || !isfinite(y)) continue;
            to_pixel(&L, i, x, y, &px, &py);
            int k = q->cls ? q->cls[j] : 0;
            disc(&c, px, py, L.radius, ctk_plot_color(k), k < 0 ? 0.5 : 0.75);
        }
        free(ord);
    }
    if (p->class_names) {
        double y = L.legend_y;
        char buf[96];
        for (int kk = 0; kk <= p->nclasses; kk++) {
            int k = kk == p->nclasses ? -1 : kk; /* noise last */
            int64_t cnt = L.counts[kk];
            if (k < 0 && cnt == 0) continue;
            disc(&c, L.legend_x + 6, y + ctk_font_h / 2.0, 5, ctk_plot_color(k), 1);
            snprintf(buf, sizeof buf, "%.28s (%lld)", k < 0 ? "noise" : p->class_names[k], (long long)cnt);
            text(&c, L.legend_x + 18, y, buf, sizeof buf, 0x222222);
            y += ctk_font_h + 4;
        }
    }
    free(L.counts);
    unsigned char *out = xmalloc(npx);
    for (size_t i = 0; i < npx; i++) {
        double v = c.rgb[i] * 255.0 + 0.5;
        out[i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    free(c.rgb);
    return out;
}

/* ---- PNG ------------------------------------------------------------------- */

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = v >> 24, b[1] = v >> 16, b[2] = v >> 8, b[3] = (unsigned char)v;
}

static int png_chunk(FILE *f, const char *type, const unsigned char *data, size_t len)
{
    unsigned char hdr[8], crcb[4];
    put32(hdr, (uint32_t)len);
    memcpy(hdr + 4, type, 4);
    uLong crc = crc32(0L, hdr + 4, 4);
    if (len) crc = crc32(crc, data, (uInt)len);
    put32(crcb, (uint32_t)crc);
    return fwrite(hdr, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
                   fwrite(crcb, 1, 4, f) == 4
               ? 0
               : -1;
}

int ctk_plot_write_png(const struct ctk_plot *p, FILE *f, struct ctk_err *e)
{
    unsigned char *rgb = ctk_plot_render(p, e);
    if (!rgb) return -1;
    size_t stride = (size_t)p->width * 3, rawlen = (stride + 1) * (size_t)p->height;
    unsigned char *raw = xmalloc(rawlen);
    for (int y = 0; y < p->height; y++) {
        raw[y * (stride + 1)] = 0; /* filter: none */
        memcpy(raw + y * (stride + 1) + 1, rgb + y * stride, stride);
    }
    free(rgb);
    uLongf zlen = compressBound((uLong)rawlen);
    unsigned char *z = xmalloc(zlen);
    if (compress2(z, &zlen, raw, (uLong)rawlen, 9) != Z_OK) {
        free(raw);
        free(z);
        return ctk_err_set(e, "zlib could not compress the image");
    }
    free(raw);
    unsigned char ihdr[13];
    put32(ihdr, (uint32_t)p->width);
    put32(ihdr + 4, (uint32_t)p->height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    int bad = fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) != 8 || png_chunk(f, "IHDR", ihdr, 13) ||
              png_chunk(f, "IDAT", z, zlen) || png_chunk(f, "IEND", NULL, 0);
    free(z);
    return bad ? ctk_err_set(e, "cannot write the PNG image") : 0;
}

/* ---- SVG ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0 (invalid bytes are written as '?'). */
static int utf8_seq(const unsigned char *s)
{
    int n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
          : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F))) return 0;
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))) return 0;
    return n;
}

/* Text as XML character data: markup escaped, control characters dropped, invalid UTF-8 as '?'. */
static void svg_text_escaped(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int n = utf8_seq(s);
        if (n == 0) {
            fputc('?', f);
            s++;
            continue;
        }
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if (*s >= 32 || *s == '\t') fwrite(s, 1, (size_t)n, f);
        }
        s += n;
    }
}

int ctk_plot_write_svg(const struct ctk_plot *p, FILE *f, struct ctk_err *e)
{
    if (validate(p, e) < 0) return -1;
    struct layout L;
    make_layout(p, &L);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            p->width, p->height, p->width, p->height);
    if (p->title) {
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" fill=\"#222222\">", p->width / 2.0, 10.0 + 13);
        svg_text_escaped(f, p->title);
        fputs("</text>\n", f);
    }
    for (int i = 0; i < p->npanels; i++) {
        const struct ctk_plot_panel *q = &p->panels[i];
        const struct box *b = &L.panel[i];
        if (q->title) {
            fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" fill=\"#222222\">", (b->x0 + b->x1) / 2,
                    b->y0 - 6);
            svg_text_escaped(f, q->title);
            fputs("</text>\n", f);
        }
        fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#999999\"/>\n",
                b->x0 + 0.5, b->y0 + 0.5, b->x1 - b->x0 - 1, b->y1 - b->y0 - 1);
        fputs("<g stroke=\"none\">\n", f);
        int64_t *ord = draw_order(q->n);
        for (int64_t t = 0; t < q->n; t++) {
            int64_t j = ord[t];
            double x = q->xy[2 * j], y = q->xy[2 * j + 1], px, py;
            if (!isfinite(x) || !isfinite(y)) continue;
            to_pixel(&L, i, x, y, &px, &py);
            int k = q->cls ? q->cls[j] : 0;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.2g\" fill=\"#%06X\" fill-opacity=\"%.2g\"/>\n", px, py,
                    L.radius, (unsigned)ctk_plot_color(k), k < 0 ? 0.5 : 0.75);
        }
        free(ord);
        fputs("</g>\n", f);
    }
    if (p->class_names) {
        double y = L.legend_y;
        for (int kk = 0; kk <= p->nclasses; kk++) {
            int k = kk == p->nclasses ? -1 : kk; /* noise last */
            int64_t cnt = L.counts[kk];
            if (k < 0 && cnt == 0) continue;
            fprintf(f, "<circle cx=\"%g\" cy=\"%g\" r=\"5\" fill=\"#%06X\"/>\n", L.legend_x + 6, y + 8.5,
                    (unsigned)ctk_plot_color(k));
            fprintf(f, "<text x=\"%g\" y=\"%g\" fill=\"#222222\">", L.legend_x + 18, y + 13);
            svg_text_escaped(f, k < 0 ? "noise" : p->class_names[k]);
            fprintf(f, " (%lld)</text>\n", (long long)cnt);
            y += ctk_font_h + 4;
        }
    }
    free(L.counts);
    fputs("</svg>\n", f);
    return ferror(f) ? ctk_err_set(e, "cannot write the SVG image") : 0;
}
