/* png.h — the demo's picture helpers: an RGB canvas, rectangles, lines, a 3x5 pixel font, and
   a PNG writer with no dependency (zlib "stored" deflate blocks: only CRC-32 and Adler-32).
   Everything is static; include it in one file. C99, no global state. */
#ifndef DEMO_PNG_H
#define DEMO_PNG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- canvas ------------------------------------------------------------------------------ */

typedef struct pic_canvas {
    int w, h;
    unsigned char *rgb;   /* w*h*3 bytes, row-major, top row first */
} pic_canvas;

typedef struct pic_rgb { unsigned char r, g, b; } pic_rgb;

static int pic_init(pic_canvas *cv, int w, int h, pic_rgb bg)
{
    int i;
    cv->w = w;
    cv->h = h;
    cv->rgb = (unsigned char *)malloc((size_t)w * (size_t)h * 3);
    if (!cv->rgb) return 0;
    for (i = 0; i < w * h; i++) {
        cv->rgb[3 * i] = bg.r;
        cv->rgb[3 * i + 1] = bg.g;
        cv->rgb[3 * i + 2] = bg.b;
    }
    return 1;
}

static void pic_free(pic_canvas *cv) { free(cv->rgb); cv->rgb = NULL; }

static void pic_set(pic_canvas *cv, int x, int y, pic_rgb c)
{
    unsigned char *p;
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h) return;
    p = cv->rgb + 3 * ((size_t)y * (size_t)cv->w + (size_t)x);
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

static void pic_rect(pic_canvas *cv, int x0, int y0, int w, int h, pic_rgb c)
{
    int x, y;
    for (y = y0; y < y0 + h; y++)
        for (x = x0; x < x0 + w; x++) pic_set(cv, x, y, c);
}

