/*
 * test_plot.c -- the plot renderer: PNG bytes decoded back (signature, chunk
 * CRCs, IHDR, inflated pixel rows), points drawn in their class colour where
 * they lie, SVG markup escaped, bad plots refused.
 */
#include "config.h"
#include "plot.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Decode our own PNG independently of the writer's code path: returns RGB rows. */
static unsigned char *decode_png(const unsigned char *buf, size_t len, int *w, int *h)
{
    if (len < 8 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8)) return NULL;
    size_t pos = 8, zcap = 0, zlen = 0;
    unsigned char *z = NULL;
    int seen_end = 0;
    while (pos + 12 <= len) {
        uint32_t n = get32(buf + pos);
        if (pos + 12 + n > len) return NULL;
        uint32_t crc = (uint32_t)crc32(0, buf + pos + 4, n + 4);
        if (crc != get32(buf + pos + 8 + n)) return NULL;
        const unsigned char *type = buf + pos + 4, *data = buf + pos + 8;
        if (!memcmp(type, "IHDR", 4)) {
            *w = (int)get32(data), *h = (int)get32(data + 4);
            if (data[8] != 8 || data[9] != 2) return NULL;
        } else if (!memcmp(type, "IDAT", 4)) {
            z = realloc(z, zcap = zlen + n);
            memcpy(z + zlen, data, n);
            zlen += n;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_end = 1;
        }
        pos += 12 + n;
    }
    if (!seen_end || pos != len) return NULL;
    uLongf rawlen = (uLongf)(*w * 3 + 1) * *h;
    unsigned char *raw = malloc(rawlen), *rgb = malloc((size_t)*w * *h * 3);
    if (uncompress(raw, &rawlen, z, zlen) != Z_OK || rawlen != (uLongf)(*w * 3 + 1) * *h) return NULL;
    for (int y = 0; y < *h; y++) {
        if (raw[y * (*w * 3 + 1)] != 0) return NULL;
        memcpy(rgb + (size_t)y * *w * 3, raw + y * (*w * 3 + 1) + 1, (size_t)*w * 3);
    }
    free(raw);
    free(z);
    (void)zcap;
    return rgb;
}

int main(void)
{
    /* two clusters: class 0 at the left, class 1 at the right, one noise point */
    enum { N = 201 };
    float xy[2 * N];
    int32_t cls[N];
    for (int i = 0; i < N; i++) {
        int k = i < 100 ? 0 : i < 200 ? 1 : -1;
        double a = i * 2.399963, r = 0.3 * sqrt((i % 100) / 100.0);
        xy[2 * i] = (float)((k == 0 ? -2 : k == 1 ? 2 : 0) + r * cos(a));
        xy[2 * i + 1] = (float)(r * sin(a));
        cls[i] = k;
    }
    const char *names[] = {"plan", "build"};
    struct ctk_plot p = {.width = 400, .height = 300, .title = "test <&>", .nclasses = 2,
                         .class_names = names, .npanels = 1};
    p.panels[0] = (struct ctk_plot_panel){xy, cls, N, "after"};
    struct ctk_err e;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(ctk_plot_write_png(&p, f, &e) == 0, "png write: %s", e.msg);
    fclose(f);
    int w = 0, h = 0;
    unsigned char *rgb = decode_png((unsigned char *)buf, len, &w, &h);
    CHECK(rgb != NULL, "PNG does not decode");
    CHECK(w == 400 && h == 300, "size %dx%d", w, h);
    if (rgb) {
        unsigned char *direct = ctk_plot_render(&p, &e);
        CHECK(memcmp(direct, rgb, (size_t)w * h * 3) == 0, "decoded pixels differ from the raster");
        free(direct);
        /* count pixels near each class colour in the left and right halves of the panel */
        long near[2][2] = {{0, 0}, {0, 0}};
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned char *px = rgb + 3 * ((size_t)y * w + x);
                for (int k = 0; k < 2; k++) {
                    uint32_t c = ctk_plot_color(k);
                    int dr = px[0] - (int)(c >> 16 & 255), dg = px[1] - (int)(c >> 8 & 255),
                        db = px[2] - (int)(c & 255);
                    if (dr * dr + dg * dg + db * db < 40 * 40) near[k][x < w / 3 ? 0 : 1]++;
                }
            }
        CHECK(near[0][0] > 50, "class 0 not drawn on the left (%ld pixels)", near[0][0]);
        CHECK(near[1][1] > 50, "class 1 not drawn on the right (%ld pixels)", near[1][1]);
        CHECK(near[1][0] < 5, "class 1 drawn on the left (%ld pixels)", near[1][0]);
        free(rgb);
    }
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    CHECK(ctk_plot_write_svg(&p, f, &e) == 0, "svg write: %s", e.msg);
    fclose(f);
    CHECK(strstr(buf, "test &lt;&amp;&gt;") != NULL, "title not escaped");
    long circles = 0;
    for (char *s = buf; (s = strstr(s, "<circle")); s++) circles++;
    CHECK(circles == N + 3, "%ld circles, expected %d points + 3 legend markers", circles, N + 3);
    free(buf);

    cls[5] = 7;
    CHECK(ctk_plot_write_png(&p, stdout, &e) < 0 && strstr(e.msg, "class 7"), "bad class accepted");
    p.width = 10;
    cls[5] = 0;
    CHECK(ctk_plot_write_svg(&p, stdout, &e) < 0, "tiny size accepted");

    return check_exit("test_plot");
}