/* A line of the given thickness (square pen), Bresenham. */
static void pic_line(pic_canvas *cv, int x0, int y0, int x1, int y1, int thick, pic_rgb c)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy, off = thick / 2, e2;
    for (;;) {
        pic_rect(cv, x0 - off, y0 - off, thick, thick, c);
        if (x0 == x1 && y0 == y1) break;
        e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

/* ---- 3x5 pixel font: upper-case letters, digits and a little punctuation ----------------- */

/* Glyph rows top to bottom, 3 columns each ('1' = ink). Unknown characters draw as blanks. */
static const char *pic_glyph(char ch)
{
    static const char *const digits[10] = {
        "111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
        "111100111001111", "111100111101111", "111001001010010", "111101111101111", "111101111001111"
    };
    static const char *const letters[26] = {
        "010101111101101", "110101110101110", "011100100100011", "110101101101110", "111100110100111",
        "111100110100100", "011100101101011", "101101111101101", "111010010010111", "001001001101010",
        "101101110101101", "100100100100111", "101111111101101", "110101101101101", "010101101101010",
        "110101110100100", "010101101110011", "110101110101101", "011100010001110", "111010010010010",
        "101101101101111", "101101101101010", "101101111111101", "101101010101101", "101101010010010",
        "111001010100111"
    };
    if (ch >= '0' && ch <= '9') return digits[ch - '0'];
    if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    if (ch >= 'A' && ch <= 'Z') return letters[ch - 'A'];
    switch (ch) {
    case '.': return "000000000000010";
    case '-': return "000000111000000";
    case '_': return "000000000000111";
    case '/': return "001001010100100";
    case ':': return "000010000010000";
    case '=': return "000111000111000";
    case '+': return "000010111010000";
    case '(': return "010100100100010";
    case ')': return "010001001001010";
    default: return "000000000000000";
    }
}

/* Text at (x, y) = top-left, each font pixel drawn as scale x scale; 4*scale per character. */
static void pic_text(pic_canvas *cv, int x, int y, const char *s, int scale, pic_rgb c)
{
    for (; *s; s++, x += 4 * scale) {
        const char *g = pic_glyph(*s);
        int r, k;
        for (r = 0; r < 5; r++)
            for (k = 0; k < 3; k++)
                if (g[3 * r + k] == '1') pic_rect(cv, x + k * scale, y + r * scale, scale, scale, c);
    }
}

static int pic_text_width(const char *s, int scale) { return (int)strlen(s) * 4 * scale - scale; }

/* ---- PNG writer ---------------------------------------------------------------------------- */

static void png__be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One chunk: length, type, data, CRC-32 of type and data (table built by the caller). */
static int png__chunk(FILE *f, const uint32_t *crc_table, const char *type, const unsigned char *data, size_t len)
{
    unsigned char b[4];
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    png__be32(b, (uint32_t)len);
    if (fwrite(b, 1, 4, f) != 4 || fwrite(type, 1, 4, f) != 4) return 0;
    if (len && fwrite(data, 1, len, f) != len) return 0;
    for (i = 0; i < 4; i++) crc = crc_table[(crc ^ (unsigned char)type[i]) & 0xFF] ^ (crc >> 8);
    for (i = 0; i < len; i++) crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    png__be32(b, crc ^ 0xFFFFFFFFu);
    return fwrite(b, 1, 4, f) == 4;
}

/* Write the canvas as an 8-bit RGB PNG. The zlib stream holds stored (uncompressed) deflate
   blocks of at most 65535 bytes. Returns 1 on success. */
static int pic_write_png(const pic_canvas *cv, const char *path)
{
    uint32_t crc_table[256], a = 1, b = 0;
    size_t row = (size_t)cv->w * 3 + 1, raw_len = row * (size_t)cv->h, nblocks, idat_len, i, pos, q;
    unsigned char *raw, *idat, ihdr[13];
    FILE *f;
    int ok, y;
    static const unsigned char sig[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };

    for (i = 0; i < 256; i++) {
        uint32_t c = (uint32_t)i;
        int k;
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    /* scanlines: filter byte 0 (none), then the pixels */
    raw = (unsigned char *)malloc(raw_len);
    nblocks = (raw_len + 65534) / 65535;
    idat_len = 2 + raw_len + 5 * nblocks + 4;
    idat = (unsigned char *)malloc(idat_len);
    if (!raw || !idat) {
        free(raw);
        free(idat);
        return 0;
    }
    for (y = 0; y < cv->h; y++) {
        raw[(size_t)y * row] = 0;
        memcpy(raw + (size_t)y * row + 1, cv->rgb + (size_t)y * (size_t)cv->w * 3, row - 1);
    }
    /* zlib: header (deflate, 32K window, no dictionary, check bits), stored blocks, Adler-32 */
    idat[0] = 0x78;
    idat[1] = 0x01;
    q = 2;
    for (pos = 0; pos < raw_len; pos += 65535) {
        size_t n = raw_len - pos < 65535 ? raw_len - pos : 65535;
        idat[q++] = (unsigned char)(pos + n == raw_len ? 1 : 0); /* BFINAL, BTYPE 00 */
        idat[q++] = (unsigned char)(n & 0xFF);
        idat[q++] = (unsigned char)(n >> 8);
        idat[q++] = (unsigned char)(~n & 0xFF);
        idat[q++] = (unsigned char)((~n >> 8) & 0xFF);
        memcpy(idat + q, raw + pos, n);
        q += n;
    }
    for (i = 0; i < raw_len; i++) {
        a = (a + raw[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    png__be32(idat + q, (b << 16) | a);
    q += 4;

    png__be32(ihdr, (uint32_t)cv->w);
    png__be32(ihdr + 4, (uint32_t)cv->h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* compression: deflate */
    ihdr[11] = 0; /* filter method 0 */
    ihdr[12] = 0; /* no interlace */

    f = fopen(path, "wb");
    ok = f != NULL;
    if (ok) ok = fwrite(sig, 1, 8, f) == 8;
    if (ok) ok = png__chunk(f, crc_table, "IHDR", ihdr, 13);
    if (ok) ok = png__chunk(f, crc_table, "IDAT", idat, q);
    if (ok) ok = png__chunk(f, crc_table, "IEND", NULL, 0);
    if (f && fclose(f) != 0) ok = 0;
    free(raw);
    free(idat);
    return ok;
}

#endif /* DEMO_PNG_H */
